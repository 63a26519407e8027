"""Tests of coinfer.real.distortion: parameter and output distortion against hand-computed cases."""

import numpy as np
import pytest
import torch

from coinfer.real.distortion import (
    first_order_estimate,
    model_output,
    output_distortion,
    parameter_distortion,
    weight_distortion,
)
from coinfer.real.pruning import prune


def _pair():
    a = torch.nn.Sequential(
        torch.nn.Linear(2, 2, bias=False), torch.nn.ReLU(), torch.nn.Linear(2, 1, bias=False)
    ).double()
    with torch.no_grad():
        a[0].weight.copy_(torch.tensor([[1.0, -2.0], [0.5, 3.0]]))
        a[2].weight.copy_(torch.tensor([[2.0, -1.0]]))
    b = prune(a, 2 / 6).model  # zeroes 0.5 and 1.0
    return a, b


def test_weight_distortion_by_hand():
    d = weight_distortion(np.array([1.0, -2.0, 0.5]), np.array([0.0, -2.0, 0.0]))
    assert (d.abs_err, d.sq_err, d.abs_ref, d.sq_ref, d.n) == (1.5, 1.25, 3.5, 5.25, 3)
    assert d.abs_mean == 0.5 and d.sq_normalised == pytest.approx(1.25 / 5.25)
    with pytest.raises(ValueError, match="shape"):
        weight_distortion(np.zeros(2), np.zeros(3))


def test_parameter_distortion_by_hand():
    a, b = _pair()
    d = parameter_distortion(a, b)
    assert d.n == 6
    assert d.abs_err == 1.5 and d.sq_err == 1.25
    assert d.abs_ref == 9.5 and d.sq_ref == 1 + 4 + 0.25 + 9 + 4 + 1
    assert d.abs_normalised == pytest.approx(1.5 / 9.5)
    assert parameter_distortion(a, a).abs_err == 0.0


def test_output_distortion_by_hand():
    a, b = _pair()
    x = torch.tensor([[1.0, 1.0], [2.0, 0.0]], dtype=torch.float64)
    # input 1: f = 2 relu(-1) - relu(3.5) = -3.5, f_hat = -relu(3) = -3
    # input 2: f = 2 relu(2) - relu(1) = 3, f_hat = 2 relu(0) - relu(0) = 0
    d = output_distortion(a, b, x)
    assert d.abs_err.tolist() == [0.5, 3.0]
    assert d.sq_err.tolist() == [0.25, 9.0]
    assert d.abs_ref.tolist() == [3.5, 3.0]
    assert d.abs_normalised.tolist() == pytest.approx([0.5 / 3.5, 1.0])
    assert d.n_elements.tolist() == [1.0, 1.0]


def test_padding_is_excluded():
    class Echo(torch.nn.Module):
        """Returns its input ids as a (batch, tokens, 1) hidden state, scaled by a weight."""

        def __init__(self, s):
            super().__init__()
            self.lin = torch.nn.Linear(1, 1, bias=False)
            with torch.no_grad():
                self.lin.weight.fill_(s)

        def forward(self, input_ids, attention_mask):
            return self.lin(input_ids[..., None].double().float())

    batch = {
        "input_ids": torch.tensor([[1, 2, 7], [3, 9, 9]]),
        "attention_mask": torch.tensor([[1, 1, 1], [1, 0, 0]]),
    }
    d = output_distortion(Echo(1.0), Echo(0.5), batch)
    assert d.abs_err.tolist() == [5.0, 1.5]  # the padded 9s do not count
    assert d.n_elements.tolist() == [3.0, 1.0]


