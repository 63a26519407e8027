"""Real English text that ships with every Python installation, for measurements on language models.

The source is CPython's ``pydoc_data.topics``: the prose of the Python language reference (about 80
topics, some 460 000 characters in Python 3.11). It is real, edited English written by people, it is
available offline on every machine that runs this package, and it needs no download. It is technical
English (about the Python language), which is stated wherever results depend on the domain.

Cleaning keeps running prose only: headings, indented blocks (code, grammar productions, doctest
sessions), version notes ("Changed in version ...") and paragraphs that are mostly symbols are dropped;
reST emphasis markers are removed and hyphenated line breaks are rejoined. The exact text depends on the
Python version's ``pydoc_data`` (the version is part of :func:`corpus_source`).
"""

from __future__ import annotations

import re
import sys

import numpy as np

from ..validation import check_int

__all__ = [
    "corpus_source",
    "prose_paragraphs",
    "english_passages",
    "english_text",
    "tokenise",
    "token_windows",
]

_HEADING_RULE = re.compile(r"^[\*=\-~\^\"#+]{3,}\s*$")
_NOTE_START = re.compile(
    r"^(Changed in version|New in version|Added in version|Deprecated since|See also|Note:|Warning:|"
    r"Deprecated|Removed in version|Availability:)"
)
_FOOTNOTE = re.compile(r"\[\d+\]")
_EMPHASIS = re.compile(r"\*{1,2}([^\s*][^*]*?)\*{1,2}")


def corpus_source() -> str:
    """A short description of where the text comes from (module and Python version)."""
    v = sys.version_info
    return f"pydoc_data.topics of CPython {v.major}.{v.minor}.{v.micro}"


def _clean_paragraph(lines: list[str]) -> str | None:
    """One prose paragraph from the raw lines of a block, or ``None`` if the block is not prose."""
    if not lines or lines[0][:1].isspace():
        return None  # indented: code, grammar or a doctest session
    if any(_HEADING_RULE.match(line) for line in lines):
        return None
    text = " ".join(line.strip() for line in lines)
    if _NOTE_START.match(text) or "::=" in text or ">>>" in text:
        return None
    text = re.sub(r"^([\*\-•]|\(?\d+[.)])\s+", "", text)  # a bullet or list number
    text = _EMPHASIS.sub(r"\1", text)
    text = _FOOTNOTE.sub("", text)
    text = re.sub(r"(\w)- (\w)", r"\1-\2", text)  # a word hyphenated across a line break
    text = re.sub(r"\s+", " ", text).strip()
    words = text.split()
    if len(words) < 8 or text.endswith(":"):
        return None  # too short, or it introduces a code block that was dropped
    visible = [c for c in text if not c.isspace()]
    if sum(c.isalpha() for c in visible) < 0.75 * len(visible):
        return None  # mostly symbols: a table or an inline listing
    if text[-1] not in '.?!)"”':
        return None
    return text


def prose_paragraphs() -> list[tuple[str, str]]:
    """All prose paragraphs of the corpus as ``(topic, paragraph)`` pairs, in a fixed order.

    Topics are visited in sorted order and paragraphs in document order, so the list is the same on
    every run of the same Python version. A paragraph repeated in several topics is kept once (at
    its first occurrence).
    """
    from pydoc_data.topics import topics

    out = []
    seen: set[str] = set()
    for topic in sorted(topics):
        block: list[str] = []
        for line in topics[topic].splitlines() + [""]:
            if line.strip():
                block.append(line)
                continue
            para = _clean_paragraph(block)
            if para is not None and para not in seen:
                seen.add(para)
                out.append((topic, para))
            block = []
    return out


def _truncate_words(text: str, min_words: int, max_words: int) -> str:
    """``text`` cut to at most ``max_words`` words, at the last sentence end that keeps
    ``min_words`` words if there is one."""
    words = text.split()
    if len(words) <= max_words:
        return text
    head = " ".join(words[:max_words])
    cut = max(head.rfind(". "), head.rfind("? "), head.rfind("! "))
    if cut > 0 and len(head[: cut + 1].split()) >= min_words:
        return head[: cut + 1]
    return head


