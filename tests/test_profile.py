"""Model profiles from configs: hand-checked formulas and agreement with PyTorch's FLOP counter."""

import importlib.util

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinfer.real.profiles import (
    architecture_of,
    builtin_config,
    counted_profile,
    profile_differences,
    profile_from_config,
    small_config,
)
from coinfer.system import ARCHITECTURES, BUILTIN_MODELS, ModelProfile, builtin_profile

ZERO = {
    "weight_flops": 0.0,
    "attn_flops": 0.0,
    "head_flops": 0.0,
    "feature_bits": 0.0,
    "n_params": 0.0,
}


def test_gpt2_small_by_hand():
    n, d, V = 10, 768, 50257
    p = builtin_profile("gpt2", n)
    assert p.n_blocks == 12
    np.testing.assert_array_equal(
        p.weight_flops, 2 * n * 12 * d * d
    )  # qkv 3d^2, proj d^2, mlp 8d^2
    np.testing.assert_array_equal(p.attn_flops, 4 * n * n * d)  # QK^T and AV, full square
    assert p.head_flops == 2 * n * d * V  # logits at every position
    assert p.feature_bits[0] == n * 32 and p.feature_bits[12] == 0
    np.testing.assert_array_equal(p.feature_bits[1:12], n * d * 16)
    assert p.n_params == 12 * 12 * d * d  # the tied head is the embedding: not prunable
    assert not p.head_prunable


def test_llama_7b_by_hand():
    n, d, ff, V = 128, 4096, 11008, 32000
    p = builtin_profile("llama-2-7b", n)
    assert p.n_blocks == 32
    np.testing.assert_array_equal(p.weight_flops, 2 * n * (4 * d * d + 3 * d * ff))  # gated MLP
    assert p.head_flops == 2 * n * d * V
    # about 6.5e9 prunable weights: LLaMA-2-7B without embeddings and norms
    assert p.n_params == 32 * (4 * d * d + 3 * d * ff) + d * V


def test_grouped_query_attention_shrinks_k_and_v_only():
    p = builtin_profile("smollm2-135m", 1)
    d, dkv, ff = 576, 3 * 64, 1536
    np.testing.assert_array_equal(p.weight_flops, 2 * (2 * d * d + 2 * d * dkv + 3 * d * ff))
    np.testing.assert_array_equal(p.attn_flops, 4 * d)  # scores use all 9 query heads


def test_bert_head_is_the_pooler():
    p = builtin_profile("minilm-l6", 128)
    assert p.head_flops == 2 * 384 * 384  # one token through a d x d dense layer


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 2048))
def test_scaling_with_sequence_length(n):
    one, many = builtin_profile("gpt2", 1), builtin_profile("gpt2", n)
    np.testing.assert_allclose(many.weight_flops, n * one.weight_flops)  # linear in n
    np.testing.assert_allclose(many.attn_flops, n * n * one.attn_flops)  # quadratic in n
    np.testing.assert_allclose(many.feature_bits, n * one.feature_bits)


@pytest.mark.parametrize("family", ["gpt2", "llama", "bert"])
def test_profile_matches_flop_counter_on_random_small_models(family):
    config = small_config(family)
    counted = counted_profile(config, 24, device="cpu", seed=3)
    analytic = profile_from_config(config, 24)
    diff = profile_differences(counted, analytic)
    assert diff == pytest.approx(ZERO, abs=1e-12)
    assert (
        counted.head_prunable == analytic.head_prunable == (not architecture_of(config).tied_head)
    )
    assert counted.attn_flops.min() > 0 and counted.head_flops > 0


@pytest.mark.parametrize("family", ["gpt2", "llama", "bert"])
def test_meta_device_counts_like_real_tensors(family):
    config = small_config(family)
    cpu = counted_profile(config, 16, device="cpu")
    meta = counted_profile(config, 16, device="meta")
    assert profile_differences(meta, cpu) == pytest.approx(ZERO, abs=1e-12)


@pytest.mark.parametrize("model", BUILTIN_MODELS)
def test_builtin_profiles_match_flop_counter_at_full_size(model):
    counted = counted_profile(builtin_config(model), 32)  # meta device: shapes only
    builtin = builtin_profile(model, 32)
    assert profile_differences(counted, builtin) == pytest.approx(ZERO, abs=1e-12)
    # a tied head is the embedding, which pruning leaves alone: neither profile prunes it
    assert counted.head_prunable == builtin.head_prunable == (not ARCHITECTURES[model].tied_head)


