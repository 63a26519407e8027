"""Split execution of a real pre-trained transformer: device blocks, quantised uplink, server blocks.

The device runs the embeddings and blocks ``1..s`` of a (possibly pruned) model, quantises the block-``s``
hidden states to ``b_act`` bits with a uniform min-max quantiser and sends them; the server runs blocks
``s+1..L`` and the head. The bits that cross the uplink are counted exactly (payload plus the
quantiser's side information). Channel errors are not modelled: the uplink is error free at the rate of
the system model, as in :mod:`coinfer.system`.

Supported models (transformers 5):

* ``LlamaForCausalLM`` (SmolLM2-135M): head = final RMS norm + language-model head, output = logits at
  every position. Rotary position embeddings and the causal mask are recomputed on the server from the
  position ids, which follow from the attention mask (``cumsum(mask) - 1``), so nothing but the hidden
  states and the sequence lengths crosses the link.
* ``BertModel`` (all-MiniLM-L6-v2): head = mean pooling over the non-padding tokens and L2
  normalisation, as in the sentence-transformers configuration shipped in the model folder
  (``modules.json``: Transformer, Pooling(mean), Normalize); output = sentence embeddings. BERT's own
  pooler is not used by that configuration.

Split conventions (book chapter "The co-inference system"): ``s = 0`` sends the token ids (``b_tok`` bits each) and the
server runs everything; ``s = L`` runs everything on the device and sends nothing.

On top of split execution: quality measures (perplexity; output distortion; neighbour recall and
similarity correlation of sentence embeddings), real English batches from :mod:`coinfer.real.corpus`, and
:func:`measure_points`, which prunes the real model at each operating point ``(s, rho)`` (for instance
the optimiser's), runs it and measures it against the dense unsplit model (book chapter "End to end").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..cache import cached
from ..validation import check_int, check_real
from .models import model_spec

__all__ = [
    "GRANULARITIES",
    "SIDE_BITS_PER_RANGE",
    "LENGTH_BITS",
    "SplitResult",
    "n_blocks",
    "position_ids_from_mask",
    "device_features",
    "quantise_features",
    "uplink_bits",
    "server_output",
    "split_forward",
    "full_forward",
    "logits_perplexity",
    "output_distortion",
    "cosine_to_reference",
    "neighbour_recall",
    "similarity_correlation",
    "english_batch",
    "laplace_rate",
    "parameter_distortion",
    "Measurement",
    "measure_points",
    "reference_quality",
    "pruning_loss",
]

#: The quantiser granularities, one min-max range per sequence (``"tensor"``) or per token (``"token"``).
GRANULARITIES = ("tensor", "token")
#: The side information of one min-max range in bits (its minimum and step as two float32 numbers).
SIDE_BITS_PER_RANGE = 64
#: The header of one sequence in bits (its number of tokens; the server rebuilds masks and positions).
LENGTH_BITS = 32


def _family(model) -> str:
    name = type(model).__name__
    if name == "LlamaForCausalLM":
        return "llama"
    if name == "BertModel":
        return "bert"
    raise TypeError(f"model must be a LlamaForCausalLM or a BertModel; got {name}")


def n_blocks(model) -> int:
    """Number of transformer blocks ``L`` of a supported model."""
    _family(model)
    return int(model.config.num_hidden_layers)


def _blocks(model):
    return model.model.layers if _family(model) == "llama" else model.encoder.layer


def _check_inputs(model, input_ids, attention_mask):
    if not isinstance(input_ids, torch.Tensor) or input_ids.ndim != 2:
        raise ValueError(
            f"input_ids must be a 2-d (batch, tokens) integer tensor; got {input_ids!r}"
        )
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    if attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"attention_mask must have the shape of input_ids {tuple(input_ids.shape)}; "
            f"got {tuple(attention_mask.shape)}"
        )
    mask = attention_mask.to(torch.long)
    if torch.any((mask != 0) & (mask != 1)):
        raise ValueError("attention_mask entries must be 0 or 1")
    lengths = mask.sum(dim=1)
    if torch.any(lengths == 0):
        raise ValueError(
            "every sequence must have at least one token (attention_mask row of zeros)"
        )
    # Right padding only: the valid tokens of a row are a prefix, so positions and lengths agree.
    prefix = torch.arange(mask.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
    if not torch.equal(prefix.to(torch.long), mask):
        raise ValueError(
            "attention_mask must be right-padded (ones first, then zeros, in every row)"
        )
    return input_ids, mask


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position of each token, ``cumsum(mask) - 1`` clipped at 0 (0-based, padding gets 0)."""
    return (attention_mask.to(torch.long).cumsum(dim=1) - 1).clamp(min=0)


