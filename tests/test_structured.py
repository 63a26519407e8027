"""Structured pruning (coinfer.real.structured): exact at rho = 0, FLOPs counted to the FLOP."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from coinfer.real import split_execution as ci
from coinfer.real.models import load_model
from coinfer.real.structured import (
    CHANNEL_STEP,
    Structure,
    analytic_flops,
    plan,
    prune_structured,
    structure_of,
)

SMOL = Structure("llama", 30, 576, 64, 3, 3, 1536, 49152)
MINI = Structure("bert", 6, 384, 32, 1, 12, 1536, 30522)


@pytest.fixture(scope="module", params=["minilm", "smollm2"])
def real(request):
    return request.param, load_model(request.param)


def test_structures_of_the_real_models():
    assert structure_of(load_model("minilm")) == MINI
    assert MINI.block_params == 4 * 384 * 384 + 2 * 384 * 1536
    assert SMOL.block_params == 2 * 576 * 576 + 2 * 576 * 192 + 3 * 576 * 1536


@settings(max_examples=60, deadline=None)
@given(ratio=st.floats(0.0, 0.95), which=st.sampled_from([SMOL, MINI]))
def test_plan_reaches_the_ratio_to_one_channel(ratio, which):
    m, c = plan(which, ratio)
    assert 0 <= m < which.heads_per_group and 0 <= c < which.d_ff
    assert (which.d_ff - c) % CHANNEL_STEP == 0
    achieved = (
        m * which.groups * which.head_params + c * which.channel_params
    ) / which.block_params
    reachable = (
        which.groups * (which.heads_per_group - 1) * which.head_params
        + (which.d_ff - CHANNEL_STEP) * which.channel_params
    ) / which.block_params
    if ratio <= reachable - 1e-3:  # within half a step of channels
        step = CHANNEL_STEP * which.channel_params / which.block_params
        assert abs(achieved - ratio) <= 0.5 * step + 1e-12


def test_ratio_zero_reproduces_the_model_exactly(real):
    key, model = real
    ids, mask = ci.english_batch(key, 2, 24, seed=0)
    res = prune_structured(model, 0.0)
    assert res.achieved_ratio == 0.0 and res.model is not model
    assert torch.equal(ci.full_forward(res.model, ids, mask), ci.full_forward(model, ids, mask))


@pytest.mark.parametrize("ratio", [0.0, 0.35, 0.8])
def test_sliced_flops_equal_the_analytic_count(real, ratio):
    key, model = real
    res = prune_structured(model, ratio)
    sliced = res.model
    sliced.set_attn_implementation("eager")  # the fused CPU kernel has no FLOP formula
    n = 12
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        sliced(input_ids=torch.ones(1, n, dtype=torch.long))
    want = analytic_flops(structure_of(model), res.heads_kept, res.channels_kept, n)["total"]
    assert counter.get_total_flops() == want


def test_pruning_slices_and_leaves_the_original_alone():
    model = load_model("minilm")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    res = prune_structured(model, 0.5)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    block = res.model.encoder.layer[0]
    assert block.attention.self.query.weight.shape == (32 * res.heads_kept, 384)
    assert block.intermediate.dense.weight.shape == (res.channels_kept, 384)
    n_left = sum(p.numel() for n, p in res.model.encoder.named_parameters() if p.ndim == 2)
    assert n_left == res.n_block_params - res.n_removed
    assert res.achieved_ratio == pytest.approx(0.5, abs=0.01)


def test_lowest_norm_units_are_removed():
    model = load_model("minilm")
    res = prune_structured(model, 0.3)
    up = model.encoder.layer[2].intermediate.dense.weight
    down = model.encoder.layer[2].output.dense.weight
    score = (up.pow(2).sum(1) + down.pow(2).sum(0)).sqrt()
    kept = res.model.encoder.layer[2].intermediate.dense.weight
    # the kept rows are exactly the rows with the largest scores
    expect = torch.sort(torch.argsort(score, stable=True)[len(score) - res.channels_kept :]).values
    assert torch.equal(kept, up[expect])


def test_validation():
    with pytest.raises(ValueError, match=r"ratio must be .*\[0, 1\).*got 1.0"):
        plan(MINI, 1.0)
    with pytest.raises(TypeError, match="BertModel or a LlamaForCausalLM"):
        structure_of(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="heads_kept"):
        analytic_flops(MINI, 13, 10, 4)


def test_sliced_model_is_faster_to_count_than_dense():
    # the work falls with rho: counted FLOPs strictly decrease along the ratio grid
    flops = [
        analytic_flops(SMOL, *(SMOL.heads_per_group - m, SMOL.d_ff - c), 64)["total"]
        for m, c in (plan(SMOL, r) for r in np.linspace(0, 0.9, 10))
    ]
    assert np.all(np.diff(flops) < 0)
