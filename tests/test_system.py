"""The system model: validation at construction, the breakdown against hand-computed values, dominance."""

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinfer.system import (
    Breakdown,
    Budget,
    Device,
    EdgeServer,
    ModelProfile,
    Scenario,
    Uplink,
    dbm_to_watt,
    deadline_rho,
    evaluate,
    path_gain,
    path_loss_db,
    rate,
    undominated_splits,
)
from coinfer.system.defaults import default
from coinfer.theory import SurrogateObjective


def small_scenario(**changes) -> Scenario:
    """Three blocks with round numbers, so every breakdown term can be computed by hand.

    Device 4 FLOPs/cycle, kappa 1e-28; uplink SNR = 100 p (so p = 0.07 W gives log2(8) = 3 bit/s/Hz
    on 1 MHz: 3 Mbit/s); server 1e11 FLOP/s.
    """
    prof = ModelProfile(
        weight_flops=[4e9, 4e9, 4e9],
        attn_flops=[1e9, 1e9, 1e9],
        head_flops=2e9,
        feature_bits=[1000.0, 8e6, 8e6, 0.0],
        name="toy",
    )
    fields = dict(
        profile=prof,
        device=Device(f_max=2e9, flops_per_cycle=4.0, kappa=1e-28, p_max=0.1),
        uplink=Uplink(bandwidth=1e6, noise_psd=1e-20, gain=1e-12),
        server=EdgeServer(flops=1e11),
        budget=Budget(latency=3.5, energy=0.3),
        rho_max=0.9,
        min_split=1,
    )
    fields.update(changes)
    return Scenario(**fields)


# ---- the breakdown against hand-computed values ----------------------------------------------


def test_breakdown_matches_hand_computation_interior_split():
    sc = small_scenario()
    b = evaluate(sc, split=1, rho=0.5, power=0.07, freq=1e9)
    # Wd = 0.5 * 4e9 + 1e9 = 3e9 FLOPs -> 7.5e8 cycles at 1 GHz
    assert b.t_device == pytest.approx(0.75)
    assert b.e_device == pytest.approx(1e-28 * 7.5e8 * 1e18)  # 0.075 J
    # r = 1e6 log2(1 + 0.07 * 1e-12 / (1e-20 * 1e6)) = 3e6 bit/s
    assert rate(0.07, sc.uplink) == pytest.approx(3e6)
    assert b.t_uplink == pytest.approx(8e6 / 3e6)
    assert b.e_uplink == pytest.approx(0.07 * 8e6 / 3e6)
    # Ws = 0.5 * (12e9 + 2e9) + 3e9 - 3e9 = 7e9 FLOPs
    assert b.t_server == pytest.approx(0.07)
    assert b.latency == pytest.approx(0.75 + 8 / 3 + 0.07)
    assert b.energy == pytest.approx(0.075 + 0.56 / 3)
    assert bool(b.latency_ok) and bool(b.energy_ok) and bool(b.feasible) and bool(b.box_ok)
    assert b.violations() == []


def test_breakdown_corners_on_device_and_on_server():
    sc = small_scenario(min_split=0)
    full = evaluate(sc, split=3, rho=0.5, power=0.07, freq=1e9)
    # everything on the device, head included: 0.5 * 14e9 + 3e9 = 1e10 FLOPs, nothing sent
    assert full.t_device == pytest.approx(2.5)
    assert full.e_device == pytest.approx(0.25)
    assert full.t_uplink == 0.0 and full.e_uplink == 0.0 and full.t_server == 0.0
    server = evaluate(sc, split=0, rho=0.5, power=0.07, freq=1e9)
    assert server.t_device == 0.0 and server.e_device == 0.0
    assert server.t_uplink == pytest.approx(1000 / 3e6)
    assert server.t_server == pytest.approx(0.1)
    # nothing to send at s = L, so zero power is fine there; below L it never arrives
    assert evaluate(sc, 3, 0.0, 0.0, 1e9).t_uplink == 0.0
    silent = evaluate(sc, 1, 0.0, 0.0, 1e9)
    assert math.isinf(silent.t_uplink) and math.isinf(silent.e_uplink)
    assert not bool(silent.feasible)


