"""What the reference solvers share: per-split constants, infeasible results, the split choice."""

from __future__ import annotations

import math
import warnings

import numpy as np

from ...system import Scenario
from ...system.costs import pruning_kinds
from ..result import Solution, assemble
from ..solver import _Columns, select_split, split_range

__all__ = ["split_constants", "infeasible", "best_over_splits", "best_over_kinds", "solve_quietly"]

# Conic solver tolerances well below the 1e-9 relative slack that evaluate() allows.
_TOLS = {"CLARABEL": dict(tol_feas=1e-12, tol_gap_abs=1e-12, tol_gap_rel=1e-12, max_iter=500)}


def solve_quietly(prob, solver: str) -> None:
    """Solve with tight tolerances; "may be inaccurate" warnings are moot: every point is re-checked."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        prob.solve(solver=solver, **_TOLS.get(solver, {}))


def split_constants(
    scenario: Scenario, s: int, pruning: str | None = None, rho=None, piece: int = 0
) -> dict:
    """Scalars of split ``s`` on one linear piece of the work of ``pruning`` (the piece holding
    ``rho`` when given, else number ``piece``; the paper's model has one): cycles ``w = wF u + wA``,
    server s ``sF u + sA``, ``u`` in ``[u_lo, u_hi]``, ``sig = S ln2 / B`` (s), ``c = N0 B / g`` (W)
    and ``x_max = ln(1 + p_max / c)``."""
    kinds = pruning_kinds(scenario)
    kind = kinds[0] if pruning is None else pruning
    cols = _Columns(scenario, np.array([s]), rho)
    j = np.flatnonzero(cols.group == kinds.index(kind))[0 if rho is not None else piece]
    up, dev = scenario.uplink, scenario.device
    c = up.noise_psd * up.bandwidth / up.gain
    out = {k: float(getattr(cols, k)[j]) for k in ("wF", "wA", "sF", "sA", "sig", "u_lo", "u_hi")}
    return dict(out, c=c, x_max=math.log1p(dev.p_max / c))


def n_pieces(scenario: Scenario, pruning: str) -> int:
    """Number of linear pieces of the work of ``pruning`` on ``[0, rho_max]``."""
    cols = _Columns(scenario, np.array([scenario.profile.n_blocks]))
    return int(cols.n_pieces[pruning_kinds(scenario).index(pruning)])


def best_over_kinds(scenario: Scenario, sols: dict) -> Solution:
    """The best of per-kind solutions ``{kind: Solution}``: the least objective, ties (relative
    ``1e-9``) to the least energy, as the optimiser picks."""
    ok = {k: v for k, v in sols.items() if v.feasible}
    if not ok:
        return next(iter(sols.values()))
    best = min(float(v.objective) for v in ok.values())
    tied = [v for v in ok.values() if v.objective <= best + 1e-9 * abs(best)]
    return min(tied, key=lambda v: v.energy)


def infeasible(scenario: Scenario, split: int | None, reason: str, method: str) -> Solution:
    """A single infeasible :class:`Solution` (NaN numbers) with its ``reason``."""
    g = np.array([scenario.uplink.gain])
    nan = np.array([np.nan])
    s = np.array([-1 if split is None else split])
    return assemble(
        scenario,
        g,
        s,
        nan,
        nan,
        nan,
        np.array([False]),
        [reason],
        method=method,
        fixed_split=split,
    )[0]


def best_over_splits(scenario: Scenario, split, per_split, method: str) -> Solution:
    """The best of ``per_split(s)`` over the searched splits, by the optimiser's own split rule
    (:func:`coinfer.optimize.solver.select_split`)."""
    splits = split_range(scenario, split)
    sols = [per_split(int(s)) for s in splits]
    rho = np.array([[x.rho if x.feasible else np.nan for x in sols]])
    energy = np.array([[x.energy if x.feasible else np.nan for x in sols]])
    extra = dict(
        splits=splits,
        split_rho=rho[0],
        split_energy=energy[0],
        split_feasible=np.array([bool(x.feasible) for x in sols]),
        method=method,
    )
    if not np.any(np.isfinite(rho)):
        reasons = sorted({x.reason for x in sols})
        sol = infeasible(scenario, split, "; ".join(reasons)[:500], method)
    else:
        sol = sols[int(select_split(rho, energy)[0])]
    return Solution(**{**sol.__dict__, **extra})


def uplink_cone(k: dict, T: float):
    """The uplink of split constants ``k`` in its convex form, times scaled by ``T`` (s).

    Returns ``(t_u, z, constraints)``: the uplink time ``t_u`` (s), and ``z`` with
    ``(sig / T, t_u / T, z)`` in the exponential cone, i.e. ``z >= (t_u / T) exp(sig / t_u)``, so that
    ``c T (z - t_u / T)`` is the uplink energy ``t_u (N0 B / g)(2^(S / (B t_u)) - 1)`` in J; and the
    power limit ``t_u >= sig / x_max``.
    """
    import cvxpy as cp

    tu = cp.Variable(pos=True)
    z = cp.Variable()
    cons = [
        cp.constraints.ExpCone(k["sig"] / T * np.ones(()), tu / T, z),
        tu >= k["sig"] / k["x_max"],
    ]
    return tu, z, cons
