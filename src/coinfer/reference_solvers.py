"""Independent reference solvers for the joint problem, to check :mod:`coinfer.optimize` against.

Each reference is its own function and returns a :class:`coinfer.optimize.Solution` whose ``feasible``
flag is recomputed with :func:`coinfer.system.evaluate` (relative tolerance 1e-9), so a reference that
returns a slightly violating point says so:

- :func:`cvxpy_least_energy` and :func:`cvxpy_solve`: the convex reformulation in the time shares,
  solved by a conic solver (exponential cone for the uplink energy, power cone for the device energy).
- :func:`grid_solve`: a dense brute-force grid over ``(rho, p, f)`` of the original problem.
- :func:`slsqp_solve`: scipy SLSQP with several random starts on the original non-convex problem.
- :func:`sca_solve`: successive convex approximation (convex upper bounds of the bilinear device terms,
  refined around the current point, with penalised slacks) of the kind the literature uses.

:func:`random_scenario` draws seeded random instances and :func:`compare_solvers` runs everything on
them (used by the book chapter "The optimisation algorithm" and ``benchmarks/bench_solver.py``).
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np

from .optimize import (
    Solution,
    _check_scenario,
    _Columns,
    _solution_from_point,
    infeasible_solution,
    solve,
    split_range,
)
from .ratedistortion import DistortionBound
from .system import Budget, Device, EdgeServer, ModelProfile, Scenario, Uplink, evaluate, path_gain
from .validation import check_int, check_real

__all__ = [
    "cvxpy_least_energy",
    "cvxpy_solve",
    "grid_solve",
    "slsqp_solve",
    "sca_solve",
    "random_scenario",
    "compare_solvers",
    "REFERENCES",
]

_LN2 = math.log(2.0)
_TIE_RHO = 1e-9
# Conic solver tolerances well below the 1e-9 relative slack that evaluate() allows.
_TOLS = {"CLARABEL": dict(tol_feas=1e-12, tol_gap_abs=1e-12, tol_gap_rel=1e-12, max_iter=500)}


def _solve_quietly(prob, solver):
    """Solve with tight tolerances; "may be inaccurate" warnings are moot: every point is re-checked."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        prob.solve(solver=solver, **_TOLS.get(solver, {}))


def _consts(scenario, s):
    """Scalars of split ``s``: cycles ``w = wF u + wA``, server s ``sF u + sA``, ``sig = S ln2 / B``."""
    cols = _Columns(scenario, np.array([s]))
    up, dev = scenario.uplink, scenario.device
    c = up.noise_psd * up.bandwidth / up.gain
    return dict(
        wF=float(cols.wF[0]),
        wA=float(cols.wA[0]),
        sF=float(cols.sF[0]),
        sA=float(cols.sA[0]),
        sig=float(cols.sig[0]),
        c=c,
        x_max=math.log1p(dev.p_max / c),
    )


def _best(scenario, split, per_split, method) -> Solution:
    """Least ``rho`` over the splits' feasible solutions, ties (1e-9) to the least energy."""
    sols = [per_split(int(s)) for s in split_range(scenario, split)]
    feas = [x for x in sols if x.feasible]
    splits = split_range(scenario, split)
    extra = dict(
        splits=splits,
        split_rho=np.array([x.rho if x.feasible else np.nan for x in sols]),
        split_energy=np.array([x.energy if x.feasible else np.nan for x in sols]),
        split_feasible=np.array([x.feasible for x in sols]),
    )
    if not feas:
        reasons = sorted({x.reason for x in sols})
        return infeasible_solution(scenario, split, "; ".join(reasons)[:500], method=method, **extra)
    best_rho = min(x.rho for x in feas)
    tied = [x for x in feas if x.rho <= best_rho + _TIE_RHO]
    win = min(tied, key=lambda x: x.energy)
    return Solution(**{**win.__dict__, **extra, "method": method})


# --------------------------------------------------------------------------------------------------
# cvxpy (conic) references
# --------------------------------------------------------------------------------------------------