def test_constraint_flags_and_box_limits():
    sc = small_scenario()
    b = evaluate(sc, 1, 0.5, 0.07, 1e9)
    tight = sc.replace(budget=Budget(latency=float(b.latency), energy=float(b.energy)))
    assert bool(evaluate(tight, 1, 0.5, 0.07, 1e9).feasible)  # exactly at the budget is feasible
    over = sc.replace(budget=Budget(latency=float(b.latency) * 0.99, energy=float(b.energy) * 0.99))
    ob = evaluate(over, 1, 0.5, 0.07, 1e9)
    assert not bool(ob.latency_ok) and not bool(ob.energy_ok) and bool(ob.box_ok)
    assert len(ob.violations()) == 2 and "latency" in ob.violations()[0]
    # box limits: evaluated, but flagged
    for args in [
        (0, 0.5, 0.07, 1e9),
        (1, 0.95, 0.07, 1e9),
        (1, 0.5, 0.2, 1e9),
        (1, 0.5, 0.07, 3e9),
    ]:
        out = evaluate(sc, *args)
        assert not bool(out.box_ok) and not bool(out.feasible)
        assert np.isfinite(out.latency)


@settings(max_examples=30, deadline=None)
@given(
    rho=st.floats(0.0, 0.9),
    power=st.floats(1e-3, 0.1),
    freq=st.floats(1e8, 2e9),
)
def test_vectorised_evaluate_equals_pointwise(rho, power, freq):
    sc = small_scenario(min_split=0)
    splits = np.arange(4)
    vec = evaluate(sc, splits[:, None], np.array([rho, rho / 2])[None, :], power, freq)
    assert vec.latency.shape == (4, 2)
    for i, s in enumerate(splits):
        for j, r in enumerate([rho, rho / 2]):
            one = evaluate(sc, int(s), r, power, freq)
            for f in dataclasses.fields(Breakdown):
                assert np.asarray(getattr(vec, f.name))[i, j] == pytest.approx(
                    float(getattr(one, f.name))
                )


# ---- work accounting -------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    w=st.lists(st.floats(0.0, 1e10), min_size=1, max_size=6),
    rho=st.floats(0.0, 0.99),
    head=st.floats(0.0, 1e10),
)
def test_device_plus_server_work_is_total_and_monotone(w, rho, head):
    L = len(w)
    prof = ModelProfile(
        weight_flops=w, attn_flops=np.ones(L), head_flops=head, feature_bits=[1.0] * L + [0.0]
    )
    s = np.arange(L + 1)
    wd, ws = prof.device_flops(rho, s), prof.server_flops(rho, s)
    np.testing.assert_allclose(wd + ws, prof.total_flops(rho), rtol=1e-12)
    assert np.all(np.diff(wd) >= -1e-6 * prof.total_flops(0.0))
    assert wd[0] == 0.0 and ws[-1] == pytest.approx(0.0, abs=1e-6 * max(1.0, prof.total_flops(0)))


# ---- validation: errors name the parameter and the allowed range -------------------------------


@pytest.mark.parametrize(
    "cls, field, bad, message",
    [
        (Device, "f_max", -1.0, r"f_max must be in \(0, inf\) Hz; got -1.0"),
        (Device, "f_max", 0.0, r"f_max must be in \(0, inf\) Hz; got 0.0"),
        (Device, "f_max", math.nan, r"f_max must be in \(0, inf\) Hz; got nan"),
        (Device, "flops_per_cycle", 0, r"flops_per_cycle must be in \(0, inf\) FLOPs/cycle"),
        (Device, "kappa", -2e-29, r"kappa must be in \(0, inf\) J/\(cycle Hz\^2\)"),
        (Device, "p_max", math.inf, r"p_max must be in \(0, inf\) W; got inf"),
        (Uplink, "bandwidth", -5e6, r"bandwidth must be in \(0, inf\) Hz; got -5000000.0"),
        (Uplink, "noise_psd", 0.0, r"noise_psd must be in \(0, inf\) W/Hz"),
        (Uplink, "gain", math.nan, r"gain must be in \(0, inf\); got nan"),
        (EdgeServer, "flops", 0.0, r"flops must be in \(0, inf\) FLOP/s"),
        (
            Budget,
            "latency",
            0.0,
            r"latency must be in \(0, inf\] s|latency must be in \(0, inf\) s",
        ),
        (Budget, "energy", -1.0, r"energy must be in \(0, inf\) J; got -1.0"),
        (Budget, "energy", math.nan, r"energy must be in \(0, inf\) J; got nan"),
    ],
)
def test_resource_validation_names_parameter_and_range(cls, field, bad, message):
    with pytest.raises(ValueError, match=message):
        cls(**{field: bad})


