"""Closed loop: solve with the paper's model and with the calibrated one, run every point, compare.

For each real model (all-MiniLM-L6-v2, SmolLM2-135M) this script

1. calibrates this machine (:func:`coinfer.real.calibration.calibrate`: per-block times per pruning
   kind on a ratio grid) and measures the quality loss against the pruning ratio on calibration text
   (:func:`coinfer.real.quality.quality_sweep`); both go through the disk cache;
2. builds scenarios over distances, latency budgets and energy budgets where pruning is needed;
3. solves each scenario twice: with the paper's model (the built-in profile, ``(1 - rho)`` work,
   the surrogate objective; its device FLOP rate ``phi_d`` fitted to the dense measurement, so both
   models agree at ``rho = 0``) and with the calibrated model (the measured work curves of both
   pruning kinds and the measured quality loss as the objective);
4. runs each operating point: the model pruned with the chosen kind (the paper's points with global
   unstructured magnitude pruning, as in the paper), the device part (embedding, blocks ``1..s``,
   the head at ``s = L``) timed on this machine (median of ``--repeats`` runs, thread CPU time) and
   scaled to the scenario's clock ``f`` as ``t f_ref / f`` (energy ``kappa t f_ref f^2``); the bits
   counted from the real features at 16 bits per value plus side information; uplink and server
   times from the system model (the server runs the FLOPs the pruned model executes);
5. measures the calibrated points' quality loss on held-out text and compares it with the
   prediction of the fitted quality curve.

Both models budget the device at ``MARGIN`` times the calibrated time: the machine is shared, its
speed drifts between calibration and run, and the drift (dense time now over calibrated) is printed
before and after each model's points. A point is within budget when its measured latency is at most ``1.05 T_max`` and its energy at most
``1.05 E_max``. The last line is ``calibrated: N/M within budget; paper model: K/M within budget;
quality error median P%``.

Usage: ``python benchmarks/validate_operating_points.py [--quick] [--repeats 5]``. ``--quick`` uses a
coarser calibration grid, less text and fewer scenarios per model (at least 20 points in all).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from coinfer.optimize import solve
from coinfer.real import split_execution as ci
from coinfer.real.calibration import PROFILE_OF, _kernel_row, cached_calibration, run_device_part
from coinfer.real.quality import Pruner, measured_quality, quality_loss, quality_sweep, text_halves
from coinfer.real.structured import analytic_flops, structure_of
from coinfer.system import Budget, Scenario, evaluate, rate
from coinfer.theory.quality import relative_errors

N_TOK = 64  # tokens per inference: the profiles, the calibration and the runs
DISTANCES = {"minilm": (100.0, 300.0, 600.0), "smollm2": (300.0, 1000.0, 2000.0)}
LATENCY_FACTORS = (0.3, 0.45, 0.6, 0.75, 0.9)
ENERGY_FACTORS = (0.5, 1.0, 3.0)
#: Both models budget the device at this factor times the calibrated time: the machine is shared,
#: and its speed drifts between calibration and run (the drift is measured and printed).
MARGIN = 1.15


def settings(quick: bool) -> dict:
    """Calibration, quality and scenario sizes of a quick or a full run."""
    if quick:
        # SmolLM2's calibration dominates the run: a coarser grid for it keeps --quick short
        grid = {
            "minilm": (0.0, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9),
            "smollm2": (0.0, 0.3, 0.5, 0.7, 0.9),
        }
        return dict(
            grid=grid,
            cal_repeats=5,
            q_ratios=tuple(np.round(np.arange(0, 0.91, 0.15), 2)),
            n_seq={"minilm": 16, "smollm2": 3},
            per_model={"minilm": 12, "smollm2": 8},
        )
    full = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    return dict(
        grid={"minilm": full, "smollm2": full},
        cal_repeats=7,
        q_ratios=tuple(np.round(np.arange(0, 0.91, 0.1), 2)),
        n_seq={"minilm": 32, "smollm2": 8},
        per_model={"minilm": 24, "smollm2": 24},
    )


def models_of(key: str, cfg: dict):
    """The device profile, the quality sweep and the measured-quality objective of a model."""
    profile = cached_calibration(
        key, ratios=cfg["grid"][key], seq_len=N_TOK, repeats=cfg["cal_repeats"]
    )
    sweep = quality_sweep(key, ratios=cfg["q_ratios"], n_seq=cfg["n_seq"][key], seq_len=N_TOK)
    return profile, sweep, measured_quality(sweep, key)


def scenario_pair(key: str, profile, quality, distance: float):
    """The paper's scenario and the calibrated one at ``distance`` (budgets set later)."""
    base = Scenario.default(PROFILE_OF[key], N_TOK).replace(distance=distance)
    phi = profile.flops_per_cycle(float(base.profile.total_flops(0.0)), MARGIN)
    paper = base.replace(flops_per_cycle=phi)
    calibrated = paper.replace(work=profile.work_curves(paper.server, MARGIN), objective=quality)
    return paper, calibrated


