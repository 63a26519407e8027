"""Tests of coinfer.optimize.baselines: every baseline is feasible when it says so, and the joint optimiser is
never worse than any of them on the same instance (true by construction: the baselines are restrictions of
the solver). The independent evidence is here: a separate bisection implementation of the inner
least-energy problem and of the least feasible ratio, written from the model's equations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinfer.optimize import Solution, least_energy, solve
from coinfer.optimize import baselines as bl
from coinfer.studies import rayleigh_gains
from coinfer.system import DEVICE_CLASSES, Budget, EdgeServer, Scenario, evaluate, path_gain

SMALL = ("gpt2", "gpt2-medium", "smollm2-135m")
_LN2 = math.log(2.0)


# ---- an independent implementation, for cross-checks only ----------------------------------------


def ref_least_energy(sc, s, rho, iters=100):
    """Least device energy at fixed (s, rho) by bisection on the device time share.

    With the work fixed, the device energy kappa C^3 / Td^2 and the uplink energy
    Tu (N0 B / g)(2^(S/(B Tu)) - 1) are convex and decreasing in their time shares, so the optimum
    uses the whole latency budget the server leaves and equalises the two marginal energies (or sits
    at f_max / p_max). Returns (energy J, power W, freq Hz, latency_feasible); energy inf when the
    latency limit cannot be met.
    """
    prof, dev, up, bud = sc.profile, sc.device, sc.uplink, sc.budget
    cycles = float(prof.device_flops(rho, s)) / dev.flops_per_cycle
    bits = float(prof.bits(s))
    t_avail = bud.latency - float(prof.server_flops(rho, s)) / sc.server.flops
    a = up.noise_psd * up.bandwidth / up.gain
    t_dev_min = cycles / dev.f_max
    r_max = up.bandwidth * math.log1p(dev.p_max / a) / _LN2
    t_up_min = bits / r_max if bits > 0 else 0.0
    if t_dev_min + t_up_min > t_avail * (1 + 1e-12):
        return math.inf, math.nan, math.nan, False
    lo, hi = t_dev_min, max(t_avail - t_up_min, t_dev_min)
    if s == 0:
        t_dev = 0.0
    elif bits == 0.0:
        t_dev = hi
    else:

        def d_up(tu):  # dEu/dTu <= 0
            x = bits / (up.bandwidth * tu)
            return a * (2.0**x * (1.0 - x * _LN2) - 1.0)

        left, right = lo, hi
        for _ in range(iters):
            mid = 0.5 * (left + right)
            if -2.0 * dev.kappa * cycles**3 / mid**3 - d_up(t_avail - mid) > 0:
                right = mid
            else:
                left = mid
        t_dev = min(max(0.5 * (left + right), lo), hi)
    t_up = t_avail - t_dev if bits > 0 else 0.0
    freq = min(cycles / t_dev, dev.f_max) if s > 0 and t_dev > 0 else dev.f_max
    power = min(a * math.expm1(bits / (up.bandwidth * t_up) * _LN2), dev.p_max) if bits > 0 else 0.0
    return dev.kappa * cycles * freq**2 + power * t_up, power, freq, True


def ref_least_rho(sc, s, iters=60):
    """Least feasible rho at split s by bisection on rho (feasibility is monotone in rho); nan if none."""

    def ok(rho):
        e, *_, lat = ref_least_energy(sc, s, rho)
        return lat and e <= sc.budget.energy * (1 + 1e-9)

    if ok(0.0):
        return 0.0
    if not ok(sc.rho_max):
        return math.nan
    left, right = 0.0, sc.rho_max
    for _ in range(iters):
        mid = 0.5 * (left + right)
        left, right = (left, mid) if ok(mid) else (mid, right)
    return right


def make(
    model="gpt2",
    latency=0.3,
    energy=0.05,
    distance=200.0,
    device="phone-cpu",
    server=1.28e12,
    min_split=1,
    seq_len=64,
):
    return Scenario.default(
        model,
        seq_len=seq_len,
        budget=Budget(latency=latency, energy=energy),
        device=DEVICE_CLASSES[device],
        server=EdgeServer(flops=server),
        min_split=min_split,
    ).replace(gain=float(path_gain(distance)))


scenarios = st.builds(
    make,
    model=st.sampled_from(SMALL),
    latency=st.floats(0.02, 2.0),
    energy=st.floats(1e-4, 0.5),
    distance=st.floats(20.0, 1500.0),
    device=st.sampled_from(sorted(DEVICE_CLASSES)),
    server=st.sampled_from([2e10, 1e11, 1.28e12]),
    min_split=st.integers(0, 2),
)


def single_baselines(sc):
    L = sc.profile.n_blocks
    return [
        bl.on_device(sc),
        bl.on_server(sc),
        bl.fixed_split(sc, max(sc.min_split, L // 2)),
        bl.fixed_rho(sc, 0.3),
        bl.fixed_rho(sc),
        bl.max_resources(sc),
    ]


def assert_feasible_point(sc, sol):
    bd = evaluate(sc, sol.split, sol.rho, sol.power, sol.freq)
    assert bool(bd.feasible), sol
    assert sol.latency == pytest.approx(float(bd.latency), rel=1e-9)
    assert sol.energy == pytest.approx(float(bd.energy), rel=1e-9)
    assert sol.objective == pytest.approx(float(sc.objective(sol.rho)), rel=1e-12, abs=1e-15)


@settings(max_examples=25, deadline=None)
@given(sc=scenarios)
def test_each_baseline_is_feasible_when_it_says_so_and_never_beats_the_optimiser(sc):
    best = solve(sc)
    best_no_floor = solve(sc.replace(min_split=0))
    for sol in single_baselines(sc):
        assert isinstance(sol, Solution)
        if not sol.feasible:
            assert sol.reason and math.isnan(sol.rho)
            continue
        # on-server lifts the privacy floor: check it against the instance it actually solves.
        ref_sc, ref = (
            (sc.replace(min_split=0), best_no_floor) if sol.method == "on-server" else (sc, best)
        )
        assert_feasible_point(ref_sc, sol)
        assert ref.feasible, (sol, ref)
        assert ref.objective <= sol.objective + 1e-9, (sol.method, ref, sol)
        assert ref.rho <= sol.rho + 1e-9


@settings(max_examples=10, deadline=None)
@given(sc=scenarios, seed=st.integers(0, 1000))
def test_batches_agree_with_the_optimiser_and_feasibility(sc, seed):
    gains = rayleigh_gains(sc.uplink.gain, 30, seed)
    prop = bl.run_method("proposed", sc, gains)
    for name in (
        "on-device",
        "fixed-rho",
        "fixed-rho-0.2",
        "max-resources",
        f"split-{sc.profile.n_blocks}",
    ):
        res = bl.run_method(name, sc, gains)
        assert res.method == name
        # a feasible baseline implies a feasible optimiser with rho no larger
        assert np.all(prop.feasible[res.feasible])
        assert np.all(prop.rho[res.feasible] <= res.rho[res.feasible] + 1e-9)
        for i in np.flatnonzero(res.feasible)[:5]:
            bd = evaluate(
                sc.replace(gain=gains[i]), res.split[i], res.rho[i], res.power[i], res.freq[i]
            )
            assert bool(bd.feasible), (name, i)
            assert res.energy[i] == pytest.approx(float(bd.energy), rel=1e-9)
            assert res.latency[i] == pytest.approx(float(bd.latency), rel=1e-9)
        # an infeasible entry carries no point: split -1, unless the method fixes the split
        fixed = {
            "on-device": sc.profile.n_blocks,
            f"split-{sc.profile.n_blocks}": sc.profile.n_blocks,
        }
        assert np.all(np.isnan(res.rho[~res.feasible]))
        assert np.all(res.split[~res.feasible] == fixed.get(name, -1))


@settings(max_examples=20, deadline=None)
@given(sc=scenarios, rho=st.floats(0.0, 0.9), frac=st.floats(0.0, 1.0))
def test_least_energy_matches_an_independent_bisection(sc, rho, frac):
    s = sc.min_split + int(frac * (sc.profile.n_blocks - sc.min_split))
    energy, power, freq, lat_ok = ref_least_energy(sc, s, rho)
    ours = least_energy(sc, s, rho)
    if not lat_ok:  # latency cannot be met
        assert math.isnan(ours.energy) and not ours.feasible
        return
    assert ours.energy == pytest.approx(energy, rel=1e-6, abs=1e-15)
    assert ours.energy <= energy * (1 + 1e-9) + 1e-300  # never worse than the bisection
    assert ours.feasible == (energy <= sc.budget.energy * (1 + 1e-9)) or math.isclose(
        energy, sc.budget.energy, rel_tol=1e-6
    )
    bd = evaluate(sc, s, rho, power, freq)
    assert bool(bd.latency_ok)
    assert float(bd.energy) == pytest.approx(energy, rel=1e-9)


@settings(max_examples=15, deadline=None)
@given(sc=scenarios, frac=st.floats(0.0, 1.0))
def test_independent_bisection_reproduces_the_optimiser_at_each_split(sc, frac):
    s = sc.min_split + int(frac * (sc.profile.n_blocks - sc.min_split))
    ref = solve(sc, split=s)
    mine = ref_least_rho(sc, s)
    if not ref.feasible:
        assert np.isnan(mine)
    else:
        assert mine == pytest.approx(ref.rho, abs=1e-7)


@settings(max_examples=20, deadline=None)
@given(sc=scenarios)
def test_max_resources_rho_is_the_least_feasible_at_full_power_and_clock(sc):
    L = sc.profile.n_blocks
    dev = sc.device
    for s in sorted({sc.min_split, max(L // 2, sc.min_split), L}):
        sol = solve(sc, split=s, max_resources=True)
        p = dev.p_max if s < L else 0.0
        if not sol.feasible:
            assert not bool(evaluate(sc, s, sc.rho_max, p, dev.f_max).feasible)
            continue
        assert sol.power == p and sol.freq == dev.f_max
        assert bool(evaluate(sc, s, sol.rho, p, dev.f_max).feasible)
        if sol.rho > 1e-6:  # a little less pruning at full speed breaks a limit
            assert not bool(evaluate(sc, s, sol.rho * (1 - 1e-6) - 1e-9, p, dev.f_max).feasible)


def test_default_instance_ordering():
    """On a tight instance the joint design strictly beats full-on-device and max-resources."""
    sc = make("gpt2-medium", latency=0.25, energy=0.02, distance=300.0)
    best = solve(sc)
    dev = bl.on_device(sc)
    assert best.feasible
    assert (not dev.feasible) or best.objective < dev.objective
    mr = bl.max_resources(sc)
    assert (not mr.feasible) or best.objective <= mr.objective


def test_on_server_ignores_the_privacy_floor_but_keeps_the_rest():
    sc = make(min_split=2)
    sol = bl.on_server(sc)
    assert sol.method == "on-server"
    assert sol.feasible and sol.split == 0


def test_infeasible_baselines_say_why():
    sc = make(latency=1e-4, energy=1e-6)
    for sol in single_baselines(sc):
        assert not sol.feasible
        assert sol.reason
        assert math.isnan(sol.objective)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda sc: bl.fixed_split(sc, 0), "split must"),
        (lambda sc: bl.fixed_split(sc, 99), "split must"),
        (lambda sc: bl.fixed_rho(sc, 0.99), "rho must"),
        (lambda sc: bl.fixed_rho(sc, -0.1), "rho must"),
        (lambda sc: bl.run_method("oracle", sc), "method must"),
        (lambda sc: bl.run_method("proposed", sc, [1e-9, -1.0]), "gains"),
        (lambda sc: least_energy(sc, 3, 1.5), "rho must"),
    ],
)
def test_bad_input_names_the_parameter(call, match):
    with pytest.raises(ValueError, match=match):
        call(make())
