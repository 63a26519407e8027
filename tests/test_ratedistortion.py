"""Tests of the rate-distortion closed forms, the pruning distortions and SurrogateObjective."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinfer import theory as rd

LAMS = st.floats(min_value=0.2, max_value=50.0)
RHOS = st.floats(min_value=0.01, max_value=0.98)
N_MC = 400_000


def laplace_weights(lam, n=N_MC, seed=0):
    return np.random.default_rng(seed).laplace(0.0, 1.0 / lam, size=n)


# --- pruning distortions against Monte Carlo ----------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(lam=LAMS, rho=RHOS)
def test_pruning_floor_abs_matches_monte_carlo(lam, rho):
    w = laplace_weights(lam)
    measured = rd.pruning_distortion(w, rho, method="magnitude")
    # the standard error of a mean of n magnitudes is about 1/(lam sqrt(n)); allow 5 of them
    assert measured == pytest.approx(
        rd.pruning_floor_abs(rho, lam), abs=5 / (lam * math.sqrt(N_MC))
    )


@settings(max_examples=15, deadline=None)
@given(lam=LAMS, rho=RHOS)
def test_pruning_floor_squared_matches_monte_carlo(lam, rho):
    w = laplace_weights(lam, seed=1)
    measured = rd.pruning_distortion(w, rho, method="magnitude", measure="squared")
    tol = 5 * math.sqrt(20.0) / (lam**2 * math.sqrt(N_MC))  # sd of w^2 is sqrt(20)/lam^2
    assert measured == pytest.approx(rd.pruning_floor_squared(rho, lam), abs=tol)


@settings(max_examples=15, deadline=None)
@given(lam=LAMS, rho=RHOS)
def test_random_pruning_matches_monte_carlo(lam, rho):
    w = laplace_weights(lam, seed=2)
    assert rd.pruning_distortion(w, rho, method="random", seed=3) == pytest.approx(
        rd.random_pruning_abs(rho, lam), abs=6 / (lam * math.sqrt(N_MC))
    )
    assert rd.pruning_distortion(
        w, rho, method="random", measure="squared", seed=3
    ) == pytest.approx(
        rd.random_pruning_squared(rho, lam), abs=6 * math.sqrt(20.0) / (lam**2 * math.sqrt(N_MC))
    )


@settings(max_examples=30, deadline=None)
@given(lam=LAMS, rho=st.floats(min_value=0.0, max_value=0.999))
def test_magnitude_pruning_is_never_worse_than_random(lam, rho):
    assert rd.pruning_floor_abs(rho, lam) <= rd.random_pruning_abs(rho, lam) + 1e-15
    assert rd.pruning_floor_squared(rho, lam) <= rd.random_pruning_squared(rho, lam) + 1e-15


def test_pruning_limits():
    lam = 2.5
    assert rd.pruning_floor_abs(0.0, lam) == 0.0
    assert rd.pruning_floor_squared(0.0, lam) == 0.0
    # small rho: the floor is rho^2/(2 lam) (abs) and 2 rho^3/(3 lam^2)... to leading order
    rho = 1e-3
    assert rd.pruning_floor_abs(rho, lam) == pytest.approx(rho**2 / (2 * lam), rel=2e-3)
    assert rd.pruning_floor_squared(rho, lam) == pytest.approx(rho**3 / (3 * lam**2), rel=5e-3)
    # rho -> 1: everything is pruned, so the distortion tends to E|W| = 1/lam and E W^2 = 2/lam^2
    rho = 1 - 1e-9
    assert rd.pruning_floor_abs(rho, lam) == pytest.approx(1 / lam, rel=1e-6)
    assert rd.pruning_floor_squared(rho, lam) == pytest.approx(2 / lam**2, rel=1e-6)


def test_pruning_floors_are_increasing_and_convex():
    rho = np.linspace(0, 0.999, 2001)
    for f in (rd.pruning_floor_abs, rd.pruning_floor_squared):
        v = f(rho, 1.7)
        assert np.all(np.diff(v) > 0)
        assert np.all(np.diff(v, 2) > -1e-15)


def test_measured_pruning_is_exact_on_a_small_tensor():
    w = np.array([[0.5, -0.1], [2.0, -0.3]])
    assert rd.pruning_distortion(w, 0.5) == pytest.approx((0.1 + 0.3) / 4)
    assert rd.pruning_distortion(w, 0.5, measure="squared") == pytest.approx((0.01 + 0.09) / 4)
    assert rd.pruning_distortion(w, [0.0, 0.75]).tolist() == pytest.approx([0.0, 0.9 / 4])


# --- closed forms -------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(lam=LAMS, r=st.floats(min_value=0.0, max_value=12.0))
def test_laplace_abs_rd_inverse_pair_and_sparsity(lam, r):
    d = rd.laplace_distortion_abs(r, lam)
    assert rd.laplace_rate_abs(d, lam) == pytest.approx(r, abs=1e-9)
    assert rd.optimal_reconstruction_sparsity(d, lam) == pytest.approx(4.0**-r, rel=1e-9)
    # signs kept: the magnitude bound at rate r is the Laplace curve at rate r + 1 (one sign bit)
    assert rd.exponential_slb_distortion_abs(r, lam) == pytest.approx(
        rd.laplace_distortion_abs(r + 1, lam), rel=1e-12
    )


def test_squared_error_bounds_bracket_and_constants():
    lam = 3.0
    D = np.geomspace(1e-6, 2 / lam**2, 50)
    slb = rd.laplace_slb_rate_squared(D, lam)
    gauss = rd.laplace_gaussian_rate_squared(D, lam)
    assert np.all(slb <= gauss)
    # at small D the gap is the entropy difference 0.5 log2(pi e / (2e) * 2 / 2)= 0.5 log2(pi/e)
    assert gauss[0] - slb[0] == pytest.approx(0.5 * math.log2(math.pi / math.e), rel=1e-12)
    # the SLB is h(W) - 0.5 log2(2 pi e D), with h(W) = log2(2e/lam)
    d = 1e-4
    assert rd.laplace_slb_rate_squared(d, lam) == pytest.approx(
        rd.laplace_entropy_bits(lam) - 0.5 * math.log2(2 * math.pi * math.e * d)
    )
    assert rd.laplace_slb_distortion_squared(
        rd.laplace_slb_rate_squared(d, lam), lam
    ) == pytest.approx(d)


def test_laplace_entropy_matches_numerical_integral():
    lam = 0.7
    x = np.linspace(-60, 60, 600_001)
    f = 0.5 * lam * np.exp(-lam * np.abs(x))
    h = -np.trapezoid(f * np.log2(f), x)
    assert h == pytest.approx(rd.laplace_entropy_bits(lam), rel=1e-6)


def test_backward_channel_realises_the_laplace_curve():
    """X_hat = 0 w.p. (lam D)^2, else Laplace(lam); X = X_hat + Z, Z ~ Laplace(scale D) is Laplace(lam)."""
    lam, D, n = 2.0, 0.3, 400_000
    rng = np.random.default_rng(5)
    atom = rd.optimal_reconstruction_sparsity(D, lam)
    xhat = np.where(rng.random(n) < atom, 0.0, rng.laplace(0, 1 / lam, n))
    x = xhat + rng.laplace(0, D, n)
    from scipy import stats

    assert stats.kstest(x, "laplace", args=(0, 1 / lam)).statistic < 0.004
    assert np.mean(np.abs(x - xhat)) == pytest.approx(D, rel=0.01)
    assert np.mean(xhat == 0) == pytest.approx(atom, abs=0.005)


def test_rate_of_pruned_model():
    assert rd.binary_entropy(0.5) == pytest.approx(1.0)
    assert rd.binary_entropy(0.0) == 0.0
    assert rd.pruned_model_rate(0.0, 16) == 16.0
    assert rd.pruned_model_rate(0.5, 8) == pytest.approx(1 + 4)
    # the mask plus kept values exceeds the dense code exactly below the root of h2(rho) = rho b
    rho = np.linspace(0, 0.99, 1000)
    assert np.any(rd.pruned_model_rate(rho, 4) > 4)


@pytest.mark.parametrize("measure", ["abs", "squared"])
@pytest.mark.parametrize("bits", [2.0, 4.0, 16.0])
def test_lower_bounds_monotone_and_limits(measure, bits):
    rho = np.linspace(0, 0.99, 3000)
    lam = 1.3
    for f in (rd.rate_distortion_bound, rd.distortion_lower_bound):
        v = f(rho, lam, bits, measure)
        assert np.all(np.diff(v) >= -1e-15)
    floor = rd.pruning_floor_abs if measure == "abs" else rd.pruning_floor_squared
    lb = rd.distortion_lower_bound(rho, lam, bits, measure)
    assert np.all(lb >= floor(rho, lam))
    # rho = 0: the only distortion left is that of b-bit values
    d0 = (
        rd.laplace_distortion_abs(bits, lam)
        if measure == "abs"
        else rd.laplace_slb_distortion_squared(bits, lam)
    )
    assert rd.distortion_lower_bound(0.0, lam, bits, measure) == pytest.approx(d0)
    # rho -> 1: the bound tends to the distortion of sending nothing (E|W|, or the squared SLB at R=0)
    top = 1 / lam if measure == "abs" else 2 / lam**2
    assert rd.distortion_lower_bound(1 - 1e-12, lam, bits, measure) == pytest.approx(top, rel=1e-6)


def test_random_pruning_is_above_every_bound():
    rho = np.linspace(0, 0.99, 200)
    assert np.all(
        rd.distortion_lower_bound(rho[1:], 1.0, 16) <= rd.random_pruning_abs(rho[1:], 1.0)
    )


# --- SurrogateObjective ----------------------------------------------------------------------------


def test_distortion_bound_default_contract():
    b = rd.SurrogateObjective()
    rho = np.linspace(0, 0.99, 500)
    v = b(rho)
    assert v.shape == rho.shape
    assert np.all(np.diff(v) > 0)
    assert b(0.3) == pytest.approx(rd.pruning_floor_abs(0.3, 1.0))
    g = rd.SurrogateObjective(lam=4.0, gamma=2.5)
    assert g(0.7) == pytest.approx(2.5 * rd.pruning_floor_abs(0.7, 4.0))


@pytest.mark.parametrize("kind", ["floor", "rate", "combined"])
@pytest.mark.parametrize("measure", ["abs", "squared"])
def test_distortion_bound_kinds_non_decreasing(kind, measure):
    b = rd.SurrogateObjective(lam=2.0, gamma=3.0, kind=kind, bits=8.0, measure=measure)
    v = b(np.linspace(0, 0.99, 1000))
    assert np.all(np.diff(v) >= -1e-15)
    assert v[-1] > v[0]


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: rd.pruning_floor_abs(0.5, -1.0), "lam must be in"),
        (lambda: rd.pruning_floor_abs(1.0, 1.0), "rho entries must be in"),
        (lambda: rd.pruning_floor_squared(-0.1, 1.0), "rho entries must be in"),
        (lambda: rd.laplace_rate_abs(0.0, 1.0), "D entries must be in"),
        (lambda: rd.laplace_distortion_abs(-1.0, 1.0), "R entries must be in"),
        (lambda: rd.pruned_model_rate(0.5, 0.0), "bits must be in"),
        (lambda: rd.distortion_lower_bound(0.5, 1.0, 16, "l2"), "measure must be one of"),
        (lambda: rd.SurrogateObjective(lam=0.0), "lam must be in"),
        (lambda: rd.SurrogateObjective(kind="sqrt"), "kind must be one of"),
        (lambda: rd.SurrogateObjective()(1.2), "rho entries must be in"),
        (lambda: rd.pruning_distortion([], 0.5), "w must not be empty"),
        (lambda: rd.pruning_distortion([1.0, 2.0], 1.0), "rho entries must be in"),
        (lambda: rd.pruning_distortion([1.0, 2.0], 0.5, method="l1"), "method must be"),
    ],
)
def test_bad_input_names_the_parameter(call, match):
    with pytest.raises(ValueError, match=match):
        call()