def dense_reference(sc: Scenario) -> tuple[float, float]:
    """Latency and energy of the fastest dense point at full power and clock (s, J)."""
    splits = np.arange(sc.min_split, sc.profile.n_blocks + 1)
    kind = sc.work[0].pruning if sc.work else None
    b = evaluate(sc, splits, 0.0, sc.device.p_max, sc.device.f_max, pruning=kind)
    i = int(np.argmin(b.latency))
    return float(b.latency[i]), float(b.energy[i])


def build_scenarios(key, profile, quality, n_wanted):
    """Scenarios (paper, calibrated) where both solvers find a point and the calibrated one prunes."""
    out = []
    grid = [(d, lf, ef) for ef in ENERGY_FACTORS for lf in LATENCY_FACTORS for d in DISTANCES[key]]
    for d, lf, ef in grid:
        paper, cal = scenario_pair(key, profile, quality, d)
        t0, e0 = dense_reference(cal)
        budget = Budget(latency=lf * t0, energy=ef * e0)
        paper, cal = paper.replace(budget=budget), cal.replace(budget=budget)
        sp, sc = solve(paper), solve(cal)
        if sp.feasible and sc.feasible and sc.rho > 0:
            out.append((d, paper, sp, cal, sc))
        if len(out) == n_wanted:
            break
    return out


def run_point(pruner, profile, sc, split, rho, kind, power, freq, ids, mask, repeats):
    """Measured latency (s), energy (J) and the pruned model of one operating point."""
    kind = "unstructured" if kind in (None, "paper") else kind
    model, achieved = pruner.model(kind, rho)
    t = run_device_part(
        model, ids, mask, split, _kernel_row(profile, kind, achieved), repeats=repeats
    )
    t_host = float(np.median(t))
    cycles = t_host * profile.f_ref
    t_dev, e_dev = cycles / freq, sc.device.kappa * cycles * freq**2
    bits = ci.uplink_bits(model, mask, split, b_act=16)["total"]
    t_up = bits / float(rate(power, sc.uplink)) if bits else 0.0
    st = structure_of(pruner.dense)
    if kind == "structured":
        heads = (
            int(ci._blocks(model)[0].self_attn.num_key_value_groups)
            if st.family == "llama"
            else int(ci._blocks(model)[0].attention.self.num_attention_heads)
        )
        chans = (
            int(ci._blocks(model)[0].mlp.down_proj.in_features)
            if st.family == "llama"
            else int(ci._blocks(model)[0].output.dense.in_features)
        )
        fl = analytic_flops(st, heads, chans, N_TOK)
    else:
        fl = analytic_flops(st, st.heads_per_group, st.d_ff, N_TOK)
    L = st.n_blocks
    server_flops = (L - split) * (fl["block_weight"] + fl["block_attention"]) + (
        fl["head"] if split < L else 0.0
    )
    t_srv = server_flops / sc.server.flops
    return dict(
        latency=t_dev + t_up + t_srv,
        energy=e_dev + power * t_up,
        t_device=t_dev,
        achieved=achieved,
        model=model,
    )


