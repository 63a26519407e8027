"""Rate-distortion theory for pruned weights .

Weights are modelled as i.i.d. Laplace with rate ``lam`` (density ``(lam/2) exp(-lam |w|)``, mean
absolute value ``1/lam``, variance ``2/lam^2``), so magnitudes are Exp(``lam``). Distortion is per
weight: absolute error ``|w - w_hat|`` (weight units, the primary measure) or squared error
``(w - w_hat)^2`` (weight units squared). Rates are in bits per weight.

Closed forms (all vectorised over their first argument; proofs in the book chapter
``rate_distortion``):

* Laplace source, absolute error: ``R(D) = log2(1/(lam D))`` for ``D <= 1/lam`` (exact),
  ``D(R) = 2^-R / lam``; the optimal reconstruction is zero with probability ``(lam D)^2``.
* Exp(``lam``) magnitudes with signs kept, absolute error: Shannon lower bound
  ``R(D) >= -log2(2 lam D)``, ``D(R) >= 1/(lam 2^(R+1))`` (not tight: Blahut-Arimoto gives the curve).
* Laplace source, squared error: Shannon lower bound ``R(D) >= 0.5 log2(2e/(pi lam^2 D))`` and the
  Gaussian upper bound ``R(D) <= 0.5 log2(2/(lam^2 D))``.
* Pruning a fraction ``rho`` of the weights: the least distortion of any pruning (magnitude pruning)
  and the distortion of random pruning, in both measures.
* The rate of a pruned model, ``h2(rho) + (1 - rho) b``, and the bounds that follow.

:class:`coinfer.theory.objective.SurrogateObjective` builds the optimiser's objective on these floors. The
Blahut-Arimoto solver lives in :mod:`coinfer.theory.blahut` and the weight fits in
:mod:`coinfer.theory.weight_fits`.
"""

from __future__ import annotations

import math

import numpy as np

from ..validation import check_array, check_real

__all__ = [
    # closed forms
    "laplace_rate_abs",
    "laplace_distortion_abs",
    "optimal_reconstruction_sparsity",
    "exponential_slb_rate_abs",
    "exponential_slb_distortion_abs",
    "laplace_slb_rate_squared",
    "laplace_slb_distortion_squared",
    "laplace_gaussian_rate_squared",
    "laplace_entropy_bits",
    # pruning
    "pruning_floor_abs",
    "pruning_floor_squared",
    "random_pruning_abs",
    "random_pruning_squared",
    "binary_entropy",
    "pruned_model_rate",
    "rate_distortion_bound",
    "distortion_lower_bound",
]

_MEASURES = ("abs", "squared")


def _lam(lam) -> float:
    return check_real("lam", lam, 0.0, lo_open=True, unit="1/weight unit")


def _shape_back(value, like):
    """A scalar for scalar input, an array otherwise (so scalar calls return floats)."""
    return float(value) if np.ndim(like) == 0 else value


def _distortion(D, unit="weight units"):
    return check_array("D", D, lo=0.0, lo_open=True, unit=unit, allow_empty=True)


def _rate(R):
    return check_array("R", R, lo=0.0, unit="bits", allow_empty=True)


def _rho(rho):
    return check_array("rho", rho, lo=0.0, hi=1.0, hi_open=True, allow_empty=True)


def _measure(measure):
    if measure not in _MEASURES:
        raise ValueError(f"measure must be one of {_MEASURES}; got {measure!r}")
    return measure


# --- closed forms -------------------------------------------------------------------------------


def laplace_entropy_bits(lam: float) -> float:
    """Differential entropy ``h(W) = log2(2e/lam)`` of Laplace(``lam``) weights, in bits."""
    return math.log2(2 * math.e / _lam(lam))