def test_resource_validation_rejects_non_numbers():
    with pytest.raises(TypeError, match="f_max must be a real number"):
        Device(f_max="2 GHz")
    with pytest.raises(TypeError, match="bandwidth must be a real number"):
        Uplink(bandwidth=None)


def test_budget_accepts_infinity_as_no_limit():
    assert Budget(latency=math.inf).latency == math.inf


@pytest.mark.parametrize(
    "changes, error, message",
    [
        (dict(weight_flops=[[1.0, 2.0]]), ValueError, r"weight_flops must be a 1-d array"),
        (
            dict(weight_flops=[-1.0, 2.0]),
            ValueError,
            r"weight_flops entries must be in \[0, inf\) FLOPs",
        ),
        (dict(weight_flops=[math.nan, 2.0]), ValueError, r"weight_flops must be finite"),
        (dict(weight_flops=[]), ValueError, r"weight_flops must not be empty"),
        (dict(attn_flops=[1.0]), ValueError, r"attn_flops must have shape \(2\); got shape \(1,\)"),
        (dict(head_flops=-1.0), ValueError, r"head_flops must be in \[0, inf\) FLOPs"),
        (dict(feature_bits=[1.0, 2.0]), ValueError, r"feature_bits must have shape \(3\)"),
        (dict(feature_bits=[1.0, 2.0, 3.0]), ValueError, r"feature_bits\[L\].*must be 0 bits"),
        (dict(seq_len=-1), ValueError, r"seq_len must be an integer in \[0, inf\]"),
    ],
)
def test_profile_validation(changes, error, message):
    fields = dict(
        weight_flops=[1.0, 2.0], attn_flops=[1.0, 1.0], head_flops=1.0, feature_bits=[1.0, 2.0, 0.0]
    )
    fields.update(changes)
    with pytest.raises(error, match=message):
        ModelProfile(**fields)


def test_profile_arrays_are_read_only():
    prof = small_scenario().profile
    with pytest.raises(ValueError):
        prof.weight_flops[0] = 0.0


def test_scenario_validation():
    sc = small_scenario()
    with pytest.raises(ValueError, match=r"rho_max must be in \[0, 1\); got 1.0"):
        sc.replace(rho_max=1.0)
    with pytest.raises(ValueError, match=r"min_split must be an integer in \[0, 3\]; got 4"):
        sc.replace(min_split=4)
    with pytest.raises(TypeError, match=r"min_split must be an integer"):
        sc.replace(min_split=1.5)
    with pytest.raises(TypeError, match=r"device must be a Device; got Uplink"):
        sc.replace(device=Uplink())
    with pytest.raises(TypeError, match=r"profile must be a ModelProfile"):
        Scenario(profile=None)


@pytest.mark.parametrize(
    "args, message",
    [
        ((1.5, 0.0, 0.1, 1e9), r"split must be integers in \[0, 3\]; got 1.5"),
        ((-1, 0.0, 0.1, 1e9), r"split must be integers in \[0, 3\]; got -1"),
        ((4, 0.0, 0.1, 1e9), r"split must be integers in \[0, 3\]; got 4"),
        ((1, 1.0, 0.1, 1e9), r"rho must be in \[0, 1\); got 1.0"),
        ((1, math.nan, 0.1, 1e9), r"rho must be in \[0, 1\); got nan"),
        ((1, 0.0, -0.1, 1e9), r"power must be in \[0, inf\) W; got -0.1"),
        ((1, 0.0, math.nan, 1e9), r"power must be in \[0, inf\) W; got nan"),
        ((1, 0.0, 0.1, 0.0), r"freq must be in \(0, inf\) Hz; got 0.0"),
        ((1, 0.0, 0.1, -1e9), r"freq must be in \(0, inf\) Hz|freq must be in \[0, inf\) Hz"),
    ],
)
def test_evaluate_validation(args, message):
    with pytest.raises(ValueError, match=message):
        evaluate(small_scenario(), *args)


