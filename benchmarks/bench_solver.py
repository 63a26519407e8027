"""Time the joint optimiser against its references in one run; print medians and ratios.

Not a test: a measurement. Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_solver.py                 # timings, single, batched, fuzzed
    .venv/bin/python benchmarks/bench_solver.py --fuzz 300      # the fuzzed mix only at that size
    .venv/bin/python benchmarks/bench_solver.py --compare 1000  # plus the random-instance comparison

The single instance is LLaMA-2-7B (32 blocks, 128 tokens, splits 1..32) at the default device and link
with a 2 s latency and 0.05 J energy budget, where both limits bind at an interior clock and power.
Each solver runs on the same instance; ratios are reference median / solver median, measured here,
now, on this machine (pin one thread: ``OMP_NUM_THREADS=1``).

The fuzzed mix times the solver and cvxpy on ``random_scenario(0..n-1)`` and reports the median, 90th
and 99th percentiles over instances of (a) wall time and (b) CPU time of the process
(``time.process_time``), each the median of ``--fuzz-repeats`` runs per instance. On a machine shared
with other processes, wall-time percentiles also measure how often the process was descheduled; the
CPU-time ones measure the solver.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from coinfer.optimize import solve, solve_batch  # noqa: E402
from coinfer.optimize.references import (  # noqa: E402
    compare_solvers,
    cvxpy_solve,
    grid_solve,
    random_scenario,  # noqa: E402
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
    print(
        f"instance: {res['scenario'].profile.name}, splits {ours.splits[0]}..{ours.splits[-1]}, "
        f"T_max {res['scenario'].budget.latency:.3f} s, E_max {res['scenario'].budget.energy:.3f} J"
    )
    print(
        f"{'method':<16}{'median (ms)':>14}{'ratio':>12}{'split':>7}{'rho':>14}{'|drho|':>11}"
        f"{'energy (J)':>13}"
    )
    for name, (t, sol) in rows.items():
        drho = abs(sol.rho - ours.rho) if sol.feasible else float("nan")
        print(
            f"{name:<16}{t * 1e3:>14.3f}{t / t0:>12.1f}{sol.split:>7d}{sol.rho:>14.9f}{drho:>11.2e}"
            f"{sol.energy:>13.6f}"
        )
    print(
        f"batched: {res['batch']} gains x {res['n_splits']} splits in {res['t_batch'] * 1e3:.1f} ms "
        f"= {res['instance_splits_per_s']:.0f} instance-splits/s "
        f"({res['t_batch'] / res['batch'] * 1e6:.1f} us per instance; "
        f"{res['batch_feasible']:.3f} feasible)"
    )


def fuzz(n: int = 300, repeats: int = 3, ref_repeats: int = 1, seed: int = 0) -> dict:
    """Per-instance wall and CPU times (s) of the solver and of cvxpy on ``random_scenario(seed..)``,
    each the median of its repeats; the wall time of the solver's runs that the operating system did
    not preempt (no involuntary context switch during the call; NaN if every run was preempted);
    and the solver's crossing-search iterations."""
    scs = [random_scenario(seed + i) for i in range(n)]
    solve(scs[0])
    cvxpy_solve(scs[0])
    out = {}
    for name, fn, reps in (
        ("coinfer.solve", solve, repeats),
        ("cvxpy (conic)", cvxpy_solve, ref_repeats),
    ):
        wall, cpu = np.zeros((reps, n)), np.zeros((reps, n))
        switched = np.zeros((reps, n), dtype=bool)
        for r in range(reps):
            for i, sc in enumerate(scs):
                v0 = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw
                t0, c0 = time.perf_counter(), time.process_time()
                fn(sc)
                wall[r, i], cpu[r, i] = time.perf_counter() - t0, time.process_time() - c0
                switched[r, i] = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw > v0
        calm = np.where(switched, np.nan, wall)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN instances stay NaN
            calm = np.nanmedian(calm, axis=0)
        out[name] = dict(
            wall=np.median(wall, axis=0),
            cpu=np.median(cpu, axis=0),
            calm=calm,
            preempted=float(switched.mean()),
        )
    out["iterations"] = np.array([solve(sc).iterations for sc in scs])
    return out