def _context(model, hidden, mask):
    """What every block needs besides the hidden states, rebuilt from the mask on either side."""
    if _family(model) == "llama":
        from transformers.masking_utils import create_causal_mask

        pos = position_ids_from_mask(mask)
        causal = create_causal_mask(
            config=model.config,
            inputs_embeds=hidden,
            attention_mask=mask,
            cache=None,
            position_ids=pos,
        )
        rotary = model.model.rotary_emb(hidden, position_ids=pos)
        return dict(attention_mask=causal, position_embeddings=rotary, position_ids=pos)
    from transformers.masking_utils import create_bidirectional_mask

    return dict(
        attention_mask=create_bidirectional_mask(
            config=model.config, inputs_embeds=hidden, attention_mask=mask
        )
    )


def _embed(model, input_ids, mask):
    if _family(model) == "llama":
        return model.model.embed_tokens(input_ids)
    return model.embeddings(input_ids=input_ids, position_ids=position_ids_from_mask(mask))


def _run_blocks(model, hidden, mask, start: int, stop: int):
    """Blocks ``start+1..stop`` (1-based) applied to ``hidden``."""
    if stop <= start:
        return hidden
    ctx = _context(model, hidden, mask)
    for block in _blocks(model)[start:stop]:
        if _family(model) == "llama":
            hidden = block(hidden, **ctx)
        else:
            hidden = block(hidden, ctx["attention_mask"])
    return hidden


def _head(model, hidden, mask):
    if _family(model) == "llama":
        return model.lm_head(model.model.norm(hidden))
    m = mask.to(hidden.dtype).unsqueeze(-1)
    pooled = (hidden * m).sum(dim=1) / m.sum(dim=1)
    return torch.nn.functional.normalize(pooled, p=2.0, dim=1)


def _check_split(model, split):
    return check_int("split", split, 0, n_blocks(model))


@torch.no_grad()
def device_features(model, input_ids, attention_mask, split: int) -> torch.Tensor:
    """Block-``split`` hidden states ``(batch, tokens, d)`` computed on the device (float32).

    ``split = 0`` returns the embedding output, which the device does not send (it sends token ids);
    it is returned so that callers can compare feature distortion at every split.
    """
    input_ids, mask = _check_inputs(model, input_ids, attention_mask)
    s = _check_split(model, split)
    hidden = _embed(model, input_ids, mask)
    return _run_blocks(model, hidden, mask, 0, s)


