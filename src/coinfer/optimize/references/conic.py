"""Conic references (cvxpy): the inner least-energy problem and each split's least ``rho`` as convex
programs in the time shares (power cone for the device energy, exponential cone for the uplink)."""

from __future__ import annotations

import math

import numpy as np

from ...system import Scenario
from ...system.costs import pruning_kinds
from ...validation import check_int, check_real
from ..result import Solution
from ..solver import _check_scenario, solution_at
from ._common import (
    best_over_kinds,
    best_over_splits,
    infeasible,
    n_pieces,
    solve_quietly,
    split_constants,
    uplink_cone,
)

__all__ = ["cvxpy_least_energy", "cvxpy_solve"]


def cvxpy_least_energy(
    scenario: Scenario, split: int, rho: float, solver: str = "CLARABEL", pruning: str | None = None
) -> Solution:
    """Least device energy at fixed ``(split, rho)`` by cvxpy: the convex problem in the time shares.

    ``min kappa w^3 t_d^-2 + c (z - t_u)`` s.t. ``(sig, t_u, z)`` in the exponential cone
    (``z >= t_u exp(sig / t_u)``, so ``c (z - t_u)`` is the uplink energy ``t_u (N0 B / g)(2^(S/(B t_u))
    - 1)``), ``t_d + t_u <= T_max - T_s``, ``t_d >= w / f_max``, ``t_u >= sig / x_max``. ``w`` and
    ``T_s`` come from the work of ``pruning`` (the paper's model without work curves).
    """
    import cvxpy as cp

    _check_scenario(scenario)
    s = check_int("split", split, scenario.min_split, scenario.profile.n_blocks)
    r = check_real("rho", rho, 0.0, scenario.rho_max)
    kind = pruning_kinds(scenario)[0] if pruning is None else pruning
    k = split_constants(scenario, s, kind, rho=r)
    dev, T = scenario.device, scenario.budget.latency
    u = 1.0 - r
    w = k["wF"] * u + k["wA"]
    slack = T - (k["sF"] * u + k["sA"])
    td_min = w / dev.f_max
    tu_min = k["sig"] / k["x_max"] if k["sig"] > 0 else 0.0
    if td_min + tu_min > slack:
        return infeasible(scenario, s, "latency: T_max exceeded even at f_max and p_max", "cvxpy")
    # Scale times by the latency slack and energies by a nominal energy, for the solver's tolerances.
    cons, obj = [], 0.0
    e_dev0 = dev.kappa * w**3 / slack**2 if w > 0 else 0.0
    e_up0 = k["c"] * k["sig"] if k["sig"] > 0 else 0.0
    e0 = max(e_dev0, e_up0, 1e-300)
    td = tu = None
    lat = 0.0
    if w > 0:
        td = cp.Variable(pos=True)  # in units of the slack
        obj = obj + (e_dev0 / e0) * cp.power(td, -2)
        cons.append(td >= td_min / slack)
        lat = lat + td
    if k["sig"] > 0:
        tu = cp.Variable(pos=True)
        z = cp.Variable()
        a = k["sig"] / slack
        cons += [cp.constraints.ExpCone(a * np.ones(()), tu, z), tu >= tu_min / slack]
        obj = obj + (k["c"] * slack / e0) * (z - tu)
        lat = lat + tu
    if td is None and tu is None:
        return solution_at(scenario, s, r, 0.0, dev.f_max, "cvxpy", pruning=kind)
    cons.append(lat <= 1.0)
    prob = cp.Problem(cp.Minimize(obj), cons)
    try:
        solve_quietly(prob, solver)
    except cp.error.SolverError as exc:
        return infeasible(scenario, s, f"cvxpy solver error: {exc}", method="cvxpy")
    if prob.status not in ("optimal", "optimal_inaccurate"):
        return infeasible(scenario, s, f"cvxpy status {prob.status}", method="cvxpy")
    f = min(w / (float(td.value) * slack), dev.f_max) if td is not None else dev.f_max
    p = 0.0
    if tu is not None:
        x = k["sig"] / (float(tu.value) * slack)
        p = min(k["c"] * math.expm1(x), dev.p_max)
    return solution_at(scenario, s, r, p, f, "cvxpy", pruning=kind)