def test_evaluate_rejects_wrong_types():
    with pytest.raises(TypeError, match="scenario must be a Scenario"):
        evaluate("default", 1, 0.0, 0.1, 1e9)
    with pytest.raises(TypeError, match="split must be integers"):
        evaluate(small_scenario(), "one", 0.0, 0.1, 1e9)


# ---- the default scenario and the channel helpers ----------------------------------------------


def test_default_scenario_uses_the_table():
    sc = Scenario.default()
    assert sc.profile.name == default("model") and sc.profile.seq_len == default("seq_len")
    assert sc.device.f_max == default("Device.f_max")
    assert sc.device.flops_per_cycle == default("Device.flops_per_cycle")
    assert sc.device.kappa == default("Device.kappa")
    assert sc.device.p_max == default("Device.p_max")
    assert sc.uplink.bandwidth == default("Uplink.bandwidth")
    assert sc.uplink.noise_psd == default("Uplink.noise_psd")
    assert sc.uplink.gain == pytest.approx(default("Uplink.gain"), rel=1e-12)
    assert sc.server.flops == default("EdgeServer.flops")
    assert sc.budget == Budget(default("Budget.latency"), default("Budget.energy"))
    assert sc.rho_max == default("Scenario.rho_max") and sc.min_split == default(
        "Scenario.min_split"
    )
    assert isinstance(sc.objective, SurrogateObjective)


def test_default_overrides_replace_and_with_gain():
    sc = Scenario.default(model="gpt2", seq_len=64, min_split=0, budget=Budget(1.0, 1.0))
    assert sc.profile.n_blocks == 12 and sc.profile.seq_len == 64 and sc.min_split == 0
    assert sc.budget.latency == 1.0
    g = sc.replace(gain=1e-9)
    assert g.uplink.gain == 1e-9 and g.uplink.bandwidth == sc.uplink.bandwidth
    with pytest.raises(ValueError, match="gain must be in"):
        sc.replace(gain=-1.0)


def test_channel_helpers():
    assert dbm_to_watt(30.0) == pytest.approx(1.0)
    assert dbm_to_watt(23.0) == pytest.approx(0.19953, rel=1e-4)
    assert path_loss_db(1000.0) == pytest.approx(128.1)
    assert path_loss_db(100.0) == pytest.approx(128.1 - 37.6)
    np.testing.assert_allclose(path_gain([100.0, 1000.0]), 10 ** (-np.array([90.5, 128.1]) / 10))
    with pytest.raises(ValueError, match=r"distance must be in \(0, inf\) m"):
        path_gain(0.0)
    up = Uplink(bandwidth=1e6, noise_psd=1e-20, gain=1e-12)
    np.testing.assert_allclose(rate([0.0, 0.01, 0.07], up), [0.0, 1e6, 3e6])


# ---- dominance of split points -----------------------------------------------------------------


def test_undominated_splits():
    sc = small_scenario()  # device 8e9 FLOP/s at f_max, server 1e11: the device is slower
    np.testing.assert_array_equal(undominated_splits(sc), [1, 3])
    np.testing.assert_array_equal(undominated_splits(sc.replace(min_split=0)), [0, 3])
    loaded = sc.replace(server=EdgeServer(flops=1e9))  # slower than the device
    np.testing.assert_array_equal(undominated_splits(loaded), [1, 2, 3])
    L = Scenario.default().profile.n_blocks
    np.testing.assert_array_equal(undominated_splits(Scenario.default()), [1, L])


@settings(max_examples=40, deadline=None)
@given(
    s=st.integers(2, 35),
    rho=st.floats(0.0, 0.95),
    power=st.floats(1e-3, 0.2),
    freq=st.floats(1e7, 2e9),
)
def test_dominated_split_is_never_better(s, rho, power, freq):
    sc = Scenario.default()
    here, floor = evaluate(sc, s, rho, power, freq), evaluate(sc, sc.min_split, rho, power, freq)
    assert floor.latency <= here.latency * (1 + 1e-12)
    assert floor.energy <= here.energy * (1 + 1e-12)