def print_fuzz(res: dict) -> None:
    ours = res["coinfer.solve"]
    n = len(ours["wall"])
    print(f"fuzzed mix: {n} random instances (random_scenario), times in ms")
    print(
        f"{'method':<16}{'clock':>11}{'median':>10}{'p90':>10}{'p99':>10}{'p99/median':>12}"
        f"{'ratio med':>11}{'ratio p99':>11}"
    )
    for name in ("coinfer.solve", "cvxpy (conic)"):
        for clock in ("wall", "cpu", "calm"):
            t = res[name][clock] * 1e3
            t, ref = t[np.isfinite(t)], ours[clock][np.isfinite(ours[clock])] * 1e3
            if not t.size or not ref.size:
                continue
            q = np.percentile(t, [50, 90, 99])
            r = np.percentile(ref, [50, 99])
            print(
                f"{name:<16}{clock:>11}{q[0]:>10.3f}{q[1]:>10.3f}{q[2]:>10.3f}{q[2] / q[0]:>12.2f}"
                f"{q[0] / r[0]:>11.1f}{q[2] / r[1]:>11.1f}"
            )
        print(f"{'':<16}{'':>11}  {res[name]['preempted']:.1%} of the timed calls were preempted")
    it = res["iterations"]
    print(
        f"crossing-search iterations: median {np.median(it):.0f}, p90 {np.percentile(it, 90):.0f}, "
        f"p99 {np.percentile(it, 99):.0f}, max {it.max()}"
    )
    print(
        "clock: wall = perf_counter; cpu = process_time; calm = wall time of the runs with no "
        "involuntary context switch. ratio: that method's percentile / coinfer.solve's, same "
        "clock, this run"
    )


def print_comparison(out: dict) -> None:
    ours = out["coinfer"]
    n = len(ours["rho"])
    print(
        f"comparison on {n} random instances ({int(ours['feasible'].sum())} feasible for coinfer)"
    )
    print(
        f"{'reference':<10}{'better':>8}{'short':>8}{'missed':>8}{'viol/none':>10}"
        f"{'cheaper':>9}{'max short':>12}{'median ms':>11}"
    )
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
        print(
            f"{m:<10}{better:>8d}{short:>8d}{missed:>8d}{extra:>10d}{cheaper:>9d}{worst:>12.2e}"
            f"{np.median(ref['time']) * 1e3:>11.1f}"
        )
    print(f"coinfer median {np.median(ours['time']) * 1e3:.3f} ms")
    print(
        "better: reference rho below ours by > 1e-9 (would refute optimality); short: reference rho "
        "above ours by > 1e-6 (grid: > its rho step); missed: feasible instance the reference "
        "declared infeasible; viol/none: reference feasible where coinfer is not; cheaper: same rho "
        "(to 1e-12) with device energy lower than ours by > 1e-6 relative"
    )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=200, help="timing repeats of the solver")
    ap.add_argument("--ref-repeats", type=int, default=3, help="timing repeats of each reference")
    ap.add_argument("--batch", type=int, default=10_000, help="number of gains in the batched run")
    ap.add_argument(
        "--compare", type=int, default=0, help="random instances to compare on (0: skip)"
    )
    ap.add_argument("--fuzz", type=int, default=300, help="instances of the fuzzed mix (0: skip)")
    ap.add_argument(
        "--fuzz-repeats", type=int, default=3, help="timing repeats per fuzzed instance"
    )
    ap.add_argument("--only-fuzz", action="store_true", help="skip the single and batched timings")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if not args.only_fuzz:
        print_timings(timings(args.repeats, args.ref_repeats, args.batch, args.seed))
    if args.fuzz:
        print_fuzz(fuzz(args.fuzz, args.fuzz_repeats, seed=args.seed))
    if args.compare:
        print_comparison(compare_solvers(args.compare, seed=args.seed, progress=True))


if __name__ == "__main__":
    main()