@torch.no_grad()
def quantise_features(
    hidden, attention_mask, bits: int, granularity: str = "token"
) -> torch.Tensor:
    """Uniform min-max quantisation of hidden states to ``bits`` bits per value (reconstruction).

    Each range (one per sequence for ``"tensor"``, one per token for ``"token"``) is split into
    ``2**bits - 1`` equal steps from its minimum to its maximum over the non-padding tokens; every value
    is rounded to the nearest level, so the error is at most half a step. Padding positions are not
    sent and come back as zeros. Computed in float64 so that 16 to 24 bits stay exact.

    Args:
        hidden: ``(batch, tokens, d)`` float tensor.
        attention_mask: ``(batch, tokens)`` 0/1, right-padded.
        bits: bits per value ``b_act``, in ``[1, 24]``.
        granularity: ``"tensor"`` or ``"token"``.
    """
    b = check_int("bits", bits, 1, 24)
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}; got {granularity!r}")
    h = hidden.to(torch.float64)
    valid = attention_mask.to(torch.bool).unsqueeze(-1)
    inf = torch.tensor(math.inf, dtype=h.dtype)
    dims = (1, 2) if granularity == "tensor" else (2,)
    lo = torch.where(valid, h, inf).amin(dim=dims, keepdim=True)
    hi = torch.where(valid, h, -inf).amax(dim=dims, keepdim=True)
    if granularity == "token":  # padding tokens have empty ranges: give them a harmless one
        lo = torch.where(valid, lo, torch.zeros_like(lo))
        hi = torch.where(valid, hi, torch.zeros_like(hi))
    levels = 2**b - 1
    step = (hi - lo) / levels
    safe = torch.where(step > 0, step, torch.ones_like(step))  # constant range: every value is lo
    q = torch.clamp(torch.round((h - lo) / safe), 0, levels)
    out = torch.where(step > 0, lo + q * step, lo)
    return torch.where(valid, out, torch.zeros_like(out)).to(hidden.dtype)


def uplink_bits(
    model,
    attention_mask,
    split: int,
    b_act: int | None,
    granularity: str = "token",
    b_tok: int = 32,
) -> dict:
    """Bits sent over the uplink for one batch, exactly: payload, side information and total.

    * ``split = 0``: ``b_tok`` bits per token id, plus one length header per sequence.
    * ``0 < split < L``: ``b_act`` bits per value of every non-padding token (``32`` for unquantised
      float32, ``b_act=None``), plus ``SIDE_BITS_PER_RANGE`` per quantiser range and one length header
      per sequence.
    * ``split = L``: nothing.

    The system model's feature size ``S(s) = n d b_act`` (book chapter "The co-inference system") is the payload of one
    sequence of ``n`` tokens; side information and header are the overhead it leaves out.
    """
    s = _check_split(model, split)
    if b_act is not None:
        check_int("b_act", b_act, 1, 24)
    check_int("b_tok", b_tok, 1)
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}; got {granularity!r}")
    mask = attention_mask.to(torch.long)
    n_seq = int(mask.shape[0])
    n_tok = int(mask.sum())
    d = int(model.config.hidden_size)
    if s == n_blocks(model):
        payload, side = 0, 0
    elif s == 0:
        payload, side = n_tok * b_tok, n_seq * LENGTH_BITS
    else:
        payload = n_tok * d * (32 if b_act is None else b_act)
        ranges = 0 if b_act is None else (n_seq if granularity == "tensor" else n_tok)
        side = ranges * SIDE_BITS_PER_RANGE + n_seq * LENGTH_BITS
    return dict(payload=payload, side=side, total=payload + side)


@torch.no_grad()
def server_output(model, features, attention_mask, split: int) -> torch.Tensor:
    """The server part: blocks ``split+1..L`` and the head applied to the received block-``split`` states.

    For ``split = 0`` pass the token ids as ``features``. Returns logits ``(batch, tokens, vocab)`` for
    the causal LM and unit-norm sentence embeddings ``(batch, d)`` for the encoder.
    """
    s = _check_split(model, split)
    mask = attention_mask.to(torch.long)
    hidden = _embed(model, features, mask) if s == 0 else features
    hidden = _run_blocks(model, hidden, mask, s, n_blocks(model))
    return _head(model, hidden, mask)


@dataclass(frozen=True)
class SplitResult:
    """Outcome of one split execution.

    Attributes:
        output: logits ``(batch, tokens, vocab)`` or sentence embeddings ``(batch, d)``, float32.
        split: the split point ``s``.
        bits: bits sent over the uplink (``payload``, ``side``, ``total``), see :func:`uplink_bits`.
        feature_mae: mean absolute quantisation error of the sent hidden states over non-padding
            values (0 when nothing is quantised).
    """

    output: torch.Tensor
    split: int
    bits: dict
    feature_mae: float