def test_deadline_rho_is_exact_at_full_clock_and_power():
    checked = 0
    for t_max in (1.5, 3.0):
        sc = small_scenario(budget=Budget(latency=t_max, energy=math.inf))
        rho = deadline_rho(sc, np.arange(4))
        dev = sc.device
        for s in range(4):
            if 0 < rho[s] < 1:
                checked += 1
                assert evaluate(sc, s, rho[s], dev.p_max, dev.f_max).latency == pytest.approx(t_max)
                assert evaluate(sc, s, rho[s] - 1e-3, dev.p_max, dev.f_max).latency > t_max
            elif rho[s] == 0:
                assert evaluate(sc, s, 0.0, dev.p_max, dev.f_max).latency <= t_max
            else:  # even rho -> 1 misses: the unprunable part alone is too slow
                assert evaluate(sc, s, 0.999999, dev.p_max, dev.f_max).latency > t_max
    assert checked == 3  # s = 3 at 1.5 s; s = 1, 2 at 3 s
    assert math.isinf(deadline_rho(sc.replace(budget=Budget(latency=1e-3)), 1))
    assert deadline_rho(sc.replace(budget=Budget(latency=100.0)), 1) == 0.0


def test_profile_methods_and_rate_validate_their_inputs():
    prof = small_scenario().profile
    with pytest.raises(ValueError, match=r"split must be integers in \[0, 3\]; got -1"):
        prof.device_flops(0.5, -1)  # would silently wrap around as a numpy index
    with pytest.raises(ValueError, match=r"split must be integers in \[0, 3\]; got 4"):
        prof.bits(4)
    with pytest.raises(ValueError, match=r"rho must be in \[0, 1\]; got 1.5"):
        prof.total_flops(1.5)
    assert prof.device_flops(1.0, 3) == pytest.approx(3e9)  # rho = 1 leaves the attention FLOPs
    with pytest.raises(ValueError, match=r"power must be in \[0, inf\) W; got -1"):
        rate(-1, Uplink())
    with pytest.raises(TypeError, match="uplink must be an Uplink"):
        rate(0.1, small_scenario())


def test_evaluate_with_per_point_gains_matches_one_scenario_per_gain():
    sc = Scenario.default(model="gpt2")
    gains = sc.uplink.gain * np.array([0.1, 1.0, 3.0])
    splits, rho, power = np.array([1, 5, sc.profile.n_blocks]), 0.3, np.array([0.05, 0.0, 0.1])
    bd = evaluate(sc, splits, rho, power, sc.device.f_max, gain=gains)
    for i, g in enumerate(gains):
        ref = evaluate(sc.replace(gain=g), splits[i], rho, power[i], sc.device.f_max)
        for name in ("latency", "energy", "t_uplink", "e_uplink", "feasible"):
            assert getattr(bd, name)[i] == getattr(ref, name), name
    assert np.isinf(bd.t_uplink[1])  # zero power at a split that sends: never delivered
    with pytest.raises(ValueError, match=r"gain must be in \(0, inf\)"):
        evaluate(sc, 1, rho, 0.1, sc.device.f_max, gain=[0.0])


# ---- measured work curves in the cost model --------------------------------------------------------


def _curve(sc, kind="unstructured", rho=(0.0, 0.3, 0.7)):
    """A hand-made non-increasing curve: the paper's work at rho = 0, then a kink and a plateau."""
    from coinfer.system import WorkCurve

    s = np.arange(sc.profile.n_blocks + 1)
    c0 = sc.profile.device_flops(0.0, s) / sc.device.flops_per_cycle
    t0 = sc.profile.server_flops(0.0, s) / sc.server.flops
    shape = np.array([1.0, 0.5, 0.5])  # halves by rho = 0.3, then flat
    return WorkCurve(
        pruning=kind,
        rho=np.array(rho),
        device_cycles=c0[:, None] * shape,
        server_seconds=t0[:, None] * shape,
    )