def laplace_rate_abs(D, lam: float = 1.0):
    """Rate-distortion function of Laplace(``lam``) weights under absolute error, bits per weight.

    ``R(D) = log2(1/(lam D))`` for ``0 < D <= 1/lam`` and ``0`` beyond (``1/lam = E|W|`` is the
    distortion of reproducing every weight by zero). Exact: the Shannon lower bound is achieved.
    """
    lam = _lam(lam)
    d = _distortion(D)
    return _shape_back(np.maximum(-np.log2(lam * d), 0.0), D)


def laplace_distortion_abs(R, lam: float = 1.0):
    """Distortion-rate function ``D(R) = 2^-R / lam`` of Laplace(``lam``) weights, absolute error."""
    lam = _lam(lam)
    r = _rate(R)
    return _shape_back(np.exp2(-r) / lam, R)


def optimal_reconstruction_sparsity(D, lam: float = 1.0):
    """Probability that the rate-distortion-optimal reconstruction is exactly zero: ``(lam D)^2``.

    Laplace(``lam``) weights, absolute error, ``0 < D <= 1/lam`` (``1`` beyond: everything is zero).
    """
    lam = _lam(lam)
    d = _distortion(D)
    return _shape_back(np.minimum((lam * d) ** 2, 1.0), D)


def exponential_slb_rate_abs(D, lam: float = 1.0):
    """Shannon lower bound on the rate of Exp(``lam``) magnitudes under absolute error, bits.

    ``R(D) >= max(0, -log2(2 lam D))``: ``h(theta) = log2(e/lam)`` minus the largest entropy
    ``log2(2 e D)`` of an error with mean absolute value ``D``. Not tight (see the book).
    """
    lam = _lam(lam)
    d = _distortion(D)
    return _shape_back(np.maximum(-np.log2(2 * lam * d), 0.0), D)


def exponential_slb_distortion_abs(R, lam: float = 1.0):
    """The same bound as a distortion: ``D(R) >= 1 / (lam 2^(R+1))`` (R bits per magnitude)."""
    lam = _lam(lam)
    r = _rate(R)
    return _shape_back(np.exp2(-(r + 1)) / lam, R)


def laplace_slb_rate_squared(D, lam: float = 1.0):
    """Shannon lower bound on the rate of Laplace(``lam``) weights under squared error, bits.

    ``R(D) >= max(0, 0.5 log2(2e / (pi lam^2 D)))`` (``D`` in weight units squared).
    """
    lam = _lam(lam)
    d = _distortion(D, "weight units^2")
    return _shape_back(np.maximum(0.5 * np.log2(2 * math.e / (math.pi * lam**2 * d)), 0.0), D)


def laplace_slb_distortion_squared(R, lam: float = 1.0):
    """The squared-error Shannon lower bound as a distortion: ``D(R) >= (2e/(pi lam^2)) 4^-R``."""
    lam = _lam(lam)
    r = _rate(R)
    return _shape_back(2 * math.e / (math.pi * lam**2) * np.exp2(-2 * r), R)


def laplace_gaussian_rate_squared(D, lam: float = 1.0):
    """Gaussian upper bound on the squared-error rate of Laplace(``lam``) weights, bits.

    ``R(D) <= max(0, 0.5 log2(sigma^2 / D))`` with ``sigma^2 = 2/lam^2`` (the Gaussian source of the
    same variance is the hardest to describe under squared error).
    """
    lam = _lam(lam)
    d = _distortion(D, "weight units^2")
    return _shape_back(np.maximum(0.5 * np.log2(2 / (lam**2 * d)), 0.0), D)


# --- pruning ------------------------------------------------------------------------------------


def pruning_floor_abs(rho, lam: float = 1.0):
    """Least mean absolute error per weight of pruning a fraction ``rho`` of Laplace(``lam``) weights.

    Magnitudes are Exp(``lam``); zeroing the smallest ``rho`` fraction (magnitude pruning, the best
    choice of support) costs ``(1/lam) (rho + (1 - rho) ln(1 - rho))`` per weight (weight units).
    Vectorised over ``rho`` in ``[0, 1)``.
    """
    lam = _lam(lam)
    r = _rho(rho)
    return _shape_back((r + (1.0 - r) * np.log1p(-r)) / lam, rho)


