"""Measured quality loss as a monotone function of the pruning ratio, and an objective built on it.

Quality loss is measured on calibration text at a grid of pruning ratios (``coinfer.real.quality``):
for a language model the increase of the log-perplexity, ``log PPL(rho) - log PPL(0)`` (nats per
token); for a sentence-embedding model ``1 - mean cosine`` between pruned and dense embeddings. A
measured curve is noisy and need not be monotone; pruning more should not help, so we fit the
closest non-decreasing function in least squares (isotonic regression, pool-adjacent-violators),
and read it between grid points by linear interpolation (held constant past the last point).

:class:`MeasuredQuality` holds one such curve per pruning kind and is an
:class:`~coinfer.theory.objective.Objective`: the optimiser minimises the measured loss instead of the
surrogate, and with several kinds chooses the kind whose loss is least at its own smallest feasible
ratio. Numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..validation import check_array, check_reals
from .objective import Objective

__all__ = ["isotonic", "QualityCurve", "MeasuredQuality", "relative_errors"]


def isotonic(y, weights=None, *, increasing: bool = True) -> np.ndarray:
    """The least-squares monotone fit of ``y`` (pool adjacent violators), same length as ``y``.

    Args:
        y: ``(n,)`` values in grid order.
        weights: ``(n,)`` positive weights (default 1).
        increasing: ``True`` for a non-decreasing fit, ``False`` for non-increasing.
    """
    v = check_array("y", y, ndim=1)
    w = (
        np.ones_like(v)
        if weights is None
        else check_array("weights", weights, shape=v.shape, lo=0.0)
    )
    if np.any(w <= 0):
        raise ValueError("weights must be positive")
    sign = 1.0 if increasing else -1.0
    means, wsum, count = [], [], []
    for value, weight in zip(sign * v, w, strict=False):
        means.append(value)
        wsum.append(weight)
        count.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            m2, w2, c2 = means.pop(), wsum.pop(), count.pop()
            m1, w1, c1 = means.pop(), wsum.pop(), count.pop()
            means.append((m1 * w1 + m2 * w2) / (w1 + w2))
            wsum.append(w1 + w2)
            count.append(c1 + c2)
    return sign * np.repeat(np.array(means), np.array(count))


@dataclass(frozen=True)
class QualityCurve:
    """A measured quality loss on a grid of pruning ratios, fitted non-decreasing.

    Attributes:
        rho: ``(G,)`` strictly increasing ratios in ``[0, 1)``.
        measured: ``(G,)`` the loss measured at ``rho`` (units of the metric).
        metric: name of the metric, e.g. ``"log-perplexity increase (nats/token)"``.
        fitted: the isotonic fit of ``measured`` (computed).
    """

    rho: np.ndarray
    measured: np.ndarray
    metric: str = ""
    fitted: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        r = check_array("rho", self.rho, ndim=1, lo=0.0, hi=1.0, hi_open=True)
        if np.any(np.diff(r) <= 0):
            raise ValueError(f"rho must increase strictly; got {r.tolist()}")
        m = check_array("measured", self.measured, shape=r.shape)
        object.__setattr__(self, "rho", r)
        object.__setattr__(self, "measured", m)
        object.__setattr__(self, "fitted", isotonic(m))

    def __call__(self, rho) -> np.ndarray:
        """The fitted loss at ``rho`` (linear between grid points, constant beyond)."""
        r = check_reals("rho", rho, 0.0, 1.0, True, "")
        return np.interp(r, self.rho, self.fitted)


@dataclass(frozen=True)
class MeasuredQuality(Objective):
    """The measured quality loss per pruning kind: an objective non-decreasing in ``rho``.

    Attributes:
        curves: pruning kind (``"unstructured"``, ``"structured"``...) -> :class:`QualityCurve`.
        default: the kind used when the caller names none (default: the first).
    """

    curves: dict
    default: str = ""

    def __post_init__(self) -> None:
        if not self.curves or not all(isinstance(c, QualityCurve) for c in self.curves.values()):
            raise ValueError("curves must map pruning kinds to QualityCurve objects (at least one)")
        if self.default and self.default not in self.curves:
            raise ValueError(f"default must be one of {tuple(self.curves)}; got {self.default!r}")

    def __call__(self, rho, pruning: str | None = None):
        kind = pruning if pruning is not None else (self.default or next(iter(self.curves)))
        if kind not in self.curves:
            raise ValueError(f"pruning must be one of {tuple(self.curves)}; got {kind!r}")
        return self.curves[kind](rho)


def relative_errors(predicted, measured) -> np.ndarray:
    """``|predicted - measured| / |measured|`` elementwise (NaN where ``measured`` is 0)."""
    p = np.asarray(predicted, float)
    m = np.asarray(measured, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(m != 0, np.abs(p - m) / np.abs(m), np.nan)
