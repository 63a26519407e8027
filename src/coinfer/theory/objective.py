"""The optimiser's objective: a surrogate ``Dbar(rho) = Gamma * D_lb(rho)`` that increases in ``rho``.

What it is and is not. The output-distortion theorem (book chapter "Output vs parameter distortion")
bounds output distortion *above* by parameter distortion; the floors of
:mod:`coinfer.theory.rate_distortion` bound parameter distortion *below*. Chaining an upper and a lower
bound gives no bound at all, so ``Gamma * D_lb(rho)`` is neither an upper nor a lower bound on output
distortion: it is a *surrogate* objective. The optimiser only uses that it increases in ``rho``
(the optimum is the smallest feasible pruning ratio), so its scale ``Gamma`` never changes an optimal
operating point.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..validation import check_real
from .rate_distortion import (
    distortion_lower_bound,
    pruning_floor_abs,
    pruning_floor_squared,
    rate_distortion_bound,
)

__all__ = ["Objective", "SurrogateObjective", "KINDS", "MEASURES"]

#: Which floor ``D_lb`` the surrogate uses.
KINDS = ("floor", "rate", "combined")
#: The distortion measures, absolute error (primary) and squared error.
MEASURES = ("abs", "squared")


class Objective:
    """What the optimiser minimises: a value per pruning ratio, increasing in ``rho``.

    Subclasses implement ``__call__(rho, pruning=None)``, vectorised over ``rho`` in ``[0, 1)``;
    ``pruning`` names the pruning kind (``"unstructured"``, ``"structured"``...) for objectives that
    depend on it, and is ignored by those that do not. The optimiser relies on one property only:
    for each pruning kind the value is non-decreasing in ``rho`` (strictly increasing for a unique
    optimal ratio).
    """

    def __call__(self, rho, pruning: str | None = None):  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True)
class SurrogateObjective(Objective):
    """The surrogate objective ``Dbar(rho) = gamma * D_lb(rho)``, increasing in ``rho`` (not a bound).

    Attributes:
        lam: Laplacian rate ``lambda`` of the weights (1/weight unit); ``1/lam`` is the mean
            absolute weight.
        gamma: the output-to-parameter constant ``Gamma`` (output units per weight unit, or per
            weight unit squared for ``measure="squared"``).
        kind: which lower bound ``D_lb`` is used: ``"floor"`` (default, the pruning floor: least
            distortion of any pruning at ratio ``rho``, achieved by magnitude pruning; strictly
            increasing and convex, ``D_lb(0) = 0``), ``"rate"`` (:func:`rate_distortion_bound`, only
            non-decreasing) or ``"combined"`` (:func:`distortion_lower_bound`).
        bits: bits per kept weight ``b`` for ``"rate"`` and ``"combined"``.
        measure: ``"abs"`` (absolute error, default) or ``"squared"``.
    """

    lam: float = 1.0
    gamma: float = 1.0
    kind: str = "floor"
    bits: float = 16.0
    measure: str = "abs"

    def __post_init__(self):
        check_real("lam", self.lam, 0.0, lo_open=True, unit="1/weight unit")
        check_real("gamma", self.gamma, 0.0, lo_open=True)
        check_real("bits", self.bits, 0.0, lo_open=True, unit="bits per kept weight")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}; got {self.kind!r}")
        if self.measure not in MEASURES:
            raise ValueError(f"measure must be one of {MEASURES}; got {self.measure!r}")

    def __call__(self, rho, pruning: str | None = None):
        """``Dbar(rho)``, vectorised over ``rho`` in ``[0, 1)``; ``pruning`` is ignored (the
        surrogate depends on the pruning ratio only)."""
        if self.kind == "floor":
            floor = pruning_floor_abs if self.measure == "abs" else pruning_floor_squared
            d = floor(rho, self.lam)
        elif self.kind == "rate":
            d = rate_distortion_bound(rho, self.lam, self.bits, self.measure)
        else:
            d = distortion_lower_bound(rho, self.lam, self.bits, self.measure)
        return self.gamma * d
