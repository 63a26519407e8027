"""Tests of coinfer.optimize: contract, feasibility, optimality certificates, corners, batch."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinfer.optimize import Solution, kkt_curve, least_energy, solve, solve_batch
from coinfer.optimize.references import random_scenario, random_work_curves
from coinfer.system import (
    Budget,
    ModelProfile,
    Scenario,
    Uplink,
    evaluate,
    uplink_energy,
    uplink_power,
)

SEEDS = st.integers(min_value=0, max_value=10**6)


def _grid_points(sc, n=120):
    """A dense (p, f) grid, geometric near 0 and linear near the top, for optimality checks."""
    d = sc.device
    frac = np.unique(np.concatenate([np.geomspace(1e-6, 1, n), np.linspace(0, 1, n)[1:]]))
    return frac[:, None] * d.p_max, frac[None, :] * d.f_max


def test_contract_fields_and_types():
    sc = Scenario.default(model="gpt2", budget=Budget(latency=0.3, energy=0.02))
    sol = solve(sc)
    assert isinstance(sol, Solution)
    for name in (
        "split",
        "rho",
        "power",
        "freq",
        "latency",
        "energy",
        "objective",
        "feasible",
        "reason",
        "t_device",
        "t_uplink",
        "t_server",
        "e_device",
        "e_uplink",
    ):
        assert hasattr(sol, name)
    assert sol.feasible and sol.reason == ""
    assert isinstance(sol.split, int) and isinstance(sol.feasible, bool)
    assert sol.objective == pytest.approx(float(sc.objective(sol.rho)))
    assert sol.latency == pytest.approx(sol.t_device + sol.t_uplink + sol.t_server)
    assert sol.energy == pytest.approx(sol.e_device + sol.e_uplink)
    assert sol.splits.tolist() == list(range(sc.min_split, sc.profile.n_blocks + 1))
    assert sol.split_rho.shape == sol.splits.shape


@settings(max_examples=60, deadline=None)
@given(SEEDS)
def test_feasible_points_satisfy_every_constraint(seed):
    sc = random_scenario(seed)
    sol = solve(sc)
    if sol.feasible:
        bd = evaluate(sc, sol.split, sol.rho, sol.power, sol.freq, rtol=1e-9)
        assert bool(bd.feasible)
        assert 0.0 <= sol.rho <= sc.rho_max
        assert sol.rho_gap <= 2e-9  # search bracket (< 1e-12) plus the 1e-9 split tie slack
    else:
        assert sol.reason.split(":")[0] in ("latency", "energy")
        assert math.isnan(sol.rho) and math.isnan(sol.power) and math.isnan(sol.freq)


@settings(max_examples=25, deadline=None)
@given(SEEDS)
def test_no_grid_point_beats_the_solver(seed):
    """At rho* - 1e-6 no (p, f) on a dense grid is feasible at any split (refutes non-optimality)."""
    sc = random_scenario(seed)
    sol = solve(sc)
    p, f = _grid_points(sc)
    rho_try = (sol.rho - 1e-6) if sol.feasible else sc.rho_max
    if rho_try < 0:
        return
    for s in range(sc.min_split, sc.profile.n_blocks + 1):
        bd = evaluate(sc, s, rho_try, p, f, rtol=0.0)
        assert not bd.feasible.any(), (seed, s)


@settings(max_examples=25, deadline=None)
@given(SEEDS)
def test_least_energy_at_optimum(seed):
    """At (s*, rho*) no grid point within the latency limit uses less energy (to 1e-6 relative)."""
    sc = random_scenario(seed)
    sol = solve(sc)
    if not sol.feasible:
        return
    p, f = _grid_points(sc)
    bd = evaluate(sc, sol.split, sol.rho, p, f, rtol=0.0)
    e = np.where(bd.latency_ok, bd.energy, np.inf)
    assert e.min() >= sol.energy * (1 - 1e-6)


@settings(max_examples=30, deadline=None)
@given(SEEDS, st.floats(0.0, 0.9), st.floats(0.0, 0.09))
def test_least_energy_nonincreasing_in_rho(seed, rho, step):
    sc = random_scenario(seed)
    rho = min(rho, sc.rho_max - 0.1)
    s = sc.profile.n_blocks // 2 + (sc.min_split if sc.profile.n_blocks // 2 < sc.min_split else 0)
    a = least_energy(sc, s, rho)
    b = least_energy(sc, s, rho + step)
    if not math.isnan(a.energy):
        assert not math.isnan(b.energy)
        assert b.energy <= a.energy * (1 + 1e-9)
        assert a.latency <= sc.budget.latency * (1 + 1e-9)


def test_fully_on_device_closed_form():
    """s = L sends nothing: w* = T min(f_max, (E / (kappa T))^(1/3)) cycles, power 0."""
    sc = Scenario.default(model="gpt2", budget=Budget(latency=2.0, energy=0.05))
    L = sc.profile.n_blocks
    sol = solve(sc, split=L)
    d = sc.device
    T, E = sc.budget.latency, sc.budget.energy
    w_star = T * min(d.f_max, (E / (d.kappa * T)) ** (1 / 3)) * d.flops_per_cycle
    fw = sc.profile.weight_flops.sum() + sc.profile.head_flops
    fa = sc.profile.attn_flops.sum()
    rho_star = float(np.clip(1 - (w_star - fa) / fw, 0, 1))
    assert sol.feasible and sol.split == L
    assert sol.rho == pytest.approx(rho_star, abs=1e-9)
    assert sol.power == 0.0 and sol.t_uplink == 0.0 and sol.e_uplink == 0.0
    assert sol.latency == pytest.approx(T, rel=1e-9)


def test_fully_on_server_has_no_device_compute():
    sc = Scenario.default(model="gpt2", min_split=0, budget=Budget(latency=0.5, energy=0.01))
    sol = solve(sc, split=0)
    assert sol.feasible and sol.split == 0
    assert sol.e_device == 0.0 and sol.t_device == 0.0
    assert sol.freq == sc.device.f_max  # the clock is idle: reported at f_max
    # the uplink takes exactly what the server leaves of the latency budget
    assert sol.t_uplink + sol.t_server == pytest.approx(sc.budget.latency, rel=1e-9)


def test_infeasible_latency_and_energy_reasons_never_raise():
    sc = Scenario.default(model="llama-2-7b", budget=Budget(latency=1e-3, energy=1.0))
    sol = solve(sc)
    assert not sol.feasible and sol.reason.startswith("latency") and sol.split == -1
    assert math.isnan(sol.rho) and math.isnan(sol.energy)
    sc = Scenario.default(model="gpt2", budget=Budget(latency=10.0, energy=1e-9))
    sol = solve(sc)
    assert not sol.feasible and sol.reason.startswith("energy")
    sol = solve(sc, split=3)
    assert not sol.feasible and sol.split == 3 and "split 3" in sol.reason


def test_invalid_input_raises_naming_the_parameter():
    sc = Scenario.default(model="gpt2")
    with pytest.raises(ValueError, match="split"):
        solve(sc, split=sc.profile.n_blocks + 1)
    with pytest.raises(ValueError, match="split"):
        solve(sc, split=0)  # below min_split = 1
    with pytest.raises(TypeError, match="split"):
        solve(sc, split=1.5)
    with pytest.raises(TypeError, match="scenario"):
        solve("gpt2")
    with pytest.raises(ValueError, match="gains"):
        solve_batch(sc, [1e-9, -1.0])
    with pytest.raises(ValueError, match="budget.latency"):
        solve(sc.replace(budget=Budget(latency=math.inf, energy=1.0)))
    with pytest.raises(ValueError, match="rho"):
        least_energy(sc, 2, 0.99)


def test_infinite_energy_budget_is_latency_only():
    sc = Scenario.default(model="gpt2-large", budget=Budget(latency=0.2, energy=math.inf))
    sol = solve(sc)
    assert sol.feasible and sol.rho > 0
    # with no energy limit the least rho runs at full clock and power, latency tight
    assert sol.power == sc.device.p_max and sol.freq == pytest.approx(sc.device.f_max, rel=1e-12)
    assert sol.latency == pytest.approx(sc.budget.latency, rel=1e-9)


def test_batch_matches_single_solves():
    sc = Scenario.default(model="gpt2", budget=Budget(latency=0.25, energy=0.01))
    gains = sc.uplink.gain * np.random.default_rng(1).exponential(size=40)
    bat = solve_batch(sc, gains)
    assert isinstance(bat, Solution) and bat.batched and len(bat) == 40
    assert bat.split_rho.shape == (40, sc.profile.n_blocks - sc.min_split + 1)
    for i in range(0, 40, 7):
        one = solve(sc.replace(gain=float(gains[i])))
        assert bat.feasible[i] == one.feasible
        if one.feasible:
            assert bat.split[i] == one.split
            assert bat.rho[i] == pytest.approx(one.rho, abs=1e-12)
            assert bat.energy[i] == pytest.approx(one.energy, rel=1e-9)
            assert bat[i].power == pytest.approx(one.power, rel=1e-9)
        else:
            assert bat.reason[i] == one.reason and bat.split[i] == -1


def test_ties_go_to_least_energy():
    """Three identical blocks, generous budget: rho* = 0 at every split; the cheapest split wins."""
    prof = ModelProfile(
        weight_flops=[1e9] * 3,
        attn_flops=[0.0] * 3,
        head_flops=1e8,
        feature_bits=[1e3, 1e6, 1e6, 0.0],
    )
    sc = Scenario(profile=prof, budget=Budget(latency=1.0, energy=1.0))
    sol = solve(sc)
    assert np.all(sol.split_rho == 0.0)
    assert sol.split == int(sol.splits[np.argmin(sol.split_energy)])


def test_uplink_energy_overflow_safe():
    up = Uplink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e = uplink_energy(np.array([1e-9, 1e-3, 1.0]), 8e6, up)
        p = uplink_power(np.array([0.0, 1e-9]), 8e6, up)
    assert np.isinf(e[0]) and np.isfinite(e[2]) and np.all(np.isinf(p))
    c = up.noise_psd * up.bandwidth / up.gain
    t = 1.0
    assert e[2] == pytest.approx(t * c * (2 ** (8e6 / (up.bandwidth * t)) - 1), rel=1e-12)
    assert uplink_energy(0.5, 0.0, up) == 0.0


def test_deterministic():
    sc = random_scenario(7)
    a, b = solve(sc), solve(sc)
    assert a.rho == b.rho and a.power == b.power and a.freq == b.freq and a.split == b.split


def test_kkt_curve_crossing_is_the_optimum():
    sc = Scenario.default(model="gpt2", budget=Budget(latency=0.08, energy=0.0005))
    sol = solve(sc, split=1)
    assert sol.feasible and 0 < sol.rho < sc.rho_max
    cur = kkt_curve(sc, 1, np.linspace(0, 2, 4001))
    best = np.max(np.minimum(cur["u_latency"], np.minimum(cur["u_energy"], 1.0)))
    assert best <= 1 - sol.rho + 1e-12 and best >= 1 - sol.rho - 1e-2
    assert np.all(np.diff(cur["power"]) >= 0) and np.all(np.diff(cur["freq"]) >= -1e-3)
    with pytest.raises(ValueError, match="split"):
        kkt_curve(sc, sc.profile.n_blocks, [0.5])  # s = L sends nothing


@settings(max_examples=20, deadline=None)
@given(SEEDS, st.lists(st.floats(-3, 3), min_size=1, max_size=6))
def test_batch_matches_single_on_random_instances(seed, log_scales):
    sc = random_scenario(seed)
    gains = sc.uplink.gain * 10.0 ** np.array(log_scales)
    bat = solve_batch(sc, gains)
    for i, g in enumerate(gains):
        one = solve(sc.replace(gain=float(g)))
        assert bat.feasible[i] == one.feasible
        if one.feasible:
            assert bat.split[i] == one.split and bat.rho[i] == pytest.approx(one.rho, abs=1e-12)


def test_infeasible_instances_emit_no_runtime_warning():
    """Energy-infeasible at s = L gives u = -inf there, and s = L has no server work (sF = 0):
    the clock of such an entry must be computed without forming 0 * inf."""
    sc = Scenario.default(model="gpt2", budget=Budget(latency=10.0, energy=1e-9))
    L = sc.profile.n_blocks
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sols = [solve(sc), solve(sc, split=L), solve(sc.replace(min_split=0), split=0)]
        bat = solve_batch(sc, sc.uplink.gain * np.array([1e-6, 1e-3, 1.0]))
        tight = solve(sc.replace(budget=Budget(latency=1e-6, energy=1e-9)), split=L)
    assert not any(s.feasible for s in sols) and not bat.feasible.any() and not tight.feasible
    assert sols[1].reason.startswith("energy") and tight.reason.startswith("latency")


# ---- monotonicity in the budgets ------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(SEEDS, st.floats(1.0, 10.0), st.sampled_from(["latency", "energy"]))
def test_rho_is_nonincreasing_as_a_budget_grows(seed, factor, which):
    """A larger T_max or E_max only enlarges the feasible set: rho* cannot rise."""
    sc = random_scenario(seed)
    if which == "energy" and not math.isfinite(sc.budget.energy):
        return
    small = solve(sc)
    big = solve(sc.replace(**{which: getattr(sc.budget, which) * factor}))
    if small.feasible:
        assert big.feasible
        assert big.rho <= small.rho + small.rho_gap + big.rho_gap + 1e-12


# ---- measured work curves -------------------------------------------------------------------------


def measured_curves(sc, seed, kinds=("unstructured", "structured")):
    """Random measured-looking work curves (non-increasing, flat parts, kinks, per-split numbers)."""
    return random_work_curves(sc, seed, kinds)


def _with_curves(seed, n_kinds):
    sc = random_scenario(seed)
    kinds = ("unstructured", "structured")[:n_kinds]
    return sc.replace(work=measured_curves(sc, seed + 1, kinds))


@settings(max_examples=40, deadline=None)
@given(SEEDS, st.integers(1, 2))
def test_measured_curves_solution_is_feasible_and_no_grid_point_beats_it(seed, n_kinds):
    sc = _with_curves(seed, n_kinds)
    sol = solve(sc)
    kinds = [w.pruning for w in sc.work]
    if sol.feasible:
        assert sol.pruning in kinds
        bd = evaluate(sc, sol.split, sol.rho, sol.power, sol.freq, pruning=sol.pruning)
        assert bool(bd.feasible)
        assert sol.rho_gap <= 2e-9  # search bracket (< 1e-12) plus the 1e-9 split tie slack
        rho_try = sol.rho - 1e-6
    else:
        rho_try = sc.rho_max
    if rho_try < 0:
        return
    p, f = _grid_points(sc, n=60)
    # the surrogate objective ignores the kind: less objective means less rho, for every kind
    for kind in kinds:
        for s in range(sc.min_split, sc.profile.n_blocks + 1):
            bd = evaluate(sc, s, rho_try, p, f, rtol=0.0, pruning=kind)
            assert not bd.feasible.any(), (seed, kind, s)


@settings(max_examples=15, deadline=None)
@given(SEEDS, st.integers(1, 2))
def test_measured_curves_agree_with_the_dense_grid(seed, n_kinds):
    from coinfer.optimize.references import grid_solve

    sc = _with_curves(seed, n_kinds)
    ours = solve(sc)
    n = 41
    ref = grid_solve(sc, n_rho=n, n_power=n, n_freq=n)
    if ref.feasible:
        assert ref.rho >= ours.rho - 1e-9  # the grid is never better than the certified optimum
        assert ours.feasible
    if not ours.feasible:
        assert not ref.feasible


@settings(max_examples=40, deadline=None)
@given(SEEDS, st.lists(st.floats(0.01, 0.98), max_size=4))
def test_paper_model_as_a_work_curve_gives_the_same_answer(seed, extra):
    """The paper's work written as a WorkCurve (affine, so exact with any grid) changes nothing."""
    from coinfer.system import WorkCurve

    sc = random_scenario(seed)
    grid = np.unique(np.concatenate([[0.0, sc.rho_max], np.array(extra) * sc.rho_max]))
    curve = WorkCurve.from_profile(sc.profile, sc.device, sc.server, grid)
    a, b = solve(sc), solve(sc.replace(work=(curve,)))
    assert a.feasible == b.feasible
    assert b.pruning == "paper"
    if a.feasible:
        assert b.rho == pytest.approx(a.rho, abs=1e-9)
        assert b.energy == pytest.approx(a.energy, rel=1e-6)
        assert b.split_rho == pytest.approx(a.split_rho, abs=1e-9, nan_ok=True)


