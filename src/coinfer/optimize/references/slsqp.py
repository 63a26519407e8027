"""scipy SLSQP with several random starts on the original non-convex problem."""

from __future__ import annotations

import math

import numpy as np

from ...system import Scenario, evaluate
from ...validation import check_int
from ..result import Solution
from ..solver import _check_scenario, solution_at
from ._common import best_over_splits, infeasible

__all__ = ["slsqp_solve"]


def slsqp_solve(scenario: Scenario, split=None, n_starts: int = 8, seed: int = 0) -> Solution:
    """scipy SLSQP on ``min Dbar(rho)`` over ``(rho, p, f)`` with latency and energy constraints.

    The original (non-convex) formulation, variables scaled to ``[0, 1]``, ``n_starts`` uniformly random
    starts per split (``np.random.default_rng(seed)``); the best feasible end point is kept.
    """
    from scipy.optimize import minimize

    _check_scenario(scenario)
    n_starts = check_int("n_starts", n_starts, 1)
    rng = np.random.default_rng(check_int("seed", seed, 0))
    dev, bud = scenario.device, scenario.budget
    T, E = bud.latency, bud.energy
    dscale = float(scenario.objective(scenario.rho_max))

    lo = 1e-9

    def per_split(s):
        def lat_en(z):
            z = np.clip(z, [0.0, lo, lo], [1.0, 1.0, 1.0])
            bd = evaluate(scenario, s, z[0] * scenario.rho_max, z[1] * dev.p_max, z[2] * dev.f_max)
            return float(bd.latency), float(bd.energy)

        cons = [{"type": "ineq", "fun": lambda z: 1.0 - lat_en(z)[0] / T}]
        if math.isfinite(E):
            cons.append({"type": "ineq", "fun": lambda z: 1.0 - lat_en(z)[1] / E})
        bounds = [(0.0, 1.0), (lo, 1.0), (lo, 1.0)]
        best = None
        for z0 in rng.uniform([0, lo, lo], [1, 1, 1], size=(n_starts, 3)):
            res = minimize(
                lambda z: float(scenario.objective(z[0] * scenario.rho_max)) / dscale,
                z0,
                method="SLSQP",
                bounds=bounds,
                constraints=cons,
                options={"ftol": 1e-12, "maxiter": 300},
            )
            z = np.clip(res.x, [0, lo, lo], [1, 1, 1])
            sol = solution_at(
                scenario,
                s,
                float(z[0] * scenario.rho_max),
                float(z[1] * dev.p_max),
                float(z[2] * dev.f_max),
                "slsqp",
            )
            if sol.feasible and (best is None or (sol.rho, sol.energy) < (best.rho, best.energy)):
                best = sol
        if best is None:
            return infeasible(
                scenario, s, f"slsqp: no feasible end point at split {s}", method="slsqp"
            )
        return best

    return best_over_splits(scenario, split, per_split, "slsqp")
