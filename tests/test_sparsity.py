"""Dense versus sparse kernel timing: structure only (times vary from run to run, so none is asserted)."""

import math

import numpy as np
import pytest

from coinfer.real import kernels as sp
from coinfer.real.profiles import builtin_config
from coinfer.system import ARCHITECTURES, builtin_profile


@pytest.mark.parametrize(
    "model, n_mats", [("smollm2-135m", 7 * 30), ("minilm-l6", 6 * 6), ("gpt2", 4 * 12)]
)
def test_weight_shapes_cover_every_block_matrix(model, n_mats):
    shapes = sp.weight_shapes(model)
    assert sum(count for _, count in shapes.values()) == n_mats
    params = sum(count * d_out * d_in for (d_out, d_in), count in shapes.values())
    prof = builtin_profile(model, 8)
    cfg = builtin_config(model)
    width = getattr(cfg, "hidden_size", None) or cfg.n_embd
    head = width * cfg.vocab_size if prof.head_flops > 2.0 * width * width else width * width
    # n_params leaves a tied head out (it is the embedding, not pruned); an untied one is in it
    assert params == prof.n_params - (0 if ARCHITECTURES[model].tied_head else head)


def test_smollm2_shapes_are_the_real_ones():
    shapes = sp.weight_shapes("smollm2-135m")
    assert shapes["q_proj, o_proj"] == ((576, 576), 60)
    assert shapes["k_proj, v_proj"] == ((192, 576), 60)
    assert shapes["gate_proj, up_proj"] == ((1536, 576), 60)
    assert shapes["down_proj"] == ((576, 1536), 30)


def test_time_kernels_structure():
    rho = [0.0, 0.5, 0.9]
    t = sp.time_kernels((48, 32), 8, rho, repeats=2, seed=3, count=4)
    assert t.shape == (48, 32) and t.n_tokens == 8 and t.count == 4
    assert t.dense.shape == t.sparse.shape == (3,)
    assert np.all(t.dense > 0) and np.all(t.sparse > 0)
    np.testing.assert_allclose(t.speedup, t.dense / t.sparse)


def test_time_model_kernels_keys_and_counts():
    timings = sp.time_model_kernels("minilm-l6", 2, [0.5, 0.99], repeats=1)
    assert set(timings) == set(sp.weight_shapes("minilm-l6"))
    assert sum(t.count for t in timings.values()) == 36


def _fake(dense, sparse, rho=(0.1, 0.3, 0.5, 0.7, 0.9)):
    return sp.KernelTiming(
        (4, 4), 1, np.asarray(rho), np.asarray(dense, float), np.asarray(sparse, float)
    )


def test_break_even_is_interpolated_at_the_last_crossing():
    # Sparse wins at 0.1 by noise, loses at 0.3 and 0.5, wins from 0.7: the crossing is in (0.5, 0.7).
    t = _fake([1, 1, 1, 1, 1], [0.9, 3.0, 1.5, 0.5, 0.2])
    assert sp.break_even_rho(t) == pytest.approx(0.5 + 0.2 * 0.5 / 1.0)
    assert math.isnan(sp.break_even_rho(_fake([1] * 5, [2, 2, 2, 2, 1.5])))
    assert sp.break_even_rho(_fake([1] * 5, [0.5] * 5)) == 0.1


def test_break_even_of_a_model_weights_shapes_by_count():
    a = sp.KernelTiming(
        (4, 4), 1, np.array([0.5, 0.9]), np.array([1.0, 1.0]), np.array([0.5, 0.5]), 1
    )
    b = sp.KernelTiming(
        (4, 4), 1, np.array([0.5, 0.9]), np.array([1.0, 1.0]), np.array([3.0, 0.5]), 3
    )
    # Totals: dense 4, 4; sparse 9.5, 2.0: crossing at 0.5 + 0.4 * 5.5 / 7.5.
    assert sp.break_even_rho({"a": a, "b": b}) == pytest.approx(0.5 + 0.4 * 5.5 / 7.5)
    rho, c = sp.effective_work_fraction({"a": a, "b": b})
    np.testing.assert_allclose(c, [1.0, 0.5])
    with pytest.raises(ValueError, match="same rho grid"):
        sp.break_even_rho({"a": a, "c": _fake([1] * 5, [1] * 5)})


def test_effective_work_fraction_is_at_most_one():
    rho, c = sp.effective_work_fraction(_fake([1, 1, 1, 1, 2], [3, 2, 0.5, 0.25, 0.2]))
    np.testing.assert_allclose(c, [1, 1, 0.5, 0.25, 0.1])


def test_bad_inputs():
    with pytest.raises(ValueError, match="rho entries must be in \\[0, 1\\)"):
        sp.time_kernels((4, 4), 2, [0.5, 1.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        sp.time_kernels((4, 4), 2, [0.5, 0.2])
    with pytest.raises(ValueError, match="n_tokens must be an integer in \\[1, inf\\]"):
        sp.time_kernels((4, 4), 0, [0.5])
    with pytest.raises(ValueError, match="model must be one of"):
        sp.weight_shapes("bloom")


def test_effective_rho_inverts_the_work_fraction():
    t = _fake([1, 1, 1, 1, 1], [3, 2, 0.5, 0.25, 0.1])  # c = 1, 1, 0.5, 0.25, 0.1 at 0.1 .. 0.9
    assert sp.effective_rho(0.0, t) == 0.0
    assert sp.effective_rho(0.3, t) == pytest.approx(0.0)
    assert sp.effective_rho(0.6, t) == pytest.approx(1 - 0.375)
    np.testing.assert_allclose(sp.effective_rho(np.array([0.5, 0.95]), t), [0.5, 0.9])
    with pytest.raises(ValueError, match="rho entries must be in \\[0, 1\\)"):
        sp.effective_rho(1.0, t)