def cvxpy_least_energy(scenario: Scenario, split: int, rho: float, solver: str = "CLARABEL") -> Solution:
    """Least device energy at fixed ``(split, rho)`` by cvxpy: the convex problem in the time shares.

    ``min kappa w^3 t_d^-2 + c (z - t_u)`` s.t. ``(sig, t_u, z)`` in the exponential cone
    (``z >= t_u exp(sig / t_u)``, so ``c (z - t_u)`` is the uplink energy ``t_u (N0 B / g)(2^(S/(B t_u))
    - 1)``), ``t_d + t_u <= T_max - T_s``, ``t_d >= w / f_max``, ``t_u >= sig / x_max``.
    """
    import cvxpy as cp

    _check_scenario(scenario)
    s = check_int("split", split, scenario.min_split, scenario.profile.n_blocks)
    r = check_real("rho", rho, 0.0, scenario.rho_max)
    k = _consts(scenario, s)
    dev, T = scenario.device, scenario.budget.latency
    u = 1.0 - r
    w = k["wF"] * u + k["wA"]
    slack = T - (k["sF"] * u + k["sA"])
    td_min = w / dev.f_max
    tu_min = k["sig"] / k["x_max"] if k["sig"] > 0 else 0.0
    if td_min + tu_min > slack:
        return infeasible_solution(scenario, s, "latency: T_max exceeded even at f_max and p_max",
                                   method="cvxpy")
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
        return _solution_from_point(scenario, s, r, 0.0, dev.f_max, "cvxpy")
    cons.append(lat <= 1.0)
    prob = cp.Problem(cp.Minimize(obj), cons)
    try:
        _solve_quietly(prob, solver)
    except cp.error.SolverError as exc:
        return infeasible_solution(scenario, s, f"cvxpy solver error: {exc}", method="cvxpy")
    if prob.status not in ("optimal", "optimal_inaccurate"):
        return infeasible_solution(scenario, s, f"cvxpy status {prob.status}", method="cvxpy")
    f = min(w / (float(td.value) * slack), dev.f_max) if td is not None else dev.f_max
    p = 0.0
    if tu is not None:
        x = k["sig"] / (float(tu.value) * slack)
        p = min(k["c"] * math.expm1(x), dev.p_max)
    return _solution_from_point(scenario, s, r, p, f, "cvxpy")


def _cvxpy_max_u(scenario, s, solver):
    """Largest ``u = 1 - rho`` at split ``s``: a convex program in ``(u, t_d, t_u)``."""
    import cvxpy as cp

    k = _consts(scenario, s)
    dev, bud = scenario.device, scenario.budget
    T, E = bud.latency, bud.energy
    u_min = 1.0 - scenario.rho_max
    W0 = k["wF"] + k["wA"]  # cycles at u = 1, to normalise w
    u = cp.Variable()
    cons = [u >= u_min, u <= 1.0]
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
        tu = cp.Variable(pos=True)
        z = cp.Variable()
        cons += [cp.constraints.ExpCone(k["sig"] / T * np.ones(()), tu / T, z),
                 tu >= k["sig"] / k["x_max"]]
        lat = lat + tu
        energy = energy + (k["c"] * T / e0) * (z - tu / T)
    cons.append(lat / T <= 1.0)
    if math.isfinite(E) and not isinstance(energy, float):
        cons.append(energy <= 1.0)
    prob = cp.Problem(cp.Maximize(u), cons)
    try:
        _solve_quietly(prob, solver)
    except cp.error.SolverError:
        return None
    if prob.status not in ("optimal", "optimal_inaccurate"):
        return None
    return float(u.value)


def cvxpy_solve(scenario: Scenario, split=None, solver: str = "CLARABEL") -> Solution:
    """The joint problem by cvxpy: per split, the smallest ``rho`` as one convex conic program.

    In ``(u, t_d, t_u)`` with ``u = 1 - rho`` the feasible set is convex: ``kappa w(u)^3 / t_d^2`` is
    the perspective of a cube (power cone), the uplink energy the perspective of an exponential
    (exponential cone), the rest affine. The least energy at the found ``rho`` then comes from
    :func:`cvxpy_least_energy`.
    """
    _check_scenario(scenario)

    def per_split(s):
        u = _cvxpy_max_u(scenario, s, solver)
        if u is None:
            return infeasible_solution(scenario, s, f"cvxpy: no feasible point at split {s}",
                                       method="cvxpy")
        rho = float(np.clip(1.0 - u, 0.0, scenario.rho_max))
        sol = cvxpy_least_energy(scenario, s, rho, solver=solver)
        # The conic solver's u may overshoot by its tolerance: back off to a verified point.
        for step in (1e-10, 1e-9, 1e-8, 1e-7):
            if sol.feasible or rho + step > scenario.rho_max:
                break
            sol = cvxpy_least_energy(scenario, s, rho + step, solver=solver)
        return sol

    return _best(scenario, split, per_split, "cvxpy")


# --------------------------------------------------------------------------------------------------
# Brute-force grid
# --------------------------------------------------------------------------------------------------


