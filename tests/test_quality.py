"""Measured quality (coinfer.theory.quality, coinfer.real.quality) and per-block density."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.isotonic import IsotonicRegression

from coinfer.real.pruning import MagnitudeRanking, block_density, prunable_weights, prune
from coinfer.theory.quality import MeasuredQuality, QualityCurve, isotonic, relative_errors

values = st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=30)


@settings(max_examples=80, deadline=None)
@given(y=values, increasing=st.booleans())
def test_isotonic_agrees_with_scikit_learn(y, increasing):
    y = np.array(y)
    fit = isotonic(y, increasing=increasing)
    ref = IsotonicRegression(increasing=increasing).fit_transform(np.arange(len(y)), y)
    np.testing.assert_allclose(fit, ref, rtol=1e-9, atol=1e-9 * (1 + np.abs(y).max()))
    d = np.diff(fit)
    assert np.all(d >= -1e-9) if increasing else np.all(d <= 1e-9)


def test_isotonic_by_hand():
    np.testing.assert_allclose(isotonic([1.0, 3.0, 2.0, 4.0]), [1.0, 2.5, 2.5, 4.0])
    np.testing.assert_allclose(isotonic([3.0, 1.0, 2.0], increasing=False), [3.0, 1.5, 1.5])
    with pytest.raises(ValueError, match="weights must be positive"):
        isotonic([1.0, 2.0], weights=[1.0, 0.0])


def test_quality_curve_interpolates_its_fit_and_holds_past_the_grid():
    c = QualityCurve(np.array([0.0, 0.5, 0.9]), np.array([0.0, 0.4, 0.3]), "loss")
    np.testing.assert_allclose(c.fitted, [0.0, 0.35, 0.35])
    assert c(0.25) == pytest.approx(0.175)
    assert c(0.95) == pytest.approx(0.35)
    with pytest.raises(ValueError, match="rho must increase strictly"):
        QualityCurve(np.array([0.0, 0.0]), np.array([0.0, 1.0]))


@settings(max_examples=40, deadline=None)
@given(
    y=st.lists(st.floats(0, 10), min_size=2, max_size=12),
    r=st.lists(st.floats(0, 0.99), min_size=2, max_size=8),
)
def test_measured_quality_is_non_decreasing_per_kind(y, r):
    grid = np.linspace(0, 0.9, len(y))
    q = MeasuredQuality(
        {
            "structured": QualityCurve(grid, np.array(y)),
            "unstructured": QualityCurve(grid, np.array(y)[::-1]),
        }
    )
    rs = np.sort(np.array(r))
    for kind in ("structured", "unstructured"):
        assert np.all(np.diff(q(rs, pruning=kind)) >= -1e-12)
    np.testing.assert_array_equal(q(rs), q(rs, pruning="structured"))  # the first kind by default


def test_measured_quality_validation():
    with pytest.raises(ValueError, match="curves must map"):
        MeasuredQuality({})
    q = MeasuredQuality({"structured": QualityCurve(np.array([0.0, 0.5]), np.array([0.0, 1.0]))})
    with pytest.raises(ValueError, match=r"pruning must be one of \('structured',\); got 'paper'"):
        q(0.1, pruning="paper")
    assert np.isnan(relative_errors(1.0, 0.0)) and relative_errors(1.1, 1.0) == pytest.approx(0.1)


def _net(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 4))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 100), ratio=st.floats(0.0, 1.0))
def test_ranking_prunes_exactly_what_prune_does(seed, ratio):
    net = _net(seed)
    with torch.no_grad():  # many exact ties, as in dequantised weights
        for p in net.parameters():
            p.copy_(torch.round(p * 4) / 4)
    ranking = MagnitudeRanking(net)
    target = _net(seed + 1)
    achieved = ranking.apply(target, ratio)
    ref = prune(net, ratio)
    assert achieved == ref.achieved_ratio
    for name, w in prunable_weights(target).items():
        assert torch.equal(w, prunable_weights(ref.model)[name])


def test_block_density_of_a_real_model_matches_prune():
    from coinfer.real.models import load_model, model_spec

    model = load_model("minilm")
    exclude = model_spec("minilm").prune_exclude
    ratios = [0.0, 0.3, 0.7]
    dens = block_density(model, ratios, exclude=exclude)
    assert dens.shape == (3, 6)
    np.testing.assert_array_equal(dens[0], 0.0)
    res = prune(model, 0.7, exclude=exclude)
    for layer in range(6):
        names = [n for n in res.layer_ratios if f".layer.{layer}." in n]
        sizes = [prunable_weights(model, exclude=exclude)[n].numel() for n in names]
        expect = sum(res.layer_ratios[n] * s for n, s in zip(names, sizes, strict=False)) / sum(
            sizes
        )
        assert dens[2, layer] == pytest.approx(expect, rel=1e-12)
    # global magnitude pruning does not prune every block at the same ratio
    assert np.ptp(dens[1]) > 0.01


def test_quality_loss_is_zero_for_the_dense_model_and_positive_when_pruned():
    from coinfer.real import split_execution as ci
    from coinfer.real.quality import Pruner, quality_loss, text_halves

    pruner = Pruner("minilm")
    (ids, mask), (h_ids, h_mask) = text_halves("minilm", 8, 24)
    assert not torch.equal(ids, h_ids)  # disjoint halves of one draw
    with torch.no_grad():
        ref = ci.full_forward(pruner.dense, ids, mask)
        assert quality_loss("minilm", ref, ref, ids, mask)["loss"] == pytest.approx(0.0, abs=1e-6)
        for kind in ("unstructured", "structured"):
            model, achieved = pruner.model(kind, 0.5)
            assert achieved == pytest.approx(0.5, abs=0.01)
            out = ci.full_forward(model, ids, mask)
            assert quality_loss("minilm", out, ref, ids, mask)["loss"] > 0.0
    with pytest.raises(ValueError, match="kind must be one of"):
        pruner.model("random", 0.5)
