"""Time the joint optimiser against its references in one run; print medians and ratios.

Not a test: a measurement. Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_solver.py                 # timings, single and batched
    .venv/bin/python benchmarks/bench_solver.py --compare 1000  # plus the random-instance comparison

The single instance is LLaMA-2-7B (32 blocks, 128 tokens, splits 1..32) at the default device and link
with a 2 s latency and 0.05 J energy budget, where both limits bind at an interior clock and power.
Each solver runs on the same instance; ratios are reference median / solver median, measured here,
now, on this machine (pin one thread: ``OMP_NUM_THREADS=1``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from coinfer.optimize import solve, solve_batch  # noqa: E402
from coinfer.optimize.references import (  # noqa: E402
    compare_solvers,
    cvxpy_solve,
    grid_solve,
    sca_solve,
    slsqp_solve,
)
from coinfer.system import Budget, Scenario  # noqa: E402


def bench_scenario() -> Scenario:
    """The benchmark instance: LLaMA-2-7B, 2 s and 0.05 J budgets."""
    return Scenario.default(model="llama-2-7b", budget=Budget(latency=2.0, energy=0.05))


def median_time(fn, repeats: int) -> tuple[float, object]:
    """Median wall time in s of ``fn()`` over ``repeats`` runs, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def timings(repeats: int = 200, ref_repeats: int = 3, batch: int = 10_000, seed: int = 0) -> dict:
    """Medians (s) of the solver and each reference on :func:`bench_scenario`, and batch throughput."""
    sc = bench_scenario()
    solve(sc)  # warm-up (imports, caches)
    t_ours, ours = median_time(lambda: solve(sc), repeats)
    rows = {"coinfer.solve": (t_ours, ours)}
    refs = {
        "cvxpy (conic)": lambda: cvxpy_solve(sc),
        "grid 65^3": lambda: grid_solve(sc, n_rho=65, n_power=65, n_freq=65),
        "slsqp x8": lambda: slsqp_solve(sc, n_starts=8, seed=seed),
        "sca": lambda: sca_solve(sc),
    }
    for name, fn in refs.items():
        rows[name] = median_time(fn, ref_repeats)
    gains = sc.uplink.gain * np.random.default_rng(seed).exponential(size=batch)
    solve_batch(sc, gains[:10])
    t_batch, bat = median_time(lambda: solve_batch(sc, gains), 3)
    n_splits = len(bat.splits)
    return dict(
        scenario=sc,
        rows=rows,
        batch=batch,
        n_splits=n_splits,
        t_batch=t_batch,
        instance_splits_per_s=batch * n_splits / t_batch,
        batch_feasible=float(np.mean(bat.feasible)),
    )


def print_timings(res: dict) -> None:
    rows = res["rows"]
    t0, ours = rows["coinfer.solve"]
    print(f"instance: {res['scenario'].profile.name}, splits {ours.splits[0]}..{ours.splits[-1]}, "
          f"T_max {res['scenario'].budget.latency:.3f} s, E_max {res['scenario'].budget.energy:.3f} J")
    print(f"{'method':<16}{'median (ms)':>14}{'ratio':>12}{'split':>7}{'rho':>14}{'|drho|':>11}"
          f"{'energy (J)':>13}")
    for name, (t, sol) in rows.items():
        drho = abs(sol.rho - ours.rho) if sol.feasible else float("nan")
        print(f"{name:<16}{t * 1e3:>14.3f}{t / t0:>12.1f}{sol.split:>7d}{sol.rho:>14.9f}{drho:>11.2e}"
              f"{sol.energy:>13.6f}")
    print(f"batched: {res['batch']} gains x {res['n_splits']} splits in {res['t_batch'] * 1e3:.1f} ms "
          f"= {res['instance_splits_per_s']:.0f} instance-splits/s "
          f"({res['t_batch'] / res['batch'] * 1e6:.1f} us per instance; "
          f"{res['batch_feasible']:.3f} feasible)")


def print_comparison(out: dict) -> None:
    ours = out["coinfer"]
    n = len(ours["rho"])
    print(f"comparison on {n} random instances ({int(ours['feasible'].sum())} feasible for coinfer)")
    print(f"{'reference':<10}{'better':>8}{'short':>8}{'missed':>8}{'viol/none':>10}"
          f"{'cheaper':>9}{'max short':>12}{'median ms':>11}")
    for m in [k for k in out if k not in ("coinfer", "grid_resolution", "seeds")]:
        ref = out[m]
        both = ours["feasible"] & ref["feasible"]
        d = ref["rho"] - ours["rho"]
        tol = out["grid_resolution"] if m == "grid" else 1e-6
        better = int(np.sum(d[both] < -1e-9))
        short = int(np.sum(d[both] > (tol[both] if m == "grid" else tol)))
        missed = int(np.sum(ours["feasible"] & ~ref["feasible"]))
        extra = int(np.sum(~ours["feasible"] & ref["feasible"]))
        worst = float(np.max(d[both])) if both.any() else float("nan")
        same = both & (np.abs(d) <= 1e-12)
        cheaper = int(np.sum(same & (ref["energy"] < ours["energy"] * (1 - 1e-6))))
        print(f"{m:<10}{better:>8d}{short:>8d}{missed:>8d}{extra:>10d}{cheaper:>9d}{worst:>12.2e}"
              f"{np.median(ref['time']) * 1e3:>11.1f}")
    print(f"coinfer median {np.median(ours['time']) * 1e3:.3f} ms")
    print("better: reference rho below ours by > 1e-9 (would refute optimality); short: reference rho "
          "above ours by > 1e-6 (grid: > its rho step); missed: feasible instance the reference "
          "declared infeasible; viol/none: reference feasible where coinfer is not; cheaper: same rho "
          "(to 1e-12) with device energy lower than ours by > 1e-6 relative")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=200, help="timing repeats of the solver")
    ap.add_argument("--ref-repeats", type=int, default=3, help="timing repeats of each reference")
    ap.add_argument("--batch", type=int, default=10_000, help="number of gains in the batched run")
    ap.add_argument("--compare", type=int, default=0, help="random instances to compare on (0: skip)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    print_timings(timings(args.repeats, args.ref_repeats, args.batch, args.seed))
    if args.compare:
        print_comparison(compare_solvers(args.compare, seed=args.seed, progress=True))


if __name__ == "__main__":
    main()