def grid_solve(scenario: Scenario, split=None, n_rho: int = 65, n_power: int = 65,
               n_freq: int = 65) -> Solution:
    """Dense brute-force grid over ``(rho, p, f)`` of the original problem, per split.

    ``rho`` on ``n_rho`` equispaced values in ``[0, rho_max]``, ``p`` on ``n_power`` values in
    ``(0, p_max]``, ``f`` on ``n_freq`` values in ``(0, f_max]``; every grid point is checked with
    :func:`coinfer.system.evaluate`; the best is the least feasible ``rho``, then the least energy.
    Its resolution in ``rho`` is ``rho_max / (n_rho - 1)``.
    """
    _check_scenario(scenario)
    n_rho = check_int("n_rho", n_rho, 2)
    n_power = check_int("n_power", n_power, 1)
    n_freq = check_int("n_freq", n_freq, 1)
    dev = scenario.device
    rho = np.linspace(0.0, scenario.rho_max, n_rho)[:, None, None]
    p = (dev.p_max * np.arange(1, n_power + 1) / n_power)[None, :, None]
    f = (dev.f_max * np.arange(1, n_freq + 1) / n_freq)[None, None, :]

    def per_split(s):
        bd = evaluate(scenario, s, rho, p, f)
        ok = bd.feasible
        if not ok.any():
            return infeasible_solution(scenario, s, f"grid: no feasible grid point at split {s}",
                                       method="grid")
        i = int(np.argmax(ok.any(axis=(1, 2))))  # least feasible rho index
        e = np.where(ok[i], bd.energy[i], np.inf)
        j, m = np.unravel_index(int(np.argmin(e)), e.shape)
        return _solution_from_point(scenario, s, float(rho[i, 0, 0]), float(p[0, j, 0]),
                                    float(f[0, 0, m]), "grid")

    return _best(scenario, split, per_split, "grid")


# --------------------------------------------------------------------------------------------------
# Multi-start SLSQP on the original non-convex problem
# --------------------------------------------------------------------------------------------------


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
    dscale = float(scenario.bound(scenario.rho_max))

    def per_split(s):
        k = _consts(scenario, s)

        def lat_en(z):
            u = 1.0 - z[0] * scenario.rho_max
            p, f = z[1] * dev.p_max, z[2] * dev.f_max
            w = k["wF"] * u + k["wA"]
            x = math.log1p(p / k["c"])
            tu = k["sig"] / x if k["sig"] > 0 else 0.0
            return w / f + tu + k["sF"] * u + k["sA"], dev.kappa * w * f * f + p * tu

        cons = [{"type": "ineq", "fun": lambda z: 1.0 - lat_en(z)[0] / T}]
        if math.isfinite(E):
            cons.append({"type": "ineq", "fun": lambda z: 1.0 - lat_en(z)[1] / E})
        lo = 1e-9
        bounds = [(0.0, 1.0), (lo, 1.0), (lo, 1.0)]
        best = None
        for z0 in rng.uniform([0, lo, lo], [1, 1, 1], size=(n_starts, 3)):
            res = minimize(lambda z: float(scenario.bound(z[0] * scenario.rho_max)) / dscale, z0,
                           method="SLSQP", bounds=bounds, constraints=cons,
                           options={"ftol": 1e-12, "maxiter": 300})
            z = np.clip(res.x, [0, lo, lo], [1, 1, 1])
            sol = _solution_from_point(scenario, s, float(z[0] * scenario.rho_max),
                                       float(z[1] * dev.p_max), float(z[2] * dev.f_max), "slsqp")
            if sol.feasible and (best is None or (sol.rho, sol.energy) < (best.rho, best.energy)):
                best = sol
        if best is None:
            return infeasible_solution(scenario, s, f"slsqp: no feasible end point at split {s}",
                                       method="slsqp")
        return best

    return _best(scenario, split, per_split, "slsqp")


# --------------------------------------------------------------------------------------------------
# Successive convex approximation
# --------------------------------------------------------------------------------------------------


def sca_solve(scenario: Scenario, split=None, max_iter: int = 50, tol: float = 1e-9,
              penalty: float = 100.0, solver: str = "CLARABEL") -> Solution:
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
        k = _consts(scenario, s)
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
            tu = cp.Variable(pos=True)
            z = cp.Variable()
            cons += [cp.constraints.ExpCone(k["sig"] / T * np.ones(()), tu / T, z),
                     tu >= k["sig"] / k["x_max"]]
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
                _solve_quietly(prob, solver)
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
            return infeasible_solution(scenario, s, f"sca: subproblem failed at split {s}",
                                       method="sca")
        p = 0.0
        if tu is not None and tu.value is not None:
            p = min(k["c"] * math.expm1(k["sig"] / float(tu.value)), dev.p_max)
        sol = _solution_from_point(scenario, s, 1.0 - u0, p, F0 * fm, "sca")
        return sol

    return _best(scenario, split, per_split, "sca")


