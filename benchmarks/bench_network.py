"""Many devices, one server: time the network solver as K grows and check it against references.

Not a test: a measurement. Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_network.py --scale 10000             # timings up to K = 10,000
    .venv/bin/python benchmarks/bench_network.py --compare 500 --scale 0   # reference comparison

Timings: :func:`coinfer.network.solve_network` on random drops (phone NPUs and laptops in a 200 m
cell, so that every device can at least run on its own; band and server grow with K), against a
per-device loop of :func:`coinfer.optimize.solve` measured in the same run on a sample of devices
and scaled to K (the loop a direct approach needs once per trial division; it is a lower bound on
such an approach, which needs many divisions). Ratios are measured here, now, on this machine.

Comparison: random drops (one model and one device class per instance, drawn at random; totals
scaled by a random factor in [0.05, 2] of the single-device defaults), K = 2 and K = 3, both
objectives. Two references on every instance: a grid over the divisions (each share a multiple of
1/24 of its total for K = 2, 625 divisions; of 1/6 for K = 3, 784 divisions; exact single-device
solves at each) and multi-start Nelder-Mead over the shares (softmax-parametrised so that they
always sum to the totals; two starts, 60 evaluations each). For each instance it reports whether
every returned device is feasible with its shares (:func:`coinfer.system.evaluate`) and the shares
respect the totals, whether a reference went below the certified lower bound (must never happen),
whether a reference served a cell the solver did not, how often and by how much a reference beat
the returned division, and the certified relative gap. ``--part i/n`` runs every n-th instance
(to split the run over processes).
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from scipy.optimize import minimize  # noqa: E402

from coinfer.network import random_network, solve_network  # noqa: E402
from coinfer.optimize import solve  # noqa: E402
from coinfer.system import evaluate  # noqa: E402


def scale_network(k: int, seed: int = 0):
    """A drop of K devices with a band and a server that grow with K (100 kHz, 50 GFLOP/s each)."""
    return random_network(
        k,
        seed,
        device_classes=("phone-npu", "laptop"),
        radius=200.0,
        bandwidth=1e5 * k,
        server_flops=5e10 * k,
    )


def bench_scale(ks, sample: int = 40) -> None:
    print(
        "\nK        max (s)   sum (s)   per-device loop (s, est.)   loop / max   gap max   gap sum"
    )
    for k in ks:
        net = scale_network(k)
        t0 = time.perf_counter()
        fair = solve_network(net)
        t_max = time.perf_counter() - t0
        t0 = time.perf_counter()
        eff = solve_network(net.replace(objective="sum"))
        t_sum = time.perf_counter() - t0
        idx = np.linspace(0, k - 1, min(sample, k)).astype(int)
        t0 = time.perf_counter()
        for i in idx:
            sc = net.devices[i]
            solve(sc.replace(bandwidth=net.bandwidth / k, flops=net.server_flops / k))
        t_loop = (time.perf_counter() - t0) / idx.size * k
        print(
            f"{k:<8d} {t_max:8.2f}  {t_sum:8.2f}  {t_loop:14.2f}            {t_loop / t_max:8.2f}"
            f"   {fair.gap / max(fair.objective, 1e-300):7.1%}   "
            f"{eff.gap / max(eff.objective, 1e-300):7.1%}"
        )


def device_value(sc, b, p):
    """``Dbar`` of one device with shares ``(b, p)``; ``inf`` when it cannot meet its budgets."""
    s = (
        solve(sc.replace(bandwidth=b, flops=p))
        if b > 0 and p > 0
        else solve(sc, split=sc.profile.n_blocks)
    )
    return float(sc.objective(s.rho)) if s.feasible else math.inf


def network_value(net, bs, ps):
    vals = [device_value(sc, b, p) for sc, b, p in zip(net.devices, bs, ps, strict=True)]
    return max(vals) if net.objective == "max" else sum(vals)


def ref_grid(net, steps: int) -> float:
    """Best network value over every division on a grid: each device's share of each resource a
    multiple of ``1 / steps`` of the total, the shares summing to the total (exact solves)."""
    k = net.size
    fracs = [c for c in itertools.product(range(steps + 1), repeat=k - 1) if sum(c) <= steps]
    fracs = [np.array([*c, steps - sum(c)]) / steps for c in fracs]
    best = math.inf
    for fb in fracs:
        for fp in fracs:
            best = min(best, network_value(net, fb * net.bandwidth, fp * net.server_flops))
    return best


def ref_nelder_mead(net, starts: int = 2, seed: int = 0) -> float:
    k = net.size
    rng = np.random.default_rng(seed)

    def shares(x):
        e = np.exp(np.concatenate([x[: k - 1], [0.0]]))
        f = np.exp(np.concatenate([x[k - 1 :], [0.0]]))
        return net.bandwidth * e / e.sum(), net.server_flops * f / f.sum()

    def penalised(x):
        v = network_value(net, *shares(x))
        return v if math.isfinite(v) else 1e6

    best = math.inf
    for s in range(starts):
        x0 = np.zeros(2 * (k - 1)) if s == 0 else rng.normal(0.0, 1.5, 2 * (k - 1))
        res = minimize(
            penalised,
            x0,
            method="Nelder-Mead",
            options={"maxfev": 60, "xatol": 1e-3, "fatol": 1e-6},
        )
        best = min(best, network_value(net, *shares(res.x)))
    return best


def check_feasible(net, sol) -> bool:
    ok = sol.bandwidth.sum() <= net.bandwidth * (1 + 1e-12)
    ok &= sol.server_flops.sum() <= net.server_flops * (1 + 1e-12)
    for sc, d, b, p in zip(net.devices, sol.devices, sol.bandwidth, sol.server_flops, strict=True):
        shared = sc.replace(bandwidth=float(b), flops=float(p)) if b > 0 and p > 0 else sc
        if not (b > 0 and p > 0) and d.split != sc.profile.n_blocks:
            return False
        ok &= bool(evaluate(shared, d.split, d.rho, d.power, d.freq).feasible)
    return bool(ok)


GRID_STEPS = {2: 24, 3: 6}  # the reference grid: 625 divisions for K = 2, 784 for K = 3


def bench_compare(n_instances: int, seed: int = 0, part: tuple[int, int] = (0, 1)) -> None:
    rng = np.random.default_rng(seed)
    counts = {}
    t_ours = t_ref = 0.0
    for m in range(n_instances):
        k = 2 if m % 2 == 0 else 3
        kind = "max" if (m // 2) % 2 == 0 else "sum"
        scale = float(np.exp(rng.uniform(np.log(0.05), np.log(2.0))))
        model = str(rng.choice(["gpt2", "gpt2-medium"]))
        device = str(rng.choice(["phone-cpu", "phone-npu", "laptop", "iot"]))
        if m % part[1] != part[0]:
            continue
        net = random_network(
            k,
            1000 + m,
            objective=kind,
            bandwidth=5e6 * scale,
            server_flops=1.28e12 * scale,
            models=(model,),
            device_classes=(device,),
        )
        t0 = time.perf_counter()
        sol = solve_network(net)
        t_ours += time.perf_counter() - t0
        t0 = time.perf_counter()
        refs = {"grid": ref_grid(net, GRID_STEPS[k]), "nelder-mead": ref_nelder_mead(net, seed=m)}
        t_ref += time.perf_counter() - t0
        c = counts.setdefault(
            (k, kind),
            dict(
                n=0,
                feasible=0,
                ref_feasible=0,
                checked=0,
                below_lb=0,
                beaten=0,
                worst=0.0,
                gap=[],
                missed=0,
            ),
        )
        c["n"] += 1
        ref = min(refs.values())
        c["ref_feasible"] += math.isfinite(ref)
        c["missed"] += math.isfinite(ref) and not sol.feasible
        if sol.feasible:
            c["feasible"] += 1
            c["checked"] += check_feasible(net, sol)
            c["gap"].append(sol.gap / max(sol.objective, 1e-12) if sol.gap > 0 else 0.0)
            if math.isfinite(ref):
                c["below_lb"] += ref < sol.lower_bound - 1e-9 * max(1.0, abs(ref))
                margin = (sol.objective - ref) / max(abs(sol.objective), 1e-12)
                c["beaten"] += margin > 1e-6
                c["worst"] = max(c["worst"], margin)
        if (m + 1) % 50 == 0:
            print(
                f"  ... {m + 1} instances, {t_ours:.0f} s solver, {t_ref:.0f} s references",
                flush=True,
            )
    print(
        f"\n{sum(c['n'] for c in counts.values())} instances; network solver {t_ours:.1f} s in "
        f"total, references {t_ref:.1f} s (ratio references / solver {t_ref / t_ours:.2f})"
    )
    print(
        "K  obj   n    solved  ref solved  missed  feasible+totals ok  ref < lower bound  "
        "ref better  worst rel. margin  median rel. gap  gap <= 1e-4  max rel. gap"
    )
    for (k, kind), c in sorted(counts.items()):
        gaps = np.array(c["gap"])
        gap = np.median(gaps) if gaps.size else math.nan
        tight = int(np.sum(gaps <= 1e-4))
        widest = gaps.max() if gaps.size else math.nan
        print(
            f"{k}  {kind:4s} {c['n']:4d} {c['feasible']:8d} {c['ref_feasible']:10d} "
            f"{c['missed']:6d} {c['checked']:12d}        {c['below_lb']:10d}        "
            f"{c['beaten']:8d}   {c['worst']:14.3%}   {gap:12.2%}   {tight:8d}   {widest:10.2%}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--scale", type=int, default=10000, help="largest K of the timing table (0: skip)"
    )
    ap.add_argument("--compare", type=int, default=0, help="instances of the reference comparison")
    ap.add_argument(
        "--part", default="0/1", help="run only instances m with m %% n == i, given as i/n"
    )
    args = ap.parse_args()
    if args.scale:
        ks = [k for k in (10, 100, 1000, 10000, 100000) if k <= args.scale]
        bench_scale(ks)
    if args.compare:
        i, n = (int(v) for v in args.part.split("/"))
        bench_compare(args.compare, part=(i, n))


if __name__ == "__main__":
    main()
