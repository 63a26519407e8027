"""Fairness with a certificate: the least server share per band, the knapsack and the level bracket."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coinfer.network import random_network, solve_network
from coinfer.network.fairness import fair_division, level_ratio, min_total, needs
from coinfer.optimize import least_server_flops, solve
from coinfer.system import Scenario

MODELS = ("gpt2", "gpt2-medium")
DEVICES = ("phone-cpu", "phone-npu", "laptop", "iot")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    model=st.sampled_from(MODELS),
    device=st.sampled_from(DEVICES),
    distance=st.floats(20.0, 400.0),
    rho=st.floats(0.0, 0.7),
    band=st.floats(1e4, 5e7),
)
def test_least_server_share_is_exactly_the_threshold(model, device, distance, rho, band):
    sc = Scenario.default(model=model, device=device, distance=distance)
    rho = min(rho, sc.rho_max)
    upper, lower = least_server_flops(
        sc, np.array([sc.uplink.gain]), np.array([band]), {"paper": rho}
    )
    up, lo = float(upper[0, 0]), float(lower[0, 0])
    assert lo <= up * (1 + 1e-12)
    if math.isinf(up):  # no server share is enough: not even an enormous one
        assert math.isinf(lo)
        assert not solve(sc.replace(bandwidth=band, flops=1e20), rho=rho).feasible
        return
    if up > 0:
        assert up <= lo * (1 + 1e-6)  # the two sides of the bisection agree
        assert solve(sc.replace(bandwidth=band, flops=up * (1 + 1e-9)), rho=rho).feasible
        assert not solve(sc.replace(bandwidth=band, flops=lo * (1 - 1e-6)), rho=rho).feasible
    else:  # zero: the whole model on the device meets the budgets at this ratio
        assert solve(sc, split=sc.profile.n_blocks, rho=rho).feasible


def test_least_server_share_falls_with_the_band_and_the_ratio():
    sc = Scenario.default(model="gpt2-medium", device="phone-cpu", distance=150.0)
    bands = np.geomspace(1e4, 5e7, 40)
    g = np.array([sc.uplink.gain])
    rows = [least_server_flops(sc, g, bands, {"paper": r})[0][0] for r in (0.1, 0.3, 0.5)]
    for row in rows:
        finite = row[np.isfinite(row)]
        assert finite.size > 5 and np.all(np.diff(finite) <= finite[1:] * 1e-9)
        assert np.all(np.isfinite(row[np.argmax(np.isfinite(row)) :]))  # finite from a band on
    assert np.all(rows[1] <= rows[0]) and np.all(rows[2] <= rows[1])


def test_least_server_share_rejects_bad_input():
    sc = Scenario.default()
    g = np.array([sc.uplink.gain])
    with pytest.raises(ValueError, match="bands"):
        least_server_flops(sc, g, np.array([-1.0]), {"paper": 0.1})
    with pytest.raises(ValueError, match="unknown pruning kind"):
        least_server_flops(sc, g, np.array([1e6]), {"structured": 0.1})
    with pytest.raises(ValueError, match=r"rho\['paper'\]"):
        least_server_flops(sc, g, np.array([1e6]), {"paper": 2.0})


@settings(max_examples=200, deadline=None)
@given(
    k=st.integers(1, 4),
    m=st.integers(1, 6),
    data=st.data(),
)
def test_min_total_is_the_brute_force_optimum(k, m, data):
    cells = st.one_of(st.just(math.inf), st.floats(0.0, 100.0))
    need = np.array(
        data.draw(st.lists(st.lists(cells, min_size=m + 1, max_size=m + 1), min_size=k, max_size=k))
    )
    best = math.inf
    for units in itertools.product(range(m + 1), repeat=k):
        if sum(units) <= m:
            best = min(best, sum(need[j, u] for j, u in enumerate(units)))
    value, units = min_total(need)
    if math.isinf(best):
        assert math.isinf(value)
        return
    assert value == pytest.approx(best, rel=1e-12, abs=1e-12)
    assert units.sum() <= m and np.all(units >= 0)
    assert sum(need[j, u] for j, u in enumerate(units)) == pytest.approx(
        value, rel=1e-12, abs=1e-12
    )


def test_level_ratio_inverts_the_objective():
    sc = Scenario.default()
    for z in (0.05, 0.2, 0.5):
        r = level_ratio(sc, "paper", z)
        if r is None:
            continue
        assert float(sc.objective(r)) <= z
        if r < sc.rho_max:
            assert float(sc.objective(min(r + 1e-9, sc.rho_max))) > z - 1e-12
    assert level_ratio(sc, "paper", -1.0) is None


def _grid_optimum(net, n=41):
    """The best max-objective over an n x n grid of divisions of two devices (exact solves)."""
    fr = np.linspace(0.0, 1.0, n)
    best = math.inf
    for a, c in itertools.product(fr, fr):
        vals = []
        for sc, x, y in zip(net.devices, (a, 1 - a), (c, 1 - c), strict=True):
            if x * y > 0:
                s = solve(sc.replace(bandwidth=x * net.bandwidth, flops=y * net.server_flops))
            else:
                s = solve(sc, split=sc.profile.n_blocks)
            vals.append(float(sc.objective(s.rho)) if s.feasible else math.inf)
        best = min(best, max(vals))
    return best


@pytest.mark.parametrize("seed", [3, 11])
def test_fair_bracket_contains_the_grid_optimum(seed):
    # seed 3: the two phones can share (a bisection runs); seed 11: they cannot
    net = random_network(
        2,
        seed,
        models=("gpt2",),
        device_classes=("phone-cpu",),
        bandwidth=2.2e6,
        server_flops=3.3e11,
    )
    fair = fair_division(net, max_units=512)
    ref = _grid_optimum(net, 21)
    if seed == 3:
        assert fair.feasible and fair.levels > 10
    if not fair.feasible:
        assert math.isinf(ref)  # proved infeasible: no grid division serves both either
        return
    assert fair.lower_bound <= ref * (1 + 1e-9)
    assert fair.lower_bound <= fair.level
    # the returned division reaches the level: every device solved exactly with its shares
    for sc, b, p in zip(net.devices, fair.bandwidth, fair.server_flops, strict=True):
        s = (
            solve(sc.replace(bandwidth=b, flops=p))
            if b * p > 0
            else solve(sc, split=sc.profile.n_blocks)
        )
        assert s.feasible and float(sc.objective(s.rho)) <= fair.level * (1 + 1e-9)
    assert fair.bandwidth.sum() <= net.bandwidth * (1 + 1e-12)
    assert fair.server_flops.sum() <= net.server_flops * (1 + 1e-12)


def test_needs_fall_as_the_level_rises():
    net = random_network(3, 5, bandwidth=3e6, server_flops=5e11)
    bands = np.linspace(0.0, net.bandwidth, 33)
    up_lo, _ = needs(net, 0.2, bands)
    up_hi, _ = needs(net, 0.4, bands)
    assert np.all(up_hi <= up_lo * (1 + 1e-9))


@pytest.mark.parametrize("scale, seed", [(0.6, 1), (0.6, 2), (1.0, 2)])
def test_three_device_fairness_brackets_the_optimum(scale, seed):
    net = random_network(
        3,
        seed,
        bandwidth=5e6 * scale,
        server_flops=1.28e12 * scale,
        models=("gpt2-medium",),
        device_classes=("phone-npu", "phone-cpu"),
    )
    sol = solve_network(net)
    assert sol.feasible and sol.lower_bound <= sol.objective
    assert sol.gap <= 1e-4 * sol.objective or sol.grid == 2048
    # no equal-split or one-device-favoured division beats the lower bound
    k = net.size
    for w in ([1, 1, 1], [2, 1, 1], [1, 2, 1], [1, 1, 2], [4, 1, 1]):
        w = np.array(w, float) / sum(w)
        vals = []
        for sc, x in zip(net.devices, w, strict=True):
            s = solve(sc.replace(bandwidth=x * net.bandwidth, flops=x * net.server_flops))
            vals.append(float(sc.objective(s.rho)) if s.feasible else math.inf)
        assert max(vals) >= sol.lower_bound * (1 - 1e-9)
    assert k == 3


def test_proved_infeasible_when_the_devices_cannot_share():
    # two phones that can each be served with everything, but not both at once
    net = random_network(
        2, 3, models=("gpt2",), device_classes=("phone-cpu",), bandwidth=1e6, server_flops=1.5e11
    )
    for sc in net.devices:
        assert solve(sc.replace(bandwidth=net.bandwidth, flops=net.server_flops)).feasible
    sol = solve_network(net)
    assert not sol.feasible and "excludes it" in sol.reason
    assert math.isinf(_grid_optimum(net, 11))  # no grid division serves both either
