"""Tests of the Blahut-Arimoto solver against exact rate-distortion functions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinfer import theory as rd
from coinfer.theory.blahut import blahut_arimoto, rate_distortion_curve


def h2(x):
    return -x * math.log2(x) - (1 - x) * math.log2(1 - x)


@pytest.mark.parametrize("p1, s", [(0.5, 2.0), (0.3, 3.0), (0.2, 1.6)])
def test_binary_source_hamming_is_exact(p1, s):
    """Bernoulli(p1) under Hamming distortion: R(D) = h2(p1) - h2(D), D = 1/(1 + e^s) at slope s."""
    p = np.array([1 - p1, p1])
    d = 1.0 - np.eye(2)
    pt = blahut_arimoto(p, d, s, tol=1e-10)
    assert pt.distortion == pytest.approx(1 / (1 + math.exp(s)), rel=1e-6)
    assert pt.rate == pytest.approx(h2(p1) - h2(pt.distortion), abs=1e-8)
    assert pt.rate_lower <= pt.rate + 1e-12
    assert pt.rate - pt.rate_lower < 1e-9


def test_uniform_source_hamming_is_exact():
    m, s = 6, 2.5
    p = np.full(m, 1 / m)
    pt = blahut_arimoto(p, 1.0 - np.eye(m), s, tol=1e-10)
    D = pt.distortion
    assert D == pytest.approx((m - 1) / (m - 1 + math.exp(s)), rel=1e-6)
    assert pt.rate == pytest.approx(math.log2(m) - h2(D) - D * math.log2(m - 1), abs=1e-8)


@pytest.fixture(scope="module")
def laplace_abs_curve():
    lam, step = 1.0, 0.04  # grid step 0.04/lam resolves D >= 0.4/lam to better than 1e-3
    x, p = rd.laplace_grid_source(lam, step, 10.0)
    slopes = np.array([2.5, 2.0, 1.6, 1.3])  # D = 1/s on the exact curve
    D, R, R_lower, points = rate_distortion_curve(
        p, rd.absolute_error_matrix(x, x), slopes, tol=1e-4
    )
    return lam, slopes, D, R, R_lower, points


def test_laplace_abs_reproduces_closed_form(laplace_abs_curve):
    lam, slopes, D, R, R_lower, _ = laplace_abs_curve
    closed = rd.laplace_distortion_abs(R, lam)
    assert np.max(np.abs(D / closed - 1)) < 1e-3
    # the slope of the exact curve is -1/D (nats), so BA at slope s lands near D = 1/s (the grid
    # shifts the point along the curve by about (step/D)^2/12, more than it moves the curve)
    assert np.max(np.abs(D * slopes - 1)) < 3e-3
    assert np.all(R - R_lower < 1e-4)
    assert np.all(np.diff(D) > 0) and np.all(np.diff(R) < 0)


def test_exponential_magnitudes_above_shannon_lower_bound():
    lam = 1.0
    x, p = rd.exponential_grid_source(lam, 0.04, 12.0)
    D, R, _, _ = rate_distortion_curve(
        p, rd.absolute_error_matrix(x, x), np.array([4.0, 2.5, 1.5]), tol=1e-4
    )
    slb = rd.exponential_slb_distortion_abs(R, lam)
    assert np.all(D > slb * 1.01)  # the bound is not tight for one-sided magnitudes
    # signs kept cost one bit: never better than the joint Laplace curve at one more bit
    assert np.all(D >= rd.laplace_distortion_abs(R + 1, lam) * (1 - 1e-3))
    # rate zero: the best constant is the median ln2/lam
    pt = blahut_arimoto(p, rd.absolute_error_matrix(x, x), 0.3, tol=1e-4)
    assert pt.rate < 1e-3
    assert pt.distortion == pytest.approx(math.log(2) / lam, rel=2e-3)


def test_laplace_squared_between_shannon_and_gaussian_bounds():
    lam = 1.0
    x, p = rd.laplace_grid_source(lam, 0.05, 10.0)
    D, R, _, _ = rate_distortion_curve(
        p, rd.squared_error_matrix(x, x), np.array([8.0, 4.0]), tol=1e-4
    )
    # the grid lowers the rate slightly (by well under 1e-3 bits here)
    assert np.all(R >= rd.laplace_slb_rate_squared(D, lam) - 1e-3)
    assert np.all(R <= rd.laplace_gaussian_rate_squared(D, lam) - 0.1)
    # slope s: the Shannon-lower-bound curve has dR/dD = -1/(2D) nats, so D is close to 1/(2s)
    assert D == pytest.approx([1 / 16, 1 / 8], rel=0.01)


def test_grid_sources_are_probability_laws():
    for f, lo in ((rd.laplace_grid_source, -5.0), (rd.exponential_grid_source, 0.0)):
        x, p = f(2.0, 0.1, 5.0)
        assert p.sum() == pytest.approx(1.0)
        assert np.all(p > 0) and x[0] == pytest.approx(lo)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: blahut_arimoto([0.5, 0.5], np.ones((2, 2)), -1.0), "slope must be in"),
        (lambda: blahut_arimoto([0.5, 0.6], np.ones((2, 2)), 1.0), "p must sum to 1"),
        (lambda: blahut_arimoto([0.5, 0.5], np.ones((3, 2)), 1.0), "d must have shape"),
        (lambda: blahut_arimoto([], np.ones((0, 2)), 1.0), "p must not be empty"),
        (lambda: rd.laplace_grid_source(-1.0, 0.1, 5.0), "lam must be in"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_iteration_cap_raises():
    x, p = rd.laplace_grid_source(1.0, 0.1, 8.0)
    with pytest.raises(RuntimeError, match="did not reach tol=1e-12 bits in max_iter=1"):
        blahut_arimoto(p, rd.absolute_error_matrix(x, x), 2.0, tol=1e-12, max_iter=1)


def test_zero_starting_law_is_rejected():
    with pytest.raises(ValueError, match="q0 must have a positive sum"):
        blahut_arimoto([0.5, 0.5], 1.0 - np.eye(2), 1.0, q0=[0.0, 0.0])


def _mutual_information_and_distortion(p, d, Q):
    """``(I(p, Q) in bits, E d)`` of the test channel ``Q`` (rows: source points)."""
    out = p @ Q
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(Q > 0, Q * np.log2(Q / out[None, :]), 0.0)
    return float(p @ terms.sum(axis=1)), float(p @ (Q * d).sum(axis=1))


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 6),
    m=st.integers(2, 6),
    s=st.floats(0.3, 30.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_certificate_line_lies_below_every_test_channel(n, m, s, seed):
    """Blahut's lower bound is a supporting line: ``R(D') >= R_lower - s (D' - D_s) / ln 2``.

    Every test channel ``Q`` is achievable, so ``I(Q) + s E d(Q) / ln 2`` can never fall below
    ``R_lower + s D_s / ln 2``. Checked on random sources, random distortion matrices (no grid
    order) and random channels, including the channel of plain Blahut-Arimoto run to its limit.
    """
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(n))
    d = rng.random((n, m))
    tol = 1e-7
    pt = blahut_arimoto(p, d, s, tol=tol)
    assert pt.rate_lower <= pt.rate <= pt.rate_lower + tol + 1e-12
    assert pt.output.sum() == pytest.approx(1.0) and np.all(pt.output >= 0)
    line = pt.rate_lower + s * pt.distortion / math.log(2)
    channels = list(rng.dirichlet(np.ones(m), size=(20, n)))
    q = np.full(m, 1.0 / m)
    for _ in range(3000):  # plain Blahut-Arimoto
        Q = q[None, :] * np.exp(-s * d)
        Q /= Q.sum(axis=1, keepdims=True)
        q = p @ Q
    channels.append(Q)
    for Q in channels:
        info, dist = _mutual_information_and_distortion(p, d, Q)
        assert info + s * dist / math.log(2) >= line - 1e-9


@settings(max_examples=40, deadline=None)
@given(p1=st.floats(0.05, 0.5), s=st.floats(0.0, 6.0))
def test_bracket_contains_binary_curve(p1, s):
    """Bernoulli(p1), Hamming distortion: R_lower <= h2(p1) - h2(D) <= R_upper at the computed D."""
    s = s + math.log((1 - p1) / p1) + 0.05  # D = 1/(1 + e^s) < p1: the curved part of R(D)
    p = np.array([1 - p1, p1])
    pt = blahut_arimoto(p, 1.0 - np.eye(2), s, tol=1e-6)
    exact = h2(p1) - h2(pt.distortion)
    assert pt.rate_lower - 1e-12 <= exact <= pt.rate + 1e-12


def test_warm_start_reaches_the_same_point():
    x, p = rd.laplace_grid_source(1.0, 0.05, 10.0)
    d = rd.squared_error_matrix(x, x)
    cold = blahut_arimoto(p, d, 4.0, tol=1e-6)
    warm = blahut_arimoto(p, d, 4.0, tol=1e-6, q0=blahut_arimoto(p, d, 8.0, tol=1e-6).output)
    assert warm.rate_lower - 1e-12 <= cold.rate and cold.rate_lower - 1e-12 <= warm.rate
    assert warm.distortion == pytest.approx(cold.distortion, rel=1e-3)


def test_blahut_arimoto_full_size_cold():
    """The full-size configuration of the rate-distortion chapter (COINFER_FULL=1), cache off.

    Same grids (step 0.025/lam, Laplace on [-10, 10], magnitudes on [0, 12]), slopes and tolerance
    (1e-5 bits) as the chapter, and the same comparisons with the closed forms and bounds.
    """
    lam, step, tol = 1.0, 0.025, 1e-5
    x, p = rd.laplace_grid_source(lam, step, 10.0)
    xm, pm = rd.exponential_grid_source(lam, step, 12.0)
    slopes_lap = np.array([3.0, 2.5, 2.0, 1.6, 1.3])
    D, R, RL, _ = rate_distortion_curve(p, rd.absolute_error_matrix(x, x), slopes_lap, tol=tol)
    assert np.all(R - RL < tol)
    resolved = step / D <= 0.1
    assert resolved.sum() >= 2
    assert np.max(np.abs(D[resolved] / rd.laplace_distortion_abs(R[resolved], lam) - 1)) < 1e-3
    Dm, Rm, RLm, _ = rate_distortion_curve(
        pm, rd.absolute_error_matrix(xm, xm), np.array([6.0, 3.0, 1.8, 1.2]), tol=tol
    )
    assert np.all(Rm - RLm < tol)
    ratio = Dm / rd.exponential_slb_distortion_abs(Rm, lam)
    assert np.all(ratio > 1.01) and np.all(np.diff(ratio) > 0)
    Ds, Rs, RLs, _ = rate_distortion_curve(
        p, rd.squared_error_matrix(x, x), np.array([8.0, 4.0, 2.0]), tol=tol
    )
    assert np.all(Rs - RLs < tol)
    above = Rs - rd.laplace_slb_rate_squared(Ds, lam)
    below = rd.laplace_gaussian_rate_squared(Ds, lam) - Rs
    assert np.all(above > -1e-3) and np.all(below > 0.1)
    assert above[0] < above[-1] < 2e-3