def test_first_order_is_exact_for_a_linear_model():
    lin = torch.nn.Linear(4, 3, bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(torch.arange(12, dtype=torch.float64).reshape(3, 4) - 5.5)
    pruned = prune(lin, 0.5).model
    x = torch.tensor([[1.0, -2.0, 0.5, 3.0], [0.0, 1.0, 1.0, -1.0]], dtype=torch.float64)
    est = first_order_estimate(lin, pruned, x)
    assert np.allclose(est.linear, est.measured, rtol=1e-12)
    assert np.all(est.measured <= est.weighted + 1e-12)
    assert np.all(est.weighted <= est.bound + 1e-12)
    assert np.allclose(est.measured, output_distortion(lin, pruned, x).abs_err)


def test_block_outputs_of_a_real_encoder():
    from coinfer.real.corpus import english_passages, tokenise
    from coinfer.real.models import load_model

    m = load_model("minilm")
    batch = tokenise("minilm", english_passages(3), 12)
    with torch.no_grad():
        out = m(**batch, output_hidden_states=True)
        for s in (0, 3, 6):
            assert torch.allclose(model_output(m, batch, block=s), out.hidden_states[s], atol=1e-6)
        assert torch.equal(model_output(m, batch), out.last_hidden_state)
    pruned = prune(m, 0.3, exclude=("pooler",)).model
    d3 = output_distortion(m, pruned, batch, block=3)
    d0 = output_distortion(m, pruned, batch, block=0)
    assert np.all(d3.abs_err > 0) and np.all(d0.abs_err == 0)  # embeddings are not pruned
    pd3 = parameter_distortion(m, pruned, exclude=("pooler",), blocks=3)
    assert pd3.n == 3 * (4 * 384 * 384 + 2 * 384 * 1536)
    assert 0 < pd3.abs_err < parameter_distortion(m, pruned, exclude=("pooler",)).abs_err
    with pytest.raises(ValueError, match="block must be"):
        output_distortion(m, pruned, batch, block=7)


def _toy_sweep(out_abs, param_abs):
    from coinfer.real.distortion import DistortionSweep

    out_abs, param_abs = np.asarray(out_abs, float), np.asarray(param_abs, float)
    z = np.zeros(out_abs.shape[:2] + (1,))
    return DistortionSweep(
        model="toy",
        methods=("magnitude",),
        ratios=np.array([0.1, 0.5, 0.9]),
        n_inputs=2,
        max_tokens=4,
        n_tokens=8,
        block=None,
        seed=0,
        param_abs=param_abs,
        param_sq=param_abs,
        out_abs=out_abs,
        out_sq=out_abs,
        fo_measured=z,
        fo_linear=z,
        fo_bound=z,
        fo_weighted=z,
        seconds=0.0,
    )


def test_empirical_constant_and_reliable_ratios_by_hand():
    from coinfer.real.distortion import reliable_ratios

    s = _toy_sweep([[[1.0, 2.0], [2.0, 3.0], [2.5, 2.0]]], [[0.1, 0.5, 1.0]])
    assert s.empirical_constant("abs", 1.0).tolist() == [[20.0, 6.0, 2.5]]
    assert s.empirical_constant("abs", 0.0).tolist() == [[10.0, 4.0, 2.0]]
    # Gamma = 20: tight within 2 only at the first ratio; the last is not monotone either
    assert reliable_ratios(s).tolist() == [[True, False, False]]
    assert reliable_ratios(s, factor=4.0).tolist() == [[True, True, False]]
    with pytest.raises(ValueError, match="measure"):
        s.empirical_constant("l3")


def test_sweep_is_cached_and_reloaded(tmp_path, monkeypatch):
    from coinfer.real.distortion import distortion_sweep

    monkeypatch.setenv("COINFER_CACHE", str(tmp_path))
    a = distortion_sweep("minilm", [0.5], n_inputs=2, max_tokens=8, n_grad=1)
    assert len(list(tmp_path.glob("output-distortion*"))) == 1
    b = distortion_sweep("minilm", [0.5], n_inputs=2, max_tokens=8, n_grad=1)
    assert b.methods == a.methods and np.array_equal(a.out_abs, b.out_abs)
    assert a.param_abs[0, 0] < a.param_abs[1, 0]  # magnitude pruning removes the least weight
    assert np.all(a.fo_bound >= a.fo_weighted) and a.out_abs.shape == (2, 1, 2)


def test_sweep_cache_key_follows_the_measuring_code(tmp_path, monkeypatch):
    import coinfer.cache
    import coinfer.real.distortion as dist

    # the key holds the source of the modules the sweep imports: pruning, corpus, models...
    closure = coinfer.cache.module_closure("coinfer.real.distortion")
    assert {"coinfer.real.distortion", "coinfer.real.pruning"} <= set(closure)
    monkeypatch.setenv("COINFER_CACHE", str(tmp_path))
    dist.distortion_sweep("minilm", [0.5], ("magnitude",), n_inputs=2, max_tokens=8, n_grad=0)
    # an edit to that code changes the key: a new file, never the old one
    real = coinfer.cache.source_digest
    monkeypatch.setattr(coinfer.cache, "source_digest", lambda *roots: "edited" + real(*roots))
    dist.distortion_sweep("minilm", [0.5], ("magnitude",), n_inputs=2, max_tokens=8, n_grad=0)
    assert len(list(tmp_path.glob("output-distortion*"))) == 2