@torch.no_grad()
def split_forward(
    model,
    input_ids,
    attention_mask=None,
    split: int = 1,
    b_act: int | None = 16,
    granularity: str = "token",
    server_model=None,
    b_tok: int = 32,
) -> SplitResult:
    """Run ``model`` split at block ``split``: device part, quantised uplink, server part.

    Args:
        model: the device's model (``LlamaForCausalLM`` or ``BertModel``), e.g. a pruned copy.
        input_ids: ``(batch, tokens)`` token ids, right-padded.
        attention_mask: ``(batch, tokens)`` 0/1; ``None`` means no padding.
        split: ``s`` in ``[0, L]``.
        b_act: bits per sent activation value; ``None`` sends float32 unquantised.
        granularity: quantiser range, ``"tensor"`` (per sequence) or ``"token"``.
        server_model: the server's model; defaults to ``model`` (the whole model pruned alike, as in
            the system model). Pass the dense model to prune the device part only.
        b_tok: bits per token id sent at ``split = 0``.
    """
    _family(model)
    input_ids, mask = _check_inputs(model, input_ids, attention_mask)
    s = _check_split(model, split)
    server = model if server_model is None else server_model
    if _family(server) != _family(model) or n_blocks(server) != n_blocks(model):
        raise ValueError("server_model must have the architecture of model")
    bits = uplink_bits(model, mask, s, b_act, granularity, b_tok)
    if s == 0:
        return SplitResult(server_output(server, input_ids, mask, 0), 0, bits, 0.0)
    hidden = device_features(model, input_ids, mask, s)
    if s == n_blocks(model):
        return SplitResult(_head(model, hidden, mask), s, bits, 0.0)
    valid = mask.to(torch.bool).unsqueeze(-1).expand_as(hidden)
    if b_act is None:
        sent = torch.where(valid, hidden, torch.zeros_like(hidden))
        mae = 0.0
    else:
        sent = quantise_features(hidden, mask, b_act, granularity)
        mae = float((sent - hidden).abs()[valid].mean())
    return SplitResult(server_output(server, sent, mask, s), s, bits, mae)


@torch.no_grad()
def full_forward(model, input_ids, attention_mask=None) -> torch.Tensor:
    """The unsplit model's output through its own transformers ``forward`` (the reference).

    Logits for the causal LM (position ids from the mask, as in :func:`split_forward`), mean-pooled
    unit-norm embeddings for the encoder.
    """
    input_ids, mask = _check_inputs(model, input_ids, attention_mask)
    if _family(model) == "llama":
        out = model(
            input_ids=input_ids, attention_mask=mask, position_ids=position_ids_from_mask(mask)
        )
        return out.logits
    hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
    return _head(model, hidden, mask)


def logits_perplexity(logits, input_ids, attention_mask=None) -> float:
    """Perplexity ``exp(mean NLL)`` of next-token prediction over the non-padding targets."""
    mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
    logp = torch.log_softmax(logits[:, :-1].to(torch.float64), dim=-1)
    target = input_ids[:, 1:]
    nll = -logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    keep = mask[:, 1:].to(torch.bool)
    return float(torch.exp(nll[keep].mean()))