def _all_passages(min_words: int, max_words: int) -> list[str]:
    """Every passage: consecutive paragraphs of one topic merged until ``min_words`` is reached."""
    passages = []
    current: list[str] = []
    current_topic = None
    for topic, para in prose_paragraphs() + [(None, "")]:
        if topic != current_topic:
            current = []  # a passage never spans two topics
            current_topic = topic
        if not para:
            continue
        current.append(para)
        text = " ".join(current)
        if len(text.split()) >= min_words:
            passages.append(_truncate_words(text, min_words, max_words))
            current = []
    return list(dict.fromkeys(passages))  # distinct, in first-occurrence order


def english_passages(
    n: int, *, seed: int = 0, min_words: int = 40, max_words: int = 120
) -> list[str]:
    """``n`` distinct passages of real English prose, drawn without replacement under ``seed``.

    Each passage is one or more consecutive prose paragraphs of one topic of CPython's language
    reference, with at least ``min_words`` words (so a passage is roughly ``1.3 * min_words`` tokens
    or more for a subword tokenizer) and at most ``max_words`` words (cut at a sentence end when
    possible). Raises ``ValueError`` if fewer than ``n`` passages are available at these lengths.
    """
    n = check_int("n", n, 1)
    seed = check_int("seed", seed, 0)
    min_words = check_int("min_words", min_words, 1)
    max_words = check_int("max_words", max_words, min_words)
    pool = _all_passages(min_words, max_words)
    if n > len(pool):
        raise ValueError(
            f"n must be in [1, {len(pool)}] (passages available with min_words={min_words}, "
            f"max_words={max_words}); got {n}"
        )
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(pool), size=n, replace=False)
    return [pool[i] for i in pick]


def english_text(n_chars: int, seed: int = 0) -> str:
    """One long text of exactly ``n_chars`` characters (for perplexity), from shuffled paragraphs.

    Prose paragraphs are taken in a seeded random order, joined with blank lines and cut to
    ``n_chars`` characters (the last word may be cut). Raises ``ValueError`` if the corpus is shorter
    than ``n_chars``.
    """
    n_chars = check_int("n_chars", n_chars, 1)
    seed = check_int("seed", seed, 0)
    paras = [p for _, p in prose_paragraphs()]
    total = sum(len(p) + 2 for p in paras) - 2
    if n_chars > total:
        raise ValueError(f"n_chars must be in [1, {total}] (the size of the corpus); got {n_chars}")
    order = np.random.default_rng(seed).permutation(len(paras))
    parts, size = [], 0
    for i in order:
        parts.append(paras[i])
        size += len(paras[i]) + 2
        if size >= n_chars:
            break
    text = "\n\n".join(parts)[:n_chars]
    return text


def tokenise(key: str, texts: list[str], max_tokens: int) -> dict:
    """``texts`` tokenised for real model ``key``: at most ``max_tokens`` tokens each, right-padded.

    Returns ``{"input_ids", "attention_mask"}`` as torch tensors. The one tokenising path of the
    package for padded batches (see also :func:`token_windows`).
    """
    from .models import load_tokenizer

    max_tokens = check_int("max_tokens", max_tokens, 2)
    tok = load_tokenizer(key)
    enc = tok(
        list(texts), return_tensors="pt", padding=True, truncation=True, max_length=max_tokens
    )
    return {k: enc[k] for k in ("input_ids", "attention_mask")}


def token_windows(key: str, text: str, n_seq: int, seq_len: int):
    """``(n_seq, seq_len)`` token ids: ``text`` tokenised for real model ``key`` and cut into
    consecutive windows of exactly ``seq_len`` tokens (no padding). Raises ``ValueError`` when the
    text is too short."""
    from .models import load_tokenizer

    n_seq = check_int("n_seq", n_seq, 1)
    seq_len = check_int("seq_len", seq_len, 2)
    need = n_seq * seq_len
    ids = load_tokenizer(key)(text, return_tensors="pt")["input_ids"]
    if ids.shape[1] < need:
        raise ValueError(f"n_seq * seq_len must be at most {ids.shape[1]} tokens; got {need}")
    return ids[0, :need].reshape(n_seq, seq_len)
