"""Calibration of a device (coinfer.real.calibration) and its profile (coinfer.system.device_profile)."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from coinfer.real.calibration import CSRLinear, calibrate, check_grid, time_call
from coinfer.system import EdgeServer
from coinfer.system.device_profile import DeviceProfile


def _profile(L=3, G=3, seed=0):
    rng = np.random.default_rng(seed)
    rho = np.linspace(0, 0.8, G)
    med = {k: rng.uniform(1e-3, 2e-3, (G, L)) for k in ("unstructured", "structured")}
    return DeviceProfile(
        model="minilm",
        profile="minilm-l6",
        machine={"clock": "cpu"},
        f_ref=2e9,
        seq_len=8,
        threads=1,
        repeats=3,
        rho=rho,
        embed_seconds=1e-4,
        head_seconds=2e-4,
        block_seconds={k: DeviceProfile.fit(v) for k, v in med.items()},
        block_median=med,
        block_spread={k: v * 0.1 for k, v in med.items()},
        block_upper={k: v * 1.1 for k, v in med.items()},
        block_flops={
            "unstructured": np.full((G, L), 1e6),
            "structured": np.outer(1 - rho, np.full(L, 1e6)),
        },
        achieved={k: rho.copy() for k in med},
        csr={k: np.zeros((G, L)) for k in med},
        head_flops=1e5,
    )


@pytest.mark.parametrize(
    "ratios, message",
    [
        ([0.0, 1.0], r"ratios must be in \[0, 1\); got 1.0"),
        ([-0.1, 0.5], r"ratios must be in \[0, 1\); got -0.1"),
        ([0.0, 0.5, 0.5], r"ratios must be strictly increasing; got \[0.0, 0.5, 0.5\]"),
        ([0.6, 0.3], r"ratios must be strictly increasing"),
    ],
)
def test_grid_validation(ratios, message):
    with pytest.raises(ValueError, match=message):
        check_grid(ratios)


def test_grid_gets_zero():
    np.testing.assert_array_equal(check_grid([0.5, 0.9]), [0.0, 0.5, 0.9])


def test_calibrate_refuses_bad_arguments():
    with pytest.raises(ValueError, match=r"model must be one of minilm, smollm2; got 'gpt2'"):
        calibrate("gpt2")
    with pytest.raises(ValueError, match="ratios must be strictly increasing"):
        calibrate("minilm", ratios=[0.5, 0.2])
    with pytest.raises(ValueError, match="kinds must be a non-empty subset"):
        calibrate("minilm", kinds=("paper",))
    with pytest.raises(ValueError, match="clock 'cpu' needs threads=1"):
        calibrate("minilm", threads=2, clock="cpu")


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 1000), G=st.integers(2, 6), L=st.integers(1, 5))
def test_fitted_times_and_curves_do_not_increase(seed, G, L):
    p = _profile(L, G, seed)
    for kind in p.kinds:
        assert np.all(np.diff(p.block_seconds[kind], axis=0) <= 1e-15)
    for w in p.work_curves(EdgeServer(flops=1e9)):
        assert np.all(np.diff(w.device_cycles, axis=1) <= 1e-6)
        assert np.all(np.diff(w.server_seconds, axis=1) <= 1e-15)


def test_work_curve_is_seconds_times_the_reference_clock():
    p = _profile()
    w = p.work_curve("structured", EdgeServer(flops=1e9), steps=False)
    t = p.block_seconds["structured"]
    assert w.device_cycles[0, 0] == 0.0
    assert w.device_cycles[1, 1] == pytest.approx(2e9 * (1e-4 + t[1, 0]))
    assert w.device_cycles[3, 2] == pytest.approx(2e9 * (1e-4 + t[2].sum() + 2e-4))
    # server: blocks s+1..L and the head at Phi_s; nothing at s = L
    assert w.server_seconds[1, 0] == pytest.approx((2e6 + 1e5) / 1e9)
    assert w.server_seconds[3, 0] == 0.0
    wide = p.work_curve("structured", EdgeServer(flops=1e9), margin=1.2, steps=False)
    np.testing.assert_allclose(wide.device_cycles, 1.2 * w.device_cycles)
    np.testing.assert_array_equal(wide.server_seconds, w.server_seconds)
    with pytest.raises(ValueError, match="margin must be"):
        p.work_curve("structured", EdgeServer(), margin=0.9)
    dense = 3e6 + 1e5
    phi = p.flops_per_cycle(dense)
    assert phi * 2e9 * p.device_seconds(p.kinds[0])[-1, 0] == pytest.approx(dense)


def test_save_and_load_round_trip(tmp_path):
    p = _profile()
    q = DeviceProfile.load(p.save(tmp_path / "device.json"))
    for kind in p.kinds:
        np.testing.assert_array_equal(q.block_seconds[kind], p.block_seconds[kind])
    assert q.f_ref == p.f_ref and q.machine == p.machine
    with pytest.raises(ValueError, match="not a coinfer device profile"):
        DeviceProfile.from_dict({"format": "x"})


def test_csr_linear_computes_the_linear_layer():
    torch.manual_seed(0)
    lin = torch.nn.Linear(7, 5)
    with torch.no_grad():
        lin.weight[lin.weight.abs() < 0.2] = 0.0
    x = torch.randn(2, 3, 7)
    torch.testing.assert_close(CSRLinear(lin)(x), lin(x))


def test_time_call_counts_repeats_and_checks_the_clock():
    calls = []
    t = time_call(lambda: calls.append(1), 4)
    assert len(calls) == 5 and t.shape == (4,) and np.all(t >= 0)  # one warm-up
    with pytest.raises(ValueError, match="clock must be one of"):
        time_call(lambda: None, 2, clock="sundial")


def test_a_tiny_real_calibration_restores_threads():
    before = torch.get_num_threads()
    p = calibrate("minilm", ratios=(0.0, 0.6), seq_len=8, repeats=1)
    assert torch.get_num_threads() == before
    assert p.n_blocks == 6 and p.kinds == ("unstructured", "structured")
    assert p.achieved["structured"][1] == pytest.approx(0.6, abs=0.01)
    # structured pruning executes fewer FLOPs; unstructured executes the dense ones
    assert np.all(p.block_flops["structured"][1] < p.block_flops["structured"][0])
    np.testing.assert_array_equal(
        p.block_flops["unstructured"][1], p.block_flops["unstructured"][0]
    )


def test_staircase_holds_the_lower_grid_point_until_the_next():
    from coinfer.system.device_profile import STEP_WIDTH

    p = _profile(L=2, G=3)
    server = EdgeServer(flops=1e9)
    line, stair = (
        p.work_curve("structured", server, steps=False),
        p.work_curve("structured", server),
    )
    r = p.rho  # 0, 0.4, 0.8
    for s in range(3):
        # at grid points both agree; just before the next grid point the staircase has not dropped
        np.testing.assert_allclose(stair.cycles(r, s), line.cycles(r, s))
        assert stair.cycles(r[1] - 2 * STEP_WIDTH, s) == pytest.approx(line.cycles(0.0, s))
        assert np.all(
            stair.cycles(np.linspace(0, 0.8, 41), s)
            >= line.cycles(np.linspace(0, 0.8, 41), s) - 1e-6
        )