def output_distortion(output, reference, attention_mask=None) -> dict:
    """Output distortion of ``output`` against ``reference`` over non-padding positions.

    Returns ``mae`` (mean absolute error per output value), ``rel_l1`` (``||y - y_ref||_1 /
    ||y_ref||_1``) and ``rel_l2`` (same in the Euclidean norm), as floats. For logits
    ``(batch, tokens, vocab)`` pass the mask; embeddings ``(batch, d)`` need none.
    """
    if output.shape != reference.shape:
        raise ValueError(
            f"output and reference must have the same shape; got {tuple(output.shape)} "
            f"and {tuple(reference.shape)}"
        )
    y, r = output.to(torch.float64), reference.to(torch.float64)
    if attention_mask is not None and y.ndim == 3:
        keep = attention_mask.to(torch.bool)
        y, r = y[keep], r[keep]
    diff = y - r
    return dict(
        mae=float(diff.abs().mean()),
        rel_l1=float(diff.abs().sum() / r.abs().sum()),
        rel_l2=float(torch.linalg.vector_norm(diff) / torch.linalg.vector_norm(r)),
    )


def cosine_to_reference(embeddings, reference) -> np.ndarray:
    """Cosine similarity of each embedding with its reference embedding, ``(batch,)``."""
    e = torch.nn.functional.normalize(embeddings.to(torch.float64), dim=1)
    r = torch.nn.functional.normalize(reference.to(torch.float64), dim=1)
    return (e * r).sum(dim=1).numpy()


def _similarities(embeddings) -> np.ndarray:
    e = torch.nn.functional.normalize(embeddings.to(torch.float64), dim=1)
    return (e @ e.T).numpy()


def neighbour_recall(embeddings, reference, k: int = 5) -> float:
    """Mean fraction of each sentence's ``k`` nearest neighbours (cosine) that the embeddings keep.

    Neighbours exclude the sentence itself; ties are broken by index (stable sort), so the value is
    deterministic. 1 means every neighbourhood is preserved.
    """
    n = int(reference.shape[0])
    k = check_int("k", k, 1, n - 1)

    def knn(sim):
        sim = sim.copy()
        np.fill_diagonal(sim, -np.inf)
        return np.argsort(-sim, axis=1, kind="stable")[:, :k]

    a, b = knn(_similarities(embeddings)), knn(_similarities(reference))
    hits = [len(set(x) & set(y)) for x, y in zip(a, b, strict=True)]
    return float(np.mean(hits) / k)


def similarity_correlation(embeddings, reference) -> float:
    """Spearman rank correlation between the pairwise cosine similarities of two embedding sets."""
    from scipy.stats import spearmanr

    iu = np.triu_indices(int(reference.shape[0]), k=1)
    return float(spearmanr(_similarities(embeddings)[iu], _similarities(reference)[iu]).statistic)


# --------------------------------------------------------------------------------------------------
# End-to-end measurements: real text, pruned models, operating points
# --------------------------------------------------------------------------------------------------


def english_batch(key: str, n_seq: int, seq_len: int, seed: int = 0, use_cache: bool = True):
    """``(input_ids, attention_mask)`` of real English for real model ``key``.

    * ``"smollm2"``: one long text from :func:`coinfer.real.corpus.english_text`, tokenised and cut
      into ``n_seq`` consecutive windows of exactly ``seq_len`` tokens (no padding): perplexity data.
    * ``"minilm"``: ``n_seq`` passages from :func:`coinfer.real.corpus.english_passages`, each
      truncated to at most ``seq_len`` tokens and right-padded: sentence-embedding data.

    Tokenising goes through :func:`coinfer.real.corpus.tokenise` and, with ``use_cache``, the one disk
    cache (keyed by the arguments, the installed weights and the code).
    """
    from .corpus import english_passages, english_text, token_windows, tokenise

    spec = model_spec(key)
    n_seq = check_int("n_seq", n_seq, 1)
    seq_len = check_int("seq_len", seq_len, 2)
    seed = check_int("seed", seed, 0)

    def compute():
        if key == "smollm2":
            text = english_text(min(12 * n_seq * seq_len, 400_000), seed=seed)
            ids = token_windows(key, text, n_seq, seq_len)
            return ids, torch.ones_like(ids)
        enc = tokenise(key, english_passages(n_seq, seed=seed), seq_len)
        return enc["input_ids"], enc["attention_mask"]

    params = dict(model=spec.fingerprint(), n_seq=n_seq, seq_len=seq_len, seed=seed)
    return cached("batch", params, compute, use_cache=use_cache)