REFERENCES = {
    "cvxpy": cvxpy_solve,
    "grid": grid_solve,
    "slsqp": slsqp_solve,
    "sca": sca_solve,
}


# --------------------------------------------------------------------------------------------------
# Random instances and the comparison
# --------------------------------------------------------------------------------------------------


def random_scenario(seed: int) -> Scenario:
    """A seeded random instance: a synthetic 1-6 block profile and random device, link and budgets.

    Block FLOPs, feature sizes, clocks, capacitance, power, bandwidth, distance (3GPP path loss with
    Rayleigh fading), server speed, ``rho_max`` and ``min_split`` (0 or 1) are drawn at random; the
    budgets are scaled around the cost of a middle split at full speed so that the draws mix
    latency-bound, energy-bound, unconstrained and infeasible instances. About one in ten instances has
    no energy limit.
    """
    rng = np.random.default_rng(check_int("seed", seed, 0))
    L = int(rng.integers(1, 7))
    wf = rng.lognormal(np.log(2e10), 0.7, size=L)
    af = wf * rng.uniform(0.0, 0.2, size=L)
    bits = np.concatenate([[rng.uniform(1e3, 1e5)], rng.lognormal(np.log(2e6), 0.8, size=L - 1), [0.0]])
    prof = ModelProfile(weight_flops=wf, attn_flops=af, head_flops=float(rng.uniform(0, 0.3) * wf[0]),
                        feature_bits=bits, name=f"random-{seed}", seq_len=0)
    dev = Device(f_max=float(rng.uniform(0.5e9, 3e9)), flops_per_cycle=float(rng.choice([8, 16, 32])),
                 kappa=float(10 ** rng.uniform(-29.5, -27.5)), p_max=float(rng.uniform(0.05, 1.0)))
    gain = float(path_gain(rng.uniform(20.0, 500.0)) * rng.exponential())
    up = Uplink(bandwidth=float(rng.uniform(1e6, 20e6)), gain=max(gain, 1e-30))
    srv = EdgeServer(flops=float(10 ** rng.uniform(11.5, 13)))
    rho_max = float(rng.uniform(0.5, 0.99))
    min_split = 0 if rng.uniform() < 0.2 else 1
    base = Scenario(profile=prof, device=dev, uplink=up, server=srv, rho_max=rho_max,
                    min_split=min_split, bound=DistortionBound())
    mid = (L + 1) // 2
    bd = evaluate(base, mid, 0.5, dev.p_max, dev.f_max)
    T = float(bd.latency) * float(10 ** rng.uniform(-0.6, 0.4))
    E = float(bd.energy) * float(10 ** rng.uniform(-2.0, 0.0)) if rng.uniform() > 0.1 else math.inf
    return base.replace(budget=Budget(latency=T, energy=E))


def compare_solvers(n_instances: int, seed: int = 0, references=("cvxpy", "grid", "slsqp", "sca"),
                    grid_points: int = 41, slsqp_starts: int = 4, progress: bool = False) -> dict:
    """Solve ``n_instances`` random instances (seeds ``seed..seed+n-1``) with the solver and references.

    Returns a dict of arrays over instances: ``rho`` and ``feasible`` and ``time`` (s) per method
    (``"coinfer"`` and each reference), ``energy`` per method, ``grid_resolution`` (the grid's ``rho``
    step) and ``seeds``.
    """
    n = check_int("n_instances", n_instances, 1)
    methods = ["coinfer", *references]
    fns = {"coinfer": solve}
    for name in references:
        if name not in REFERENCES:
            raise ValueError(f"references must be among {sorted(REFERENCES)}; got {name!r}")
        fns[name] = REFERENCES[name]
    kwargs = {"grid": dict(n_rho=grid_points, n_power=grid_points, n_freq=grid_points),
              "slsqp": dict(n_starts=slsqp_starts, seed=0)}
    out = {m: dict(rho=np.full(n, np.nan), energy=np.full(n, np.nan), feasible=np.zeros(n, bool),
                   time=np.zeros(n)) for m in methods}
    res = np.zeros(n)
    it = range(n)
    if progress:
        from tqdm import tqdm

        it = tqdm(it)
    for i in it:
        sc = random_scenario(seed + i)
        res[i] = sc.rho_max / (grid_points - 1)
        for m in methods:
            t0 = time.perf_counter()
            sol = fns[m](sc, **kwargs.get(m, {}))
            out[m]["time"][i] = time.perf_counter() - t0
            out[m]["feasible"][i] = sol.feasible
            out[m]["rho"][i] = sol.rho if sol.feasible else np.nan
            out[m]["energy"][i] = sol.energy if sol.feasible else np.nan
    out["grid_resolution"] = res
    out["seeds"] = np.arange(seed, seed + n)
    return out