def _cvxpy_max_u(scenario, s, solver, kind, piece):
    """Largest ``u = 1 - rho`` at split ``s`` on one linear piece of the work of ``kind``: a convex
    program in ``(u, t_d, t_u)`` over ``u`` in ``[u_lo, u_hi]`` (where the work is affine)."""
    import cvxpy as cp

    k = split_constants(scenario, s, kind, piece=piece)
    dev, bud = scenario.device, scenario.budget
    T, E = bud.latency, bud.energy
    W0 = k["wF"] * k["u_hi"] + k["wA"]  # cycles at the top of the piece, to normalise w
    u = cp.Variable()
    cons = [u >= k["u_lo"], u <= k["u_hi"]]
    lat = k["sF"] * u + k["sA"]
    energy = 0.0
    e0 = E if math.isfinite(E) else 1.0
    if W0 > 0:
        td = cp.Variable(pos=True)
        y = cp.Variable(pos=True)
        wn = (k["wF"] * u + k["wA"]) / W0
        # y >= wn^3 / (td/T)^2  <=>  y^(1/3) (td/T)^(2/3) >= wn: the power cone.
        cons += [cp.PowCone3D(y, td / T, wn, 1.0 / 3.0), td >= W0 * wn / dev.f_max]
        lat = lat + td
        energy = energy + (dev.kappa * W0**3 / T**2 / e0) * y
    if k["sig"] > 0:
        tu, z, uplink = uplink_cone(k, T)
        cons += uplink
        lat = lat + tu
        energy = energy + (k["c"] * T / e0) * (z - tu / T)
    cons.append(lat / T <= 1.0)
    if math.isfinite(E) and not isinstance(energy, float):
        cons.append(energy <= 1.0)
    prob = cp.Problem(cp.Maximize(u), cons)
    try:
        solve_quietly(prob, solver)
    except cp.error.SolverError:
        return None
    if prob.status not in ("optimal", "optimal_inaccurate"):
        return None
    return float(u.value)


def cvxpy_solve(scenario: Scenario, split=None, solver: str = "CLARABEL") -> Solution:
    """The joint problem by cvxpy: per split, the smallest ``rho`` as one convex conic program.

    In ``(u, t_d, t_u)`` with ``u = 1 - rho`` the feasible set is convex: ``kappa w(u)^3 / t_d^2`` is
    the perspective of a cube (power cone), the uplink energy the perspective of an exponential
    (exponential cone), the rest affine. With a piecewise-linear work curve, one program per piece
    (the work is affine there) and the largest ``u`` over the pieces; then per kind the split rule,
    and across kinds the least objective. The least energy at the found ``rho`` comes from
    :func:`cvxpy_least_energy`.
    """
    _check_scenario(scenario)

    def per_split(s, kind):
        us = [_cvxpy_max_u(scenario, s, solver, kind, j) for j in range(n_pieces(scenario, kind))]
        us = [u for u in us if u is not None]
        if not us:
            return infeasible(scenario, s, f"cvxpy: no feasible point at split {s}", method="cvxpy")
        rho = float(np.clip(1.0 - max(us), 0.0, scenario.rho_max))
        sol = cvxpy_least_energy(scenario, s, rho, solver=solver, pruning=kind)
        # The conic solver's u may overshoot by its tolerance: back off to a verified point.
        for step in (1e-10, 1e-9, 1e-8, 1e-7):
            if sol.feasible or rho + step > scenario.rho_max:
                break
            sol = cvxpy_least_energy(scenario, s, rho + step, solver=solver, pruning=kind)
        return sol

    return best_over_kinds(
        scenario,
        {
            kind: best_over_splits(scenario, split, lambda s, k=kind: per_split(s, k), "cvxpy")
            for kind in pruning_kinds(scenario)
        },
    )