def pruning_floor_squared(rho, lam: float = 1.0):
    """Least mean squared error per weight of pruning a fraction ``rho`` of Laplace(``lam``) weights.

    ``(1/lam^2) (2 rho - (1 - rho) (l^2 + 2 l))`` with ``l = -ln(1 - rho)`` (weight units squared).
    """
    lam = _lam(lam)
    r = _rho(rho)
    ell = -np.log1p(-r)
    return _shape_back((2 * r - (1.0 - r) * (ell**2 + 2 * ell)) / lam**2, rho)


def random_pruning_abs(rho, lam: float = 1.0):
    """Expected absolute error per weight of pruning a random fraction ``rho``: ``rho / lam``."""
    lam = _lam(lam)
    r = _rho(rho)
    return _shape_back(r / lam, rho)


def random_pruning_squared(rho, lam: float = 1.0):
    """Expected squared error per weight of pruning a random fraction ``rho``: ``2 rho / lam^2``."""
    lam = _lam(lam)
    r = _rho(rho)
    return _shape_back(2 * r / lam**2, rho)


def binary_entropy(rho):
    """Binary entropy ``h2(rho) = -rho log2 rho - (1-rho) log2(1-rho)`` in bits, ``rho`` in [0, 1)."""
    r = _rho(rho)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(r > 0, r * np.log2(r), 0.0) - (1 - r) * np.log2(1 - r)
    return _shape_back(h, rho)


def pruned_model_rate(rho, bits: float = 16.0):
    """Bits per weight of a pruned model sent as its mask plus its kept values.

    ``R(rho) = h2(rho) + (1 - rho) b``: an entropy-coded mask (``h2(rho)`` bits per weight) and
    ``b`` = ``bits`` per kept value.
    """
    b = check_real("bits", bits, 0.0, lo_open=True, unit="bits per kept weight")
    r = _rho(rho)
    return _shape_back(binary_entropy(r) + (1 - r) * b, rho)


def rate_distortion_bound(rho, lam: float = 1.0, bits: float = 16.0, measure: str = "abs"):
    """Rate-distortion lower bound on the distortion of a pruned model with ``b``-bit kept values.

    The pruned model is a deterministic function of ``min(b, h2(rho) + (1 - rho) b)`` bits per weight
    (mask plus kept values, or the dense ``b``-bit code if shorter), so its distortion is at least
    ``D`` at that rate: ``2^-R / lam`` (absolute error, exact ``D(R)``) or the Shannon lower bound
    ``(2e/(pi lam^2)) 4^-R`` (squared error). Non-decreasing in ``rho``.
    """
    lam = _lam(lam)
    b = check_real("bits", bits, 0.0, lo_open=True, unit="bits per kept weight")
    _measure(measure)
    r = _rho(rho)
    rate = np.minimum(b, pruned_model_rate(r, b))
    if measure == "abs":
        out = laplace_distortion_abs(rate, lam)
    else:
        out = laplace_slb_distortion_squared(rate, lam)
    return _shape_back(out, rho)


def distortion_lower_bound(rho, lam: float = 1.0, bits: float = 16.0, measure: str = "abs"):
    """``D_lb(rho)``: the larger of the pruning floor and the rate-distortion bound.

    Both are lower bounds on the distortion of any pruning of a fraction ``rho`` of Laplace(``lam``)
    weights whose kept values are stored in ``bits`` bits, so their maximum is one too. Non-decreasing
    in ``rho``. Units: weight units (``"abs"``) or weight units squared (``"squared"``).
    """
    floor = pruning_floor_abs if _measure(measure) == "abs" else pruning_floor_squared
    out = np.maximum(floor(_rho(rho), lam), rate_distortion_bound(_rho(rho), lam, bits, measure))
    return _shape_back(out, rho)
