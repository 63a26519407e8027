"""Tests of coinfer.real.corpus: real English passages from CPython's pydoc_data, cleaned and seeded."""

import pytest

from coinfer.real.corpus import corpus_source, english_passages, english_text, prose_paragraphs


def test_passages_are_deterministic_under_the_seed():
    assert english_passages(20, seed=3) == english_passages(20, seed=3)
    assert english_passages(20, seed=3) != english_passages(20, seed=4)


def test_passages_are_distinct_and_within_the_word_limits():
    ps = english_passages(64, seed=0, min_words=30, max_words=80)
    assert len(ps) == 64 and len(set(ps)) == 64
    for p in ps:
        n = len(p.split())
        assert 30 <= n <= 80, p


def test_passages_are_prose_without_markup():
    for p in english_passages(100, seed=1):
        assert "::=" not in p and ">>>" not in p and "***" not in p and "\n" not in p
        letters = sum(c.isalpha() for c in p if not c.isspace())
        assert letters >= 0.75 * sum(not c.isspace() for c in p)
        assert not p.startswith(("Changed in version", "New in version", "Added in version"))


def test_too_many_passages_is_a_clear_error():
    with pytest.raises(ValueError, match="n must be in"):
        english_passages(100_000)
    with pytest.raises(ValueError, match="max_words"):
        english_passages(3, min_words=50, max_words=10)


def test_english_text_has_the_requested_length_and_seed():
    t = english_text(3000, seed=2)
    assert len(t) == 3000
    assert t == english_text(3000, seed=2) and t != english_text(3000, seed=5)
    assert t.split("\n\n")[0] in {p for _, p in prose_paragraphs()}
    with pytest.raises(ValueError, match="n_chars"):
        english_text(10**9)


def test_source_names_python_version():
    assert corpus_source().startswith("pydoc_data.topics of CPython 3.")
