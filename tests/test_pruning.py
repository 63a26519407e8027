"""Tests of coinfer.real.pruning: exact counts, untouched input, determinism, which weights are prunable."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from coinfer.real.pruning import prunable_weights, prune, pruned_models, pruning_masks


class TiedLM(torch.nn.Module):
    """A toy language model: embedding, two linear layers, a head tied to the embedding, a norm."""

    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.embed = torch.nn.Embedding(11, 6)
        self.fc1 = torch.nn.Linear(6, 7)
        self.fc2 = torch.nn.Linear(7, 6, bias=False)
        self.norm = torch.nn.LayerNorm(6)
        self.head = torch.nn.Linear(6, 11, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, ids):
        return self.head(self.norm(self.fc2(torch.relu(self.fc1(self.embed(ids))))))


def _mlp(seed=0, widths=(5, 9, 4, 3)):
    g = torch.Generator().manual_seed(seed)
    layers = []
    for a, b in zip(widths[:-1], widths[1:], strict=True):
        lin = torch.nn.Linear(a, b)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(b, a, generator=g))
        layers += [lin, torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


def _n_zeroed(before, after):
    wb, wa = prunable_weights(before), prunable_weights(after)
    return sum(int(((wa[n] == 0) & (wb[n] != 0)).sum()) for n in wb)


def test_prunable_weights_selection_and_tied_head():
    m = TiedLM()
    w = prunable_weights(m)
    assert list(w) == ["fc1.weight", "fc2.weight"]  # no embedding, no tied head, no norm, no bias
    assert w["fc1.weight"] is m.fc1.weight  # the parameter itself
    we = prunable_weights(m, include_embeddings=True)
    assert list(we) == ["embed.weight", "fc1.weight", "fc2.weight"]  # tied head counted once
    assert list(prunable_weights(m, exclude=("fc2",))) == ["fc1.weight"]


def test_gpt2_conv1d_is_prunable():
    from transformers.pytorch_utils import Conv1D

    m = torch.nn.Sequential(Conv1D(8, 4), torch.nn.GELU(), torch.nn.Linear(8, 2))
    assert list(prunable_weights(m)) == ["0.weight", "2.weight"]


def test_no_prunable_weights_is_an_error():
    with pytest.raises(ValueError, match="no prunable weights"):
        prunable_weights(torch.nn.LayerNorm(4))
    with pytest.raises(TypeError, match="torch.nn.Module"):
        prunable_weights(np.zeros(3))


@settings(max_examples=40, deadline=None)
@given(
    ratio=st.floats(0.0, 1.0),
    method=st.sampled_from(["magnitude", "random"]),
    scope=st.sampled_from(["global", "layer"]),
    seed=st.integers(0, 2**16),
)
def test_exact_count_and_original_untouched(ratio, method, scope, seed):
    m = _mlp(seed % 7)
    before = {n: p.detach().clone() for n, p in m.state_dict().items()}
    r = prune(m, ratio, method, scope, seed)
    n_total = 5 * 9 + 9 * 4 + 4 * 3
    assert r.n_prunable == n_total
    assert r.n_pruned == round(ratio * n_total)  # exactly, not to within one weight
    assert _n_zeroed(m, r.model) == r.n_pruned  # random normal weights: no zeros before
    assert r.achieved_ratio == r.n_pruned / n_total
    for n, p in m.state_dict().items():
        assert torch.equal(p, before[n])
    # biases are never pruned
    for n, p in r.model.state_dict().items():
        if n.endswith("bias"):
            assert torch.equal(p, before[n])
    if scope == "layer":
        for n, w in prunable_weights(m).items():
            c = r.layer_ratios[n] * w.numel()
            assert np.floor(ratio * w.numel()) - 1e-9 <= c <= np.ceil(ratio * w.numel()) + 1e-9


@settings(max_examples=25, deadline=None)
@given(ratio=st.floats(0.0, 1.0), seed=st.integers(0, 100))
def test_magnitude_prunes_the_smallest(ratio, seed):
    m = _mlp(seed)
    w = prunable_weights(m)
    masks = pruning_masks(w, ratio, "magnitude", "global")
    pruned = torch.cat([w[n].detach().abs()[masks[n]] for n in w])
    kept = torch.cat([w[n].detach().abs()[~masks[n]] for n in w])
    if pruned.numel() and kept.numel():
        assert pruned.max() <= kept.min()
    masks = pruning_masks(w, ratio, "magnitude", "layer")
    for n in w:
        a = w[n].detach().abs()
        if masks[n].any() and (~masks[n]).any():
            assert a[masks[n]].max() <= a[~masks[n]].min()


def test_ties_are_broken_by_position():
    lin = torch.nn.Linear(4, 3, bias=False)
    with torch.no_grad():
        lin.weight.fill_(0.5)
    r = prune(lin, 5 / 12)
    assert r.n_pruned == 5
    assert torch.equal(r.model.weight.flatten() == 0, torch.arange(12) < 5)


def test_matches_torch_l1_unstructured_on_one_layer():
    import torch.nn.utils.prune as tprune

    lin = _mlp(3, widths=(20, 15))[0]
    ours = prune(lin, 0.37).model.weight
    ref = torch.nn.Linear(20, 15)
    ref.load_state_dict(lin.state_dict())
    tprune.l1_unstructured(ref, "weight", amount=round(0.37 * 300))
    assert torch.equal(ours, ref.weight)


def test_deterministic_under_seed_and_seed_matters():
    m = _mlp(1)
    a = prune(m, 0.4, "random", seed=5).model
    b = prune(m, 0.4, "random", seed=5).model
    c = prune(m, 0.4, "random", seed=6).model
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert any(
        not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters(), strict=True)
    )


def test_random_pruning_is_uniform():
    # each weight of a 2-tensor model is pruned with probability ratio, whatever its tensor
    m = _mlp(0, widths=(3, 2, 5))
    w = prunable_weights(m)
    freq = {n: torch.zeros_like(t, dtype=torch.float64) for n, t in w.items()}
    for seed in range(400):
        for n, mk in pruning_masks(w, 0.25, "random", "global", seed).items():
            freq[n] += mk
    allf = torch.cat([f.flatten() for f in freq.values()]) / 400
    assert abs(float(allf.mean()) - 0.25) < 1e-12  # exact count every time
    assert float((allf - 0.25).abs().max()) < 0.12  # binomial(400, 0.25): sd 0.022


def test_tied_embeddings_are_pruned_once_when_included():
    m = TiedLM()
    r = prune(m, 0.5, include_embeddings=True)
    assert r.n_prunable == 11 * 6 + 6 * 7 + 7 * 6
    assert r.model.head.weight is r.model.embed.weight  # the tie survives the copy
    assert r.n_pruned == round(0.5 * r.n_prunable)
    r0 = prune(m, 0.5)
    assert torch.equal(r0.model.embed.weight, m.embed.weight)


def test_pruned_models_equals_prune():
    m = TiedLM(2)
    for r in pruned_models(m, [0.0, 0.3, 0.9], "random", "layer", seed=4):
        ref = prune(m, r.ratio, "random", "layer", seed=4)
        assert r.n_pruned == ref.n_pruned
        for pa, pb in zip(r.model.parameters(), ref.model.parameters(), strict=True):
            assert torch.equal(pa, pb)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(ratio=1.5), "ratio must be in"),
        (dict(ratio=-0.1), "ratio must be in"),
        (dict(ratio=0.5, method="l2"), "method must be one of"),
        (dict(ratio=0.5, scope="block"), "scope must be one of"),
        (dict(ratio=0.5, seed=-1), "seed must be"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        prune(_mlp(), **kwargs)


def test_real_minilm_exact_ratio():
    from coinfer.real.models import load_model

    m = load_model("minilm")
    before = m.encoder.layer[0].attention.self.query.weight.detach().clone()
    for method in ("magnitude", "random"):
        r = prune(m, 0.7, method, exclude=("pooler",))
        assert r.n_prunable == 6 * (4 * 384 * 384 + 2 * 384 * 1536)
        assert r.n_pruned == round(0.7 * r.n_prunable)
        assert r.zero_fraction >= r.achieved_ratio
    assert torch.equal(m.encoder.layer[0].attention.self.query.weight, before)


def test_real_smollm2_tied_head_counted_once():
    from coinfer.real.models import load_model

    m = load_model("smollm2")
    w = prunable_weights(m, include_embeddings=True)
    assert "model.embed_tokens.weight" in w and "lm_head.weight" not in w
    assert len(w) == 1 + 30 * 7
    r = prune(m, 0.25, "random", include_embeddings=True, seed=1)
    assert r.n_prunable == sum(t.numel() for t in w.values())
    assert r.n_pruned == round(0.25 * r.n_prunable)
    assert r.model.lm_head.weight is r.model.model.embed_tokens.weight  # still tied in the copy
    assert r.layer_ratios["model.embed_tokens.weight"] > 0.2