def drift(pruner, profile, ids, mask, repeats: int) -> float:
    """Measured dense time of the whole model now over the calibrated (fitted) time: above 1, the
    machine is slower than when it was calibrated."""
    t = run_device_part(
        pruner.dense, ids, mask, profile.n_blocks, np.zeros(profile.n_blocks), repeats=repeats
    )
    return float(np.median(t)) / float(profile.device_seconds(profile.kinds[0])[-1, 0])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller grids, at least 20 points")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per point (median)")
    parser.add_argument(
        "--models",
        nargs="+",
        default=list(PROFILE_OF),
        choices=list(PROFILE_OF),
        help="real models to run (default: both)",
    )
    args = parser.parse_args(argv)
    if args.repeats < 5:
        parser.error(f"--repeats must be at least 5; got {args.repeats}")
    cfg = settings(args.quick)
    start = time.perf_counter()
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    rows, q_err = [], []
    try:
        for key in args.models:
            profile, sweep, quality = models_of(key, cfg)
            print(
                f"{key}: calibration {profile.seconds:.0f} s (grid {list(profile.rho)}, "
                f"f_ref {profile.f_ref / 1e9:.2f} GHz)"
            )
            points = build_scenarios(key, profile, quality, cfg["per_model"][key])
            pruner = Pruner(key)
            ids, mask = ci.english_batch(key, 1, N_TOK, seed=0)
            _, (h_ids, h_mask) = text_halves(key, cfg["n_seq"][key], N_TOK)
            with torch.no_grad():
                h_ref = ci.full_forward(pruner.dense, h_ids, h_mask)
            drifts = [drift(pruner, profile, ids, mask, args.repeats)]
            for d, paper, sp, cal, sc in points:
                row = dict(model=key, distance=d, t_max=cal.budget.latency, e_max=cal.budget.energy)
                for name, scen, sol in (("paper", paper, sp), ("calibrated", cal, sc)):
                    kind = getattr(sol, "pruning", None)
                    m = run_point(
                        pruner,
                        profile,
                        scen,
                        sol.split,
                        sol.rho,
                        kind,
                        sol.power,
                        sol.freq,
                        ids,
                        mask,
                        args.repeats,
                    )
                    row[name] = dict(
                        split=sol.split,
                        rho=sol.rho,
                        kind=kind or "unstructured",
                        lat=m["latency"] / scen.budget.latency,
                        en=m["energy"] / scen.budget.energy,
                    )
                    if name == "calibrated":
                        with torch.no_grad():
                            out = ci.full_forward(m["model"], h_ids, h_mask)
                        measured = quality_loss(key, out, h_ref, h_ids, h_mask)["loss"]
                        predicted = float(quality(m["achieved"], kind))
                        row[name].update(q_pred=predicted, q_meas=measured)
                        q_err.append(float(relative_errors(predicted, measured)))
                rows.append(row)
                p, c = row["paper"], row["calibrated"]
                print(
                    f"{key:8s} d {d:6.0f} m  T_max {row['t_max'] * 1e3:7.2f} ms  "
                    f"E_max {row['e_max'] * 1e3:7.2f} mJ | paper s {p['split']:2d} "
                    f"rho {p['rho']:.3f} T/Tmax {p['lat']:.2f} E/Emax {p['en']:.2f} | "
                    f"calibrated {c['kind'][:6]} s {c['split']:2d} rho {c['rho']:.3f} "
                    f"T/Tmax {c['lat']:.2f} E/Emax {c['en']:.2f} "
                    f"quality pred {c['q_pred']:.4f} meas {c['q_meas']:.4f}"
                )
            drifts.append(drift(pruner, profile, ids, mask, args.repeats))
            print(
                f"{key}: dense time now / calibrated: {drifts[0]:.2f} before, {drifts[1]:.2f} after "
                f"(margin {MARGIN:.2f})"
            )
    finally:
        torch.set_num_threads(old)

    def within(r):
        return r["lat"] <= 1.05 and r["en"] <= 1.05

    n_cal = sum(within(r["calibrated"]) for r in rows)
    n_pap = sum(within(r["paper"]) for r in rows)
    errs = np.array([e for e in q_err if math.isfinite(e)])
    med = 100 * float(np.median(errs)) if errs.size else float("nan")
    print(f"elapsed {time.perf_counter() - start:.0f} s")
    print(
        f"calibrated: {n_cal}/{len(rows)} within budget; paper model: {n_pap}/{len(rows)} within "
        f"budget; quality error median {med:.1f}%"
    )
    return dict(rows=rows, quality_errors=errs)


if __name__ == "__main__":
    main()