def laplace_rate(model, key: str) -> float:
    """Maximum-likelihood Laplacian rate ``lambda = N / sum |w|`` of the prunable weights, 1/weight unit."""
    from .pruning import prunable_weights

    weights = prunable_weights(model, exclude=model_spec(key).prune_exclude)
    total = sum(float(w.detach().abs().sum(dtype=torch.float64)) for w in weights.values())
    count = sum(w.numel() for w in weights.values())
    return count / total


def parameter_distortion(model, pruned, key: str) -> float:
    """Measured parameter distortion: mean ``|w - w_hat|`` over the prunable weights (weight units)."""
    from .pruning import prunable_weights

    exclude = model_spec(key).prune_exclude
    a = prunable_weights(model, exclude=exclude)
    b = prunable_weights(pruned, exclude=exclude)
    total = sum(float((a[n].detach() - b[n].detach()).abs().sum(dtype=torch.float64)) for n in a)
    return total / sum(w.numel() for w in a.values())


@dataclass(frozen=True)
class Measurement:
    """One operating point run on a real model and what it measured.

    Attributes:
        key: the real model (``"minilm"`` or ``"smollm2"``).
        split: split point ``s``.
        rho: achieved pruning ratio (exact fraction of prunable weights zeroed).
        b_act: bits per sent activation (``None``: float32).
        prune_server: whether the server ran the pruned model too (the system model) or the dense one.
        bits_per_seq: bits sent per sequence (inference), payload plus side information.
        payload_per_seq: payload bits per sequence; equals the profile's ``S(s)`` for unpadded data.
        param_distortion: measured mean ``|w - w_hat|`` per prunable weight.
        floor: the pruning floor ``D_lb = (1/lambda)(rho + (1 - rho) ln(1 - rho))`` per weight, with
            ``lambda`` fitted to the model's weights (``Dbar`` with ``Gamma = 1``).
        out_mae, out_rel_l1, out_rel_l2: output distortion against the dense unsplit model
            (:func:`output_distortion`).
        quality: perplexity (``"perplexity"``) for SmolLM2; ``"neighbour_recall"``,
            ``"similarity_spearman"`` and ``"cosine"`` (mean cosine to the reference) for MiniLM.
    """

    key: str
    split: int
    rho: float
    b_act: int | None
    prune_server: bool
    bits_per_seq: float
    payload_per_seq: float
    param_distortion: float
    floor: float
    out_mae: float
    out_rel_l1: float
    out_rel_l2: float
    quality: dict


def _quality(key, output, reference, ids, mask, k):
    if key == "smollm2":
        return {"perplexity": logits_perplexity(output, ids, mask)}
    return {
        "neighbour_recall": neighbour_recall(output, reference, k),
        "similarity_spearman": similarity_correlation(output, reference),
        "cosine": float(np.mean(cosine_to_reference(output, reference))),
    }


