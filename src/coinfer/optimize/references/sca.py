"""Successive convex approximation of the kind the literature uses (a local method)."""

from __future__ import annotations

import math

import numpy as np

from ...system import Scenario
from ...validation import check_int
from ..result import Solution
from ..solver import _check_scenario, solution_at
from ._common import best_over_splits, infeasible, solve_quietly, split_constants, uplink_cone

__all__ = ["sca_solve"]


def sca_solve(
    scenario: Scenario,
    split=None,
    max_iter: int = 50,
    tol: float = 1e-9,
    penalty: float = 100.0,
    solver: str = "CLARABEL",
) -> Solution:
    """Successive convex approximation on ``(u, F, t_u)`` with ``u = 1 - rho``, ``F = f / f_max``.

    The device latency ``w(u) / f`` and energy ``kappa w(u) f^2`` contain the bilinear terms ``u / F``
    and ``u F^2``; each iteration replaces them by the convex upper bounds
    ``u / F <= (a u^2 + F^-2 / a) / 2`` and ``u F^2 <= (b u^2 + F^4 / b) / 2``, tight at the current
    point (``a = 1 / (F0 u0)``, ``b = F0^2 / u0``), keeps the uplink in its exact convex form (time share
    and exponential cone), and maximises ``u`` minus a penalty on slacks of the two limits (so an
    infeasible start is allowed). Stops when ``u`` moves less than ``tol``. A local method: no
    certificate of global optimality.
    """
    import cvxpy as cp

    _check_scenario(scenario)
    max_iter = check_int("max_iter", max_iter, 1)
    dev, bud = scenario.device, scenario.budget
    T, E = bud.latency, bud.energy
    u_min = 1.0 - scenario.rho_max

    def per_split(s):
        k = split_constants(scenario, s)
        u = cp.Variable()
        F = cp.Variable(pos=True)
        zt = cp.Variable(nonneg=True)
        ze = cp.Variable(nonneg=True)
        a = cp.Parameter(pos=True)
        ia = cp.Parameter(pos=True)
        b = cp.Parameter(pos=True)
        ib = cp.Parameter(pos=True)
        fm = dev.f_max
        lat = (k["sF"] * u + k["sA"]) / T
        en = 0.0
        cons = [u >= u_min, u <= 1.0, F <= 1.0, F >= 1e-6]
        if k["wF"] + k["wA"] > 0:
            lat = lat + (k["wA"] / fm / T) * cp.inv_pos(F)
            lat = lat + (k["wF"] / fm / T) * 0.5 * (a * cp.square(u) + ia * cp.power(F, -2))
            ke = dev.kappa * fm**2 / (E if math.isfinite(E) else 1.0)
            en = en + ke * k["wA"] * cp.square(F)
            en = en + ke * k["wF"] * 0.5 * (b * cp.square(u) + ib * cp.power(F, 4))
        tu = None
        if k["sig"] > 0:
            tu, z, uplink = uplink_cone(k, T)
            cons += uplink
            lat = lat + tu / T
            en = en + (k["c"] * T / (E if math.isfinite(E) else 1.0)) * (z - tu / T)
        cons.append(lat <= 1.0 + zt)
        if math.isfinite(E) and not isinstance(en, float):
            cons.append(en <= 1.0 + ze)
        prob = cp.Problem(cp.Maximize(u - penalty * (zt + ze)), cons)
        u0, F0 = u_min, 1.0
        prev = None
        for _ in range(max_iter):
            a.value, ia.value = 1.0 / (F0 * u0), F0 * u0
            b.value, ib.value = F0**2 / u0, u0 / F0**2
            try:
                solve_quietly(prob, solver)
            except cp.error.SolverError:
                break
            if prob.status not in ("optimal", "optimal_inaccurate"):
                break
            u0 = float(np.clip(u.value, u_min, 1.0))
            F0 = float(np.clip(F.value, 1e-6, 1.0))
            if prev is not None and abs(u0 - prev) < tol:
                break
            prev = u0
        if prev is None and prob.status not in ("optimal", "optimal_inaccurate"):
            return infeasible(scenario, s, f"sca: subproblem failed at split {s}", method="sca")
        p = 0.0
        if tu is not None and tu.value is not None:
            p = min(k["c"] * math.expm1(k["sig"] / float(tu.value)), dev.p_max)
        sol = solution_at(scenario, s, 1.0 - u0, p, F0 * fm, "sca")
        return sol

    return best_over_splits(scenario, split, per_split, "sca")
