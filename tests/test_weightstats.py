"""Tests of the weight fits, the block statistics and the measured pruning distortion."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinfer.real.weights import model_weight_sample
from coinfer.theory import weight_fits as ws


@settings(max_examples=10, deadline=None)
@given(lam=st.floats(min_value=0.5, max_value=100.0), seed=st.integers(0, 1000))
def test_laplace_fit_recovers_rate_and_prefers_laplace(lam, seed):
    w = np.random.default_rng(seed).laplace(0.0, 1 / lam, size=50_000)
    fit = ws.fit_weights(w, name="lap")
    assert fit.lam == pytest.approx(lam, rel=0.03)
    assert fit.lam0 == pytest.approx(lam, rel=0.03)
    assert fit.laplace_preferred
    assert fit.ks_laplace < 0.01 < fit.ks_gauss
    assert fit.excess_kurtosis == pytest.approx(3.0, abs=0.6)
    # the ML log-likelihood per weight of a Laplace(b) sample is -log(2b) - 1
    assert fit.loglik_laplace == pytest.approx(-np.log(2 / lam) - 1, abs=0.02)


def test_gaussian_sample_prefers_gaussian():
    w = np.random.default_rng(1).normal(0.1, 0.02, size=50_000)
    fit = ws.fit_weights(w)
    assert not fit.laplace_preferred
    assert fit.gauss_mean == pytest.approx(0.1, abs=1e-3)
    assert fit.gauss_std == pytest.approx(0.02, rel=0.02)
    assert fit.ks_gauss < 0.01 < fit.ks_laplace


def test_fit_subsamples_with_seed():
    w = np.random.default_rng(2).laplace(size=30_000)
    a = ws.fit_weights(w, max_samples=1000, seed=3)
    b = ws.fit_weights(w, max_samples=1000, seed=3)
    assert a == b and a.n == 30_000 and a.n_used == 1000


def test_fit_table_and_pooled_sample():
    rng = np.random.default_rng(4)
    weights = {"a": rng.laplace(0, 1, 10_000), "b": rng.laplace(0, 3, 30_000)}
    rows = ws.fit_table(weights, pooled_samples=8000)
    assert [r.name for r in rows] == ["a", "b", "pooled"]
    pooled = ws.pooled_sample(weights, 8000, seed=0)
    assert pooled.size == 8000
    # a scale mixture of Laplace laws is heavier-tailed than either
    assert rows[-1].excess_kurtosis > max(rows[0].excess_kurtosis, rows[1].excess_kurtosis)


def test_block_distinct_counts_detects_4_bit_blocks():
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 16, size=(8, 64))
    scale = rng.uniform(0.01, 0.1, size=(8, 2)).repeat(32, axis=1)
    w4 = codes * scale - 0.3
    assert ws.block_distinct_counts(w4).max() <= 16
    assert np.all(ws.block_distinct_counts(rng.normal(size=(8, 64))) == 32)
    with pytest.raises(ValueError, match="multiple of block"):
        ws.block_distinct_counts(np.ones((2, 33)))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ws.fit_weights([]), "w must not be empty"),
        (lambda: ws.fit_weights([1.0, np.nan]), "w must be finite"),
        (lambda: ws.fit_weights([1.0, 1.0, 1.0]), "two distinct values"),
        (lambda: ws.fit_table({}), "weights must not be empty"),
        (lambda: ws.pruning_distortion([1.0], 0.5, measure="l1"), "measure must be"),
        (lambda: model_weight_sample("gpt5"), "model must be one of"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_pruning_distortion_random_is_seeded():
    w = np.random.default_rng(6).laplace(size=1000)
    a = ws.pruning_distortion(w, [0.2, 0.5], method="random", seed=1)
    b = ws.pruning_distortion(w, [0.2, 0.5], method="random", seed=1)
    assert np.array_equal(a, b)
    assert np.all(ws.pruning_distortion(w, [0.2, 0.5]) <= a)