def measure_points(
    key: str,
    points,
    input_ids,
    attention_mask=None,
    *,
    b_act: int | None = 16,
    granularity: str = "token",
    prune_server: bool = True,
    method: str = "magnitude",
    k: int = 5,
    seed: int = 0,
) -> list[Measurement]:
    """Run operating points ``(split, rho)`` on real model ``key`` and measure each one.

    The model is pruned once per distinct ``rho > 0`` (global unstructured pruning,
    :mod:`coinfer.real.pruning`, with ``method`` and ``seed``; ``rho = 0`` uses the dense model), split at
    ``split``, its features quantised to ``b_act`` bits, and its output compared with the dense
    unsplit model's (the reference). A point may be a triple ``(split, rho, prune_server)`` to
    override ``prune_server`` for that point. Results come back in the order of ``points``. ``k`` is
    the neighbourhood size of MiniLM's neighbour recall.
    """
    from ..theory.rate_distortion import pruning_floor_abs
    from .models import load_model
    from .pruning import pruned_models

    pts = []
    for pt in points:
        if len(pt) not in (2, 3):
            raise ValueError(
                f"points must be (split, rho) or (split, rho, prune_server); got {pt!r}"
            )
        pts.append((int(pt[0]), float(pt[1]), bool(pt[2]) if len(pt) == 3 else bool(prune_server)))
    if not pts:
        raise ValueError("points must contain at least one (split, rho) pair")
    model = load_model(key)
    for s, r, _ in pts:
        _check_split(model, s)
        if not 0.0 <= r < 1.0:
            raise ValueError(f"rho must be in [0, 1); got {r}")
    input_ids, mask = _check_inputs(model, input_ids, attention_mask)
    reference = full_forward(model, input_ids, mask)
    lam = laplace_rate(model, key)
    n_seq = int(input_ids.shape[0])
    results: dict[int, Measurement] = {}

    def run_all(pruned, ratio, achieved, d_param):
        for i, (s, r, whole) in enumerate(pts):
            if r != ratio:
                continue
            run = split_forward(
                pruned,
                input_ids,
                mask,
                s,
                b_act,
                granularity,
                server_model=None if whole else model,
            )
            dist = output_distortion(run.output, reference, mask)
            results[i] = Measurement(
                key=key,
                split=s,
                rho=achieved,
                b_act=b_act,
                prune_server=whole,
                bits_per_seq=run.bits["total"] / n_seq,
                payload_per_seq=run.bits["payload"] / n_seq,
                param_distortion=d_param,
                floor=float(pruning_floor_abs(achieved, lam)),
                out_mae=dist["mae"],
                out_rel_l1=dist["rel_l1"],
                out_rel_l2=dist["rel_l2"],
                quality=_quality(key, run.output, reference, input_ids, mask, k),
            )

    ratios = sorted({r for _, r, _ in pts})
    if ratios[0] == 0.0:  # the dense model itself: no copy, no pruning
        run_all(model, 0.0, 0.0, 0.0)
        ratios = ratios[1:]
    if ratios:
        exclude = model_spec(key).prune_exclude
        for pr in pruned_models(model, ratios, method=method, seed=seed, exclude=exclude):
            run_all(
                pr.model, pr.ratio, pr.achieved_ratio, parameter_distortion(model, pr.model, key)
            )
    return [results[i] for i in range(len(pts))]


def reference_quality(key: str, input_ids, attention_mask=None, k: int = 5) -> dict:
    """Quality of the dense unsplit model on the batch (perplexity, or 1s for the embedding metrics)."""
    from .models import load_model

    model = load_model(key)
    input_ids, mask = _check_inputs(model, input_ids, attention_mask)
    ref = full_forward(model, input_ids, mask)
    return _quality(key, ref, ref, input_ids, mask, k)


def pruning_loss(model, input_ids, attention_mask, ratios: Sequence[float]) -> np.ndarray:
    """Next-token loss (nats per token) of a causal LM after global magnitude pruning at each ratio.

    Prunes a copy of ``model`` with :func:`coinfer.real.pruning.prune` (the pruning of the system model:
    global, unstructured, by magnitude, no reconstruction) and evaluates ``ln`` of
    :func:`logits_perplexity` on the given tokens. ``model`` is not modified.
    Returns an array of the same length as ``ratios``.
    """
    import torch

    from .pruning import prune

    out = []
    with torch.no_grad():
        for r in ratios:
            r = check_real("ratio", r, 0.0, 1.0, hi_open=True)
            m = prune(model, r).model if r > 0 else model
            logits = full_forward(m, input_ids, attention_mask)
            out.append(math.log(logits_perplexity(logits, input_ids, attention_mask)))
    return np.array(out)
