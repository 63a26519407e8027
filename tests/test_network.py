"""Many devices, one edge server: the network model, its solver, its files and its random drops."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coinfer.network import Network, random_network, read_network, solve_network
from coinfer.optimize import solve
from coinfer.system import Scenario, evaluate

B, PHI = 5e6, 1.28e12


def _value(network, solution):
    vals = [
        float(sc.objective(d.rho)) for sc, d in zip(network.devices, solution.devices, strict=True)
    ]
    return max(vals) if network.objective == "max" else sum(vals)


def check_solution(network, sol):
    """Every invariant a returned network solution must satisfy."""
    k = network.size
    assert len(sol.devices) == k and sol.bandwidth.shape == (k,) and sol.server_flops.shape == (k,)
    if not sol.feasible:
        assert sol.reason and math.isnan(sol.objective)
        return
    assert sol.reason == ""
    assert np.all(sol.bandwidth >= 0) and np.all(sol.server_flops >= 0)
    assert sol.bandwidth.sum() <= network.bandwidth * (1 + 1e-12)
    assert sol.server_flops.sum() <= network.server_flops * (1 + 1e-12)
    for sc, d, b, p in zip(
        network.devices, sol.devices, sol.bandwidth, sol.server_flops, strict=True
    ):
        L = sc.profile.n_blocks
        if b > 0 and p > 0:
            shared = sc.replace(bandwidth=float(b), flops=float(p))
        else:  # a zero share leaves only the whole model on the device, which uses neither share
            assert d.split == L
            shared = sc
        bd = evaluate(shared, d.split, d.rho, d.power, d.freq)
        assert bool(bd.feasible), (d, bd.violations())
    assert sol.objective == pytest.approx(_value(network, sol), rel=1e-12)
    assert sol.lower_bound <= sol.objective * (1 + 1e-9) + 1e-12
    assert sol.gap == pytest.approx(sol.objective - sol.lower_bound, abs=1e-12)


# -- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(devices=[]), "devices"),
        (dict(devices=Scenario.default()), "devices"),
        (dict(devices=[1.0]), "devices[0]"),
        (dict(bandwidth=0.0), "bandwidth"),
        (dict(bandwidth=-1.0), "bandwidth"),
        (dict(server_flops=0.0), "server_flops"),
        (dict(server_flops=math.nan), "server_flops"),
        (dict(objective="mean"), "objective"),
        (dict(devices=[Scenario.default(latency=math.inf)]), "devices[0].latency"),
    ],
)
def test_network_rejects_bad_input(kwargs, field):
    args = dict(devices=[Scenario.default()], bandwidth=B, server_flops=PHI, objective="max")
    args.update(kwargs)
    with pytest.raises(ValueError, match=r"^" + field.replace("[", r"\[").replace("]", r"\]")):
        Network(**args)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(n_devices=0), "n_devices"),
        (dict(seed=-1), "seed"),
        (dict(radius=0.0), "radius"),
        (dict(objective="avg"), "objective"),
        (dict(models=("no-such-model",)), "models"),
        (dict(device_classes=("toaster",)), "device_classes"),
        (dict(bandwidth=0.0), "bandwidth"),
    ],
)
def test_random_network_rejects_bad_input(kwargs, field):
    args = dict(n_devices=3, seed=0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=f"^{field}"):
        random_network(**args)


def test_solve_network_rejects_non_network():
    with pytest.raises(ValueError, match="^network"):
        solve_network([Scenario.default()])
    with pytest.raises(ValueError, match="^n_shares"):
        solve_network(random_network(1, 0), n_shares=1)


# -- one device: the network is the single-device problem with everything -------------------


@pytest.mark.parametrize("kind", ["max", "sum"])
def test_one_device_is_the_single_device_optimum(kind):
    sc = Scenario.default(model="gpt2", distance=150.0)
    net = Network([sc], 2e6, 5e11, kind)
    sol = solve_network(net)
    alone = solve(sc.replace(bandwidth=2e6, flops=5e11))
    assert sol.feasible and alone.feasible
    assert sol.devices[0].rho == pytest.approx(alone.rho, abs=1e-9)
    assert sol.bandwidth[0] == pytest.approx(2e6) and sol.server_flops[0] == pytest.approx(5e11)
    assert sol.gap == pytest.approx(0.0, abs=1e-12)
    check_solution(net, sol)


# -- invariants on random drops ------------------------------------------------------------------


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    k=st.integers(1, 4),
    seed=st.integers(0, 10_000),
    kind=st.sampled_from(["max", "sum"]),
    scale=st.sampled_from([0.2, 1.0, 5.0]),
)
def test_random_drops_satisfy_every_invariant(k, seed, kind, scale):
    net = random_network(k, seed, objective=kind, bandwidth=B * scale, server_flops=PHI * scale)
    check_solution(net, solve_network(net, n_shares=6))


def test_references_never_beat_the_certified_lower_bound():
    """A grid over the shares of two devices (exact single-device solves) never goes below the
    certified lower bound, and does not beat the answer on this instance."""
    net = random_network(
        2, 3, models=("gpt2",), device_classes=("phone-cpu",), bandwidth=2e6, server_flops=3e11
    )
    fr = np.linspace(0.0, 1.0, 9)
    for kind in ("max", "sum"):
        n = net.replace(objective=kind)
        sol = solve_network(n, n_shares=8)
        check_solution(n, sol)
        best = math.inf
        for a, c in itertools.product(fr, fr):
            shares = [(a, c), (1 - a, 1 - c)]
            vals = []
            for sc, (x, y) in zip(n.devices, shares, strict=True):
                s = (
                    solve(sc.replace(bandwidth=x * n.bandwidth, flops=y * n.server_flops))
                    if x > 0 and y > 0
                    else solve(sc, split=sc.profile.n_blocks)
                )
                vals.append(float(sc.objective(s.rho)) if s.feasible else math.inf)
            best = min(best, max(vals) if kind == "max" else sum(vals))
        assert best >= sol.lower_bound - 1e-9
        # the continuous local search (K <= 4) lands at or below the 9 x 9 reference grid here
        assert sol.objective <= best + 1e-9


# -- infeasibility and the corners -------------------------------------------------------------


def test_an_unservable_device_is_named():
    good = Scenario.default(model="gpt2", distance=100.0)
    bad = Scenario.default(model="gpt2-large", device="iot", latency=0.01, distance=100.0)
    sol = solve_network(Network([good, bad], B, PHI, "max"), n_shares=4)
    assert not sol.feasible
    assert sol.reason.startswith("device 1 cannot be served")
    assert math.isnan(sol.objective)


def test_zero_shares_leave_only_the_whole_model_on_the_device():
    # a device whose whole-model run already needs no pruning costs the others nothing
    easy = Scenario.default(model="gpt2", device="laptop", distance=400.0)
    assert solve(easy, split=easy.profile.n_blocks).rho == 0.0
    hard = Scenario.default(model="gpt2-large", distance=100.0)
    net = Network([easy, hard], B, PHI, "max")
    sol = solve_network(net)
    check_solution(net, sol)
    assert sol.devices[0].rho == 0.0


# -- output and files -----------------------------------------------------------------------------


def test_to_dict_is_plain_json_and_table_has_one_row_per_device():
    net = random_network(3, 1)
    sol = solve_network(net, n_shares=5)
    text = json.dumps(sol.to_dict(), allow_nan=False)
    back = json.loads(text)
    assert back["feasible"] == sol.feasible and len(back["devices"]) == 3
    lines = sol.table().splitlines()
    assert len(lines) == 3 + 3 and lines[0].split()[0] == "device"


def test_read_network_toml_and_json(tmp_path):
    toml = tmp_path / "cell.toml"
    toml.write_text(
        'bandwidth = 4e6\nserver_flops = 1e12\nobjective = "sum"\n'
        '[[devices]]\nmodel = "gpt2"\n[devices.uplink]\ngain = 1e-10\n'
        '[[devices]]\nmodel = "gpt2-medium"\n'
    )
    net = read_network(toml)
    assert net.size == 2 and net.objective == "sum" and net.bandwidth == 4e6
    assert net.devices[0].uplink.gain == 1e-10 and net.devices[1].profile.name == "gpt2-medium"
    js = tmp_path / "cell.json"
    js.write_text(json.dumps({"bandwidth": 1e6, "server_flops": 1e11, "devices": [{}]}))
    assert read_network(js).objective == "max"


@pytest.mark.parametrize(
    "content, field",
    [
        ({"bandwidth": 1e6, "devices": [{}]}, "server_flops"),
        ({"bandwidth": 1e6, "server_flops": 1e11, "devices": []}, "devices"),
        ({"bandwidth": 1e6, "server_flops": 1e11, "devices": [{}], "extra": 1}, "extra"),
        ({"bandwidth": "wide", "server_flops": 1e11, "devices": [{}]}, "bandwidth"),
        ({"bandwidth": 1e6, "server_flops": 1e11, "devices": [{"nope": 1}]}, r"devices\[0\]"),
    ],
)
def test_read_network_rejects_bad_files(tmp_path, content, field):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=f"^{field}"):
        read_network(path)


def test_random_network_is_a_function_of_its_seed():
    a, b, c = random_network(20, 7), random_network(20, 7), random_network(20, 8)
    ga = [sc.uplink.gain for sc in a.devices]
    assert ga == [sc.uplink.gain for sc in b.devices]
    assert ga != [sc.uplink.gain for sc in c.devices]
    assert len({sc.profile.name for sc in a.devices}) > 1
    assert len({sc.device for sc in a.devices}) > 1


def test_network_layer_imports_no_study_and_no_torch():
    code = (
        "import sys, coinfer.network; "
        "bad = [m for m in sys.modules if m.startswith(('coinfer.studies', 'coinfer.real', "
        "'coinfer.app', 'torch', 'transformers'))]; print(bad); assert not bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