def test_sdpa_attention_is_invisible_to_the_counter_on_cpu():
    # The documented difference: the CPU fused kernel has no FLOP formula in torch's counter.
    config = small_config("gpt2")
    sdpa = counted_profile(config, 16, device="cpu", attention="sdpa")
    eager = counted_profile(config, 16, device="cpu", attention="eager")
    assert np.all(sdpa.attn_flops == 0) and np.all(eager.attn_flops > 0)
    np.testing.assert_array_equal(sdpa.weight_flops, eager.weight_flops)


def test_counted_profile_leaves_global_rng_alone():
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    counted_profile(small_config("bert"), 8, device="cpu", seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_profile_differences_detects_a_difference():
    a = builtin_profile("gpt2", 16)
    b = ModelProfile(
        weight_flops=a.weight_flops * 1.05,
        attn_flops=a.attn_flops,
        head_flops=0.0,
        feature_bits=a.feature_bits,
        n_params=a.n_params,
    )
    diff = profile_differences(b, a)
    assert diff["weight_flops"] == pytest.approx(0.05)
    assert diff["head_flops"] == pytest.approx(1.0) and diff["attn_flops"] == 0.0
    with pytest.raises(ValueError, match="counted must have the analytic profile's 12 blocks"):
        profile_differences(builtin_profile("gpt2-medium", 16), a)


@pytest.mark.parametrize("model", BUILTIN_MODELS)
def test_architecture_table_agrees_with_the_config(model):
    # The hand-written table cannot drift from the configs that the FLOP counter checks.
    assert architecture_of(builtin_config(model)) == ARCHITECTURES[model]


def test_architecture_table_agrees_with_the_shipped_configs():
    from transformers import AutoConfig

    from coinfer.real.models import MODELS, model_folder

    checked = 0
    for key, builtin in (("minilm", "minilm-l6"), ("smollm2", "smollm2-135m")):
        if importlib.util.find_spec(MODELS[key].module) is None:
            continue
        spec = MODELS[key]
        kwargs = {"gguf_file": spec.gguf_file} if spec.gguf_file else {}
        real = AutoConfig.from_pretrained(str(model_folder(key)), **kwargs)
        assert architecture_of(real) == ARCHITECTURES[builtin]
        checked += 1
    if checked == 0:
        pytest.skip("neither offline model package is installed")


def test_builtin_configs_match_the_offline_real_models():
    from transformers import AutoConfig

    from coinfer.real.models import MODELS, model_folder

    checked = 0
    for key, builtin in (("minilm", "minilm-l6"), ("smollm2", "smollm2-135m")):
        if importlib.util.find_spec(MODELS[key].module) is None:
            continue
        spec = MODELS[key]
        kwargs = {"gguf_file": spec.gguf_file} if spec.gguf_file else {}
        real = AutoConfig.from_pretrained(str(model_folder(key)), **kwargs)
        diff = profile_differences(profile_from_config(real, 64), builtin_profile(builtin, 64))
        assert diff == pytest.approx(ZERO, abs=1e-12)
        checked += 1
    if checked == 0:
        pytest.skip("neither offline model package is installed")


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda: builtin_profile("gpt2", 0),
            ValueError,
            r"seq_len must be an integer in \[1, inf\]; got 0",
        ),
        (
            lambda: builtin_config("gpt5"),
            ValueError,
            r"model must be one of minilm-l6, .*; got 'gpt5'",
        ),
        (lambda: small_config("t5"), ValueError, r"family must be one of 'gpt2', 'llama', 'bert'"),
        (
            lambda: profile_from_config(builtin_config("gpt2"), 8, b_act=0),
            ValueError,
            r"b_act must be an integer in \[1, inf\]; got 0",
        ),
        (
            lambda: counted_profile(small_config("gpt2"), 8, device="cuda"),
            ValueError,
            r"device must be one of 'meta', 'cpu'; got 'cuda'",
        ),
        (
            lambda: counted_profile(small_config("gpt2"), 8, attention="flash"),
            ValueError,
            r"attention must be one of 'eager', 'sdpa'; got 'flash'",
        ),
        (
            lambda: profile_differences(None, builtin_profile("gpt2", 8)),
            TypeError,
            r"counted must be a ModelProfile",
        ),
    ],
)
def test_validation(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_unknown_architecture_is_refused():
    from transformers import T5Config

    with pytest.raises(ValueError, match=r"config.model_type must be one of .*; got 't5'"):
        profile_from_config(T5Config(), 8)
