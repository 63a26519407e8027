"""A dense brute-force grid over ``(rho, p, f)`` of the original problem."""

from __future__ import annotations

import numpy as np

from ...system import Scenario, evaluate
from ...system.costs import pruning_kinds
from ...validation import check_int
from ..result import Solution
from ..solver import _check_scenario, solution_at
from ._common import best_over_kinds, best_over_splits, infeasible

__all__ = ["grid_solve"]


def grid_solve(
    scenario: Scenario,
    split=None,
    n_rho: int = 65,
    n_power: int = 65,
    n_freq: int = 65,
    pruning: str | None = None,
) -> Solution:
    """Dense brute-force grid over ``(rho, p, f)`` of the original problem, per split.

    ``rho`` on ``n_rho`` equispaced values in ``[0, rho_max]``, ``p`` on ``n_power`` values in
    ``(0, p_max]``, ``f`` on ``n_freq`` values in ``(0, f_max]``; every grid point is checked with
    :func:`coinfer.system.evaluate`; the best is the least feasible ``rho``, then the least energy.
    Its resolution in ``rho`` is ``rho_max / (n_rho - 1)``. With work curves, every pruning kind
    (or only ``pruning``) is searched and the least objective wins (ties to the least energy).
    """
    _check_scenario(scenario)
    n_rho = check_int("n_rho", n_rho, 2)
    n_power = check_int("n_power", n_power, 1)
    n_freq = check_int("n_freq", n_freq, 1)
    dev = scenario.device
    rho = np.linspace(0.0, scenario.rho_max, n_rho)[:, None, None]
    p = (dev.p_max * np.arange(1, n_power + 1) / n_power)[None, :, None]
    f = (dev.f_max * np.arange(1, n_freq + 1) / n_freq)[None, None, :]

    def per_split(s, kind):
        bd = evaluate(scenario, s, rho, p, f, pruning=kind)
        ok = bd.feasible
        if not ok.any():
            return infeasible(
                scenario, s, f"grid: no feasible grid point at split {s}", method="grid"
            )
        i = int(np.argmax(ok.any(axis=(1, 2))))  # least feasible rho index
        e = np.where(ok[i], bd.energy[i], np.inf)
        j, m = np.unravel_index(int(np.argmin(e)), e.shape)
        return solution_at(
            scenario,
            s,
            float(rho[i, 0, 0]),
            float(p[0, j, 0]),
            float(f[0, 0, m]),
            "grid",
            pruning=kind,
        )

    kinds = pruning_kinds(scenario) if pruning is None else (pruning,)
    return best_over_kinds(
        scenario,
        {
            kind: best_over_splits(scenario, split, lambda s, k=kind: per_split(s, k), "grid")
            for kind in kinds
        },
    )
