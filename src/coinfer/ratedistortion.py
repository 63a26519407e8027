"""Rate-distortion theory for pruned weights (DESIGN.md section 3, T2 and T3).

Contains the objective :class:`DistortionBound` that the optimiser minimises. (Issue 4 extends this
module with fits, closed forms and Blahut-Arimoto; the public name ``DistortionBound`` and its call
signature are a contract used by :mod:`coinfer.system` and :mod:`coinfer.optimize`.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .validation import check_real

__all__ = ["DistortionBound", "pruning_floor_abs"]


def pruning_floor_abs(rho, lam: float = 1.0):
    """Least mean absolute error per weight of pruning a fraction ``rho`` of Laplace(``lam``) weights.

    Magnitudes are Exp(``lam``); zeroing the smallest ``rho`` fraction costs
    ``(1/lam) (rho + (1 - rho) ln(1 - rho))`` per weight. Vectorised over ``rho`` in ``[0, 1]``.
    """
    lam = check_real("lam", lam, 0.0, lo_open=True, unit="1/weight unit")
    r = np.asarray(rho, dtype=float)
    if r.size and (np.any(~np.isfinite(r)) or r.min() < 0 or r.max() > 1):
        raise ValueError(f"rho must be in [0, 1]; got {rho!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        tail = np.where(r < 1.0, (1.0 - r) * np.log1p(-np.minimum(r, 1.0 - 1e-300)), 0.0)
    return (r + tail) / lam


@dataclass(frozen=True)
class DistortionBound:
    """The optimiser's objective ``Dbar(rho) = gamma * D_lb(rho)``, increasing in ``rho``.

    Attributes:
        lam: Laplacian rate ``lambda`` of the weights (1/weight unit).
        gamma: the output-to-parameter constant ``Gamma`` (dimensionless).
    """

    lam: float = 1.0
    gamma: float = 1.0

    def __post_init__(self):
        check_real("lam", self.lam, 0.0, lo_open=True)
        check_real("gamma", self.gamma, 0.0, lo_open=True)

    def __call__(self, rho):
        """``Dbar(rho)``, vectorised over ``rho`` in ``[0, 1)``."""
        return self.gamma * pruning_floor_abs(rho, self.lam)
