"""Independent reference solvers for the joint problem, to check :mod:`coinfer.optimize` against.

Each reference is its own function and returns a :class:`~coinfer.optimize.result.Solution` whose
``feasible`` flag is recomputed with :func:`coinfer.system.evaluate` (relative tolerance 1e-9), so a
reference that returns a slightly violating point says so:

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

import numpy as np

from ...system import (
    Budget,
    Device,
    EdgeServer,
    ModelProfile,
    Scenario,
    Uplink,
    WorkCurve,
    evaluate,
    path_gain,
)
from ...validation import check_int
from ..solver import solve
from .conic import cvxpy_least_energy, cvxpy_solve
from .grid import grid_solve
from .sca import sca_solve
from .slsqp import slsqp_solve

__all__ = [
    "cvxpy_least_energy",
    "cvxpy_solve",
    "grid_solve",
    "slsqp_solve",
    "sca_solve",
    "random_scenario",
    "random_work_curves",
    "compare_solvers",
    "REFERENCES",
]

#: The reference solvers by name.
REFERENCES = {
    "cvxpy": cvxpy_solve,
    "grid": grid_solve,
    "slsqp": slsqp_solve,
    "sca": sca_solve,
}


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
    bits = np.concatenate(
        [[rng.uniform(1e3, 1e5)], rng.lognormal(np.log(2e6), 0.8, size=L - 1), [0.0]]
    )
    prof = ModelProfile(
        weight_flops=wf,
        attn_flops=af,
        head_flops=float(rng.uniform(0, 0.3) * wf[0]),
        feature_bits=bits,
        name=f"random-{seed}",
        seq_len=0,
    )
    dev = Device(
        f_max=float(rng.uniform(0.5e9, 3e9)),
        flops_per_cycle=float(rng.choice([8, 16, 32])),
        kappa=float(10 ** rng.uniform(-29.5, -27.5)),
        p_max=float(rng.uniform(0.05, 1.0)),
    )
    gain = float(path_gain(rng.uniform(20.0, 500.0)) * rng.exponential())
    up = Uplink(bandwidth=float(rng.uniform(1e6, 20e6)), gain=max(gain, 1e-30))
    srv = EdgeServer(flops=float(10 ** rng.uniform(11.5, 13)))
    rho_max = float(rng.uniform(0.5, 0.99))
    min_split = 0 if rng.uniform() < 0.2 else 1
    base = Scenario(
        profile=prof, device=dev, uplink=up, server=srv, rho_max=rho_max, min_split=min_split
    )
    mid = (L + 1) // 2
    bd = evaluate(base, mid, 0.5, dev.p_max, dev.f_max)
    T = float(bd.latency) * float(10 ** rng.uniform(-0.6, 0.4))
    E = float(bd.energy) * float(10 ** rng.uniform(-2.0, 0.0)) if rng.uniform() > 0.1 else math.inf
    return base.replace(budget=Budget(latency=T, energy=E))


def random_work_curves(
    scenario: Scenario, seed: int, kinds=("unstructured", "structured"), flat: float = 0.3
) -> tuple[WorkCurve, ...]:
    """Seeded random work curves that look measured, one per pruning kind in ``kinds``.

    Each kind gets its own grid of 2 to 8 pruning ratios in ``[0, 0.97]``; each split its own scale
    (0.5 to 1.5 times the paper's work at ``rho = 0``) and its own non-increasing shape: at each grid
    step the work drops by a random 0 to 60 %, or stays flat with probability ``flat``, so the
    curves have flat parts and kinks. Device cycles at ``s = 0`` and server seconds at ``s = L`` are
    0, as the model requires. For testing the solver on work it cannot know the shape of.
    """
    rng = np.random.default_rng(check_int("seed", seed, 0))
    L = scenario.profile.n_blocks
    s = np.arange(L + 1)
    cycles0 = scenario.profile.device_flops(0.0, s) / scenario.device.flops_per_cycle
    server0 = scenario.profile.server_flops(0.0, s) / scenario.server.flops
    out = []
    for kind in kinds:
        g = int(rng.integers(2, 9))
        rho = np.unique(np.round(np.concatenate([[0.0], rng.uniform(0.02, 0.97, size=g - 1)]), 6))
        g = rho.shape[0]

        def shape(g):
            keep = rng.uniform(size=(L + 1, g - 1)) > flat
            drop = rng.uniform(0.0, 0.6, size=(L + 1, g - 1)) * keep
            return np.concatenate([np.ones((L + 1, 1)), np.cumprod(1.0 - drop, axis=1)], axis=1)

        cycles = cycles0[:, None] * rng.uniform(0.5, 1.5, size=(L + 1, 1)) * shape(g)
        server = server0[:, None] * rng.uniform(0.5, 1.5, size=(L + 1, 1)) * shape(g)
        out.append(WorkCurve(pruning=kind, rho=rho, device_cycles=cycles, server_seconds=server))
    return tuple(out)


def compare_solvers(
    n_instances: int,
    seed: int = 0,
    references=("cvxpy", "grid", "slsqp", "sca"),
    grid_points: int = 41,
    slsqp_starts: int = 4,
    progress: bool = False,
) -> dict:
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
    kwargs = {
        "grid": dict(n_rho=grid_points, n_power=grid_points, n_freq=grid_points),
        "slsqp": dict(n_starts=slsqp_starts, seed=0),
    }
    out = {
        m: dict(
            rho=np.full(n, np.nan),
            energy=np.full(n, np.nan),
            feasible=np.zeros(n, bool),
            time=np.zeros(n),
        )
        for m in methods
    }
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