def test_evaluate_with_a_work_curve_uses_its_cycles_and_server_time():
    sc = small_scenario()
    curve = _curve(sc)
    wsc = sc.replace(work=(curve,))
    for rho in (0.0, 0.15, 0.3, 0.5, 0.85):  # on the grid, inside a piece, on the plateau, past it
        b = evaluate(wsc, 1, rho, 0.07, 1e9)
        cyc = float(curve.cycles(rho, 1))
        assert b.t_device == pytest.approx(cyc / 1e9, rel=1e-12)
        assert b.e_device == pytest.approx(1e-28 * cyc * 1e18, rel=1e-12)
        assert b.t_server == pytest.approx(float(curve.server_time(rho, 1)), rel=1e-12)
        ref = evaluate(sc, 1, rho, 0.07, 1e9)  # the uplink does not change
        assert b.t_uplink == ref.t_uplink and b.e_uplink == ref.e_uplink
    # 7.5e8 cycles at rho = 0.15: halfway between 1.25e9 (4e9 + 1e9 FLOPs) and 6.25e8
    assert float(curve.cycles(0.15, 1)) == pytest.approx(0.75 * 1.25e9)


@settings(max_examples=30, deadline=None)
@given(
    rho=st.floats(0.0, 0.9),
    power=st.floats(1e-3, 0.1),
    freq=st.floats(1e8, 2e9),
    grid=st.lists(st.floats(0.01, 0.95), max_size=4),
)
def test_the_paper_model_as_a_work_curve_evaluates_the_same(rho, power, freq, grid):
    from coinfer.system import WorkCurve

    sc = small_scenario(min_split=0)
    r = np.unique(np.concatenate([[0.0, 0.95], grid]))
    curve = WorkCurve.from_profile(sc.profile, sc.device, sc.server, r)
    assert curve.pruning == "paper"
    a = evaluate(sc, np.arange(4), rho, power, freq)
    b = evaluate(sc.replace(work=(curve,)), np.arange(4), rho, power, freq)
    for name in ("t_device", "e_device", "t_server", "latency", "energy"):
        np.testing.assert_allclose(getattr(b, name), getattr(a, name), rtol=1e-12, atol=1e-18)


def test_work_curve_pieces_reproduce_the_curve():
    sc = small_scenario()
    curve = _curve(sc)
    for rho_max in (0.2, 0.3, 0.5, 0.9):
        pc = curve.pieces(rho_max)
        assert pc["rho_lo"][0] == 0.0 and pc["rho_hi"][-1] == pytest.approx(rho_max)
        assert np.all(pc["rho_lo"][1:] == pc["rho_hi"][:-1])  # contiguous
        assert np.all(pc["dev_slope"] >= 0) and np.all(pc["srv_slope"] >= 0)
        for j, (lo, hi) in enumerate(zip(pc["rho_lo"], pc["rho_hi"], strict=True)):
            for rho in np.linspace(lo, hi, 5):
                u = 1.0 - rho
                np.testing.assert_allclose(
                    pc["dev_slope"][:, j] * u + pc["dev_icpt"][:, j],
                    curve.cycles(rho, np.arange(4)),
                    rtol=1e-12,
                    atol=1e-3,
                )
                np.testing.assert_allclose(
                    pc["srv_slope"][:, j] * u + pc["srv_icpt"][:, j],
                    curve.server_time(rho, np.arange(4)),
                    rtol=1e-12,
                    atol=1e-15,
                )
    # the kink makes the extended line of the steep piece negative at u = 0: allowed
    assert np.any(curve.pieces(0.9)["dev_icpt"][:, 0] < 0)
    assert curve.pieces(0.9)["rho_hi"].tolist() == [0.3, 0.7, 0.9]  # flat past the grid


def test_evaluate_names_the_pruning_kind():
    from coinfer.system.costs import pruning_kinds

    sc = small_scenario()
    two = sc.replace(work=(_curve(sc, "unstructured"), _curve(sc, "structured")))
    assert pruning_kinds(sc) == ("paper",) and pruning_kinds(two) == ("unstructured", "structured")
    with pytest.raises(
        ValueError, match=r"pruning must be one of \('unstructured', 'structured'\)"
    ):
        evaluate(two, 1, 0.1, 0.07, 1e9)
    with pytest.raises(ValueError, match=r"pruning must be one of \('paper',\); got 'structured'"):
        evaluate(sc, 1, 0.1, 0.07, 1e9, pruning="structured")
    assert bool(evaluate(two, 1, 0.1, 0.07, 1e9, pruning="structured").box_ok)