def test_the_cheaper_kind_wins_and_the_objective_decides_between_kinds():
    from coinfer.system import WorkCurve
    from coinfer.theory import Objective, SurrogateObjective

    sc = Scenario.default()
    base = solve(sc)
    assert base.feasible and base.rho > 0
    grid = [0.0, 0.5, sc.rho_max]
    paper = WorkCurve.from_profile(sc.profile, sc.device, sc.server, grid)
    cheap = WorkCurve(
        pruning="structured",
        rho=paper.rho,
        device_cycles=0.8 * paper.device_cycles,
        server_seconds=paper.server_seconds,
    )
    dear = WorkCurve(
        pruning="unstructured",
        rho=paper.rho,
        device_cycles=paper.device_cycles,
        server_seconds=paper.server_seconds,
    )
    two = sc.replace(work=(dear, cheap))
    sol = solve(two)
    assert sol.pruning == "structured" and sol.rho < base.rho
    assert solve(sc.replace(work=(dear,))).rho == pytest.approx(base.rho, abs=1e-9)

    class Penalised(Objective):
        """The surrogate, plus a large constant for structured pruning (worse quality)."""

        def __call__(self, rho, pruning=None):
            return SurrogateObjective()(rho) + (10.0 if pruning == "structured" else 0.0)

    sol = solve(two.replace(objective=Penalised()))
    assert sol.pruning == "unstructured" and sol.rho == pytest.approx(base.rho, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(SEEDS, st.integers(0, 2))
def test_the_certificate_covers_the_split_tie_slack(seed, n_kinds):
    """The split rule may take a split up to 1e-9 above the least rho (for less energy): rho_gap
    bounds the distance to the least rho over the splits, search gap and tie slack together."""
    sc = _with_curves(seed, n_kinds) if n_kinds else random_scenario(seed)
    sol = solve(sc)
    if sol.feasible:
        assert sol.rho - np.nanmin(sol.split_rho) <= sol.rho_gap + 1e-15
        assert sol.rho_gap <= 2e-9


def test_fixed_rho_on_device_with_a_deadline_it_cannot_meet_is_infeasible():
    """The fully-on-device least-energy point at a fixed rho must report a missed deadline as
    infeasible (it once returned f_max with the deadline violated)."""
    sc = Scenario.default(model="gpt2", budget=Budget(latency=0.05, energy=10.0))
    L = sc.profile.n_blocks
    for sol in (solve(sc, split=L, rho=0.1), least_energy(sc, L, 0.1)):
        assert not sol.feasible and sol.reason.startswith("latency")
        assert math.isnan(sol.rho)
    ok = solve(sc.replace(latency=5.0), split=L, rho=0.1)
    assert ok.feasible and ok.latency == pytest.approx(5.0, rel=1e-9)
