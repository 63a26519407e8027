"""Measured quality loss of the real models against the pruning ratio, per pruning kind.

The loss of a pruned model, measured against the dense model on real English text:

* SmolLM2-135M: the increase of the log-perplexity, ``ln PPL(pruned) - ln PPL(dense)`` in nats per
  token (the next-token loss the pruning adds);
* all-MiniLM-L6-v2: ``1 - mean cosine`` between the pruned and the dense sentence embeddings
  (neighbour recall is reported alongside).

The text is split in two disjoint halves: *calibration* text (the first ``n_seq`` windows or
passages of one draw) on which the curve is measured and fitted non-decreasing
(:class:`coinfer.theory.quality.QualityCurve`), and *held-out* text (the next ``n_seq``) on which
predictions are checked. Pruning kinds: ``"unstructured"`` (global magnitude pruning) and
``"structured"`` (heads and MLP channels, :mod:`coinfer.real.structured`).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch

from ..cache import cached
from ..theory.quality import MeasuredQuality, QualityCurve
from ..validation import check_int, check_real
from . import split_execution as ci
from .models import load_model, model_spec
from .pruning import MagnitudeRanking
from .structured import prune_structured

__all__ = [
    "METRIC",
    "QUALITY_KINDS",
    "Pruner",
    "text_halves",
    "quality_loss",
    "quality_sweep",
    "measured_quality",
]

#: The loss each model is measured by.
METRIC = {
    "smollm2": "log-perplexity increase (nats/token)",
    "minilm": "1 - mean cosine to the dense embeddings",
}
QUALITY_KINDS = ("unstructured", "structured")


class Pruner:
    """Pruned versions of one real model on demand, for both kinds.

    ``model(kind, rho)`` returns ``(pruned model, achieved ratio)``. Unstructured pruning reuses one
    :class:`~coinfer.real.pruning.MagnitudeRanking` and one working copy (overwritten by the next
    call: use the model before asking for another); structured pruning returns a new sliced model.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self.dense = load_model(key).eval()
        self._ranking = None
        self._work = None

    def model(self, kind: str, rho: float):
        rho = check_real("rho", rho, 0.0, 1.0, hi_open=True)
        if kind == "structured":
            res = prune_structured(self.dense, rho)
            return res.model, res.achieved_ratio
        if kind in ("unstructured", "paper"):
            if self._ranking is None:
                self._ranking = MagnitudeRanking(
                    self.dense, exclude=model_spec(self.key).prune_exclude
                )
                self._work = copy.deepcopy(self.dense)
            return self._work, self._ranking.apply(self._work, rho)
        raise ValueError(f"kind must be one of {QUALITY_KINDS}; got {kind!r}")


def text_halves(key: str, n_seq: int, seq_len: int, seed: int = 0):
    """``((ids, mask) calibration, (ids, mask) held-out)``: two disjoint batches of ``n_seq`` each."""
    n_seq = check_int("n_seq", n_seq, 1)
    ids, mask = ci.english_batch(key, 2 * n_seq, seq_len, seed=seed)
    return (ids[:n_seq], mask[:n_seq]), (ids[n_seq:], mask[n_seq:])


def quality_loss(key: str, output, reference, ids, mask) -> dict:
    """The loss of ``output`` against the dense ``reference`` output on ``(ids, mask)``.

    Returns ``{"loss": ..., ...}``: SmolLM2 also ``"perplexity"``; MiniLM ``"cosine"`` and
    ``"neighbour_recall"``.
    """
    if key == "smollm2":
        ppl = ci.logits_perplexity(output, ids, mask)
        ref = ci.logits_perplexity(reference, ids, mask)
        return {"loss": math.log(ppl) - math.log(ref), "perplexity": ppl}
    cos = float(np.mean(ci.cosine_to_reference(output, reference)))
    return {
        "loss": 1.0 - cos,
        "cosine": cos,
        "neighbour_recall": ci.neighbour_recall(output, reference, 5),
    }


def quality_sweep(
    key: str,
    kinds=QUALITY_KINDS,
    ratios=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    *,
    n_seq: int = 8,
    seq_len: int = 64,
    seed: int = 0,
    use_cache: bool = True,
) -> dict:
    """Measured loss per kind and ratio on the calibration and the held-out halves (cached).

    Returns ``{kind: {"rho": achieved ratios, "calibration": losses, "held_out": losses}}`` (arrays).
    """
    if key not in METRIC:
        raise ValueError(f"key must be one of {', '.join(METRIC)}; got {key!r}")
    kinds = tuple(kinds)
    rs = [check_real("ratios", r, 0.0, 1.0, hi_open=True) for r in ratios]

    def compute():
        pruner = Pruner(key)
        halves = text_halves(key, n_seq, seq_len, seed)
        with torch.no_grad():
            refs = [ci.full_forward(pruner.dense, ids, mask) for ids, mask in halves]
            out = {}
            for kind in kinds:
                rho, cal, held = [], [], []
                for r in rs:
                    model, achieved = pruner.model(kind, r)
                    rho.append(achieved)
                    losses = [
                        quality_loss(key, ci.full_forward(model, ids, mask), ref, ids, mask)["loss"]
                        for (ids, mask), ref in zip(halves, refs, strict=False)
                    ]
                    cal.append(losses[0])
                    held.append(losses[1])
                out[kind] = {
                    "rho": np.array(rho),
                    "calibration": np.array(cal),
                    "held_out": np.array(held),
                }
        return out

    params = dict(
        model=model_spec(key).fingerprint(),
        kinds=kinds,
        ratios=rs,
        n_seq=n_seq,
        seq_len=seq_len,
        seed=seed,
    )
    return cached("quality-sweep", params, compute, use_cache=use_cache)


def measured_quality(sweep: dict, key: str) -> MeasuredQuality:
    """The :class:`~coinfer.theory.quality.MeasuredQuality` fitted to a sweep's calibration half."""
    curves = {
        kind: QualityCurve(d["rho"], d["calibration"], METRIC[key]) for kind, d in sweep.items()
    }
    return MeasuredQuality(curves)
