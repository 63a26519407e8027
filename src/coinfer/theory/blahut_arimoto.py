"""Blahut-Arimoto computation of the rate-distortion function of a discretised source.

The exact curve ``R(D)`` of a source with probabilities ``p`` on a grid, reconstructed on a grid of
points with distortion matrix ``d``, is traced point by point by the slope parameter ``s > 0``: at
slope ``s`` the optimal test channel is ``Q(y|x) = q(y) exp(-s d(x, y)) / Z(x)`` with ``q`` the output
law, and the point ``(D_s, R(D_s))`` has ``dR/dD = -s`` (``R`` in nats there; this module returns bits)
(Blahut 1972; Arimoto 1972; Cover and Thomas 2006, section 10.8).

Numerics. The iteration is run on the kernel ``exp(-s (d(x, y) - min_y d(x, y)))``, whose row
maximum is one, with ``log q`` carried in the log domain and shifted to its maximum, so nothing
overflows and the matrix products stay dense ``numpy`` matvecs. Rows whose normaliser underflows are
recomputed with ``logsumexp``. The stopping rule is Blahut's certificate: with
``c(y) = sum_x p(x) exp(-s d(x, y)) / Z(x)`` one has ``R_lower <= R(D_s) <= R_upper`` and the gap
``max_y log c(y) - sum_y q(y) log c(y)`` tends to zero; both bounds are returned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from ..validation import check_array, check_int, check_real

__all__ = [
    "BlahutArimotoPoint",
    "blahut_arimoto",
    "rate_distortion_curve",
    "laplace_grid_source",
    "exponential_grid_source",
    "absolute_error_matrix",
    "squared_error_matrix",
]

_LN2 = math.log(2.0)
_LOG_FLOOR = -700.0  # log of the least output mass carried (exp(-700) ~ 1e-304)


@dataclass(frozen=True)
class BlahutArimotoPoint:
    """One point of the rate-distortion curve computed at slope ``s``.

    Attributes:
        slope: the slope parameter ``s`` (nats per unit of distortion).
        distortion: ``D_s``, the expected distortion of the optimal test channel (distortion units).
        rate: ``R_upper``, the mutual information of the final test channel (bits per symbol); it is
            an achievable rate at distortion ``D_s``, hence an upper bound on ``R(D_s)``.
        rate_lower: Blahut's lower bound on ``R(D_s)`` (bits per symbol).
        output: the output law ``q`` on the reconstruction grid (sums to one).
        iterations: Blahut-Arimoto iterations used.
    """

    slope: float
    distortion: float
    rate: float
    rate_lower: float
    output: np.ndarray
    iterations: int


def absolute_error_matrix(x, y):
    """Distortion matrix ``|x_i - y_j|`` (source grid ``x`` by reconstruction grid ``y``)."""
    x = check_array("x", x, ndim=1)
    y = check_array("y", y, ndim=1)
    return np.abs(x[:, None] - y[None, :])


def squared_error_matrix(x, y):
    """Distortion matrix ``(x_i - y_j)^2`` (source grid ``x`` by reconstruction grid ``y``)."""
    x = check_array("x", x, ndim=1)
    y = check_array("y", y, ndim=1)
    return (x[:, None] - y[None, :]) ** 2


def laplace_grid_source(lam: float, step: float, x_max: float):
    """Laplace(``lam``) density discretised on the grid ``{k step : |k step| <= x_max}``.

    Each grid point carries the probability of its cell ``[x - step/2, x + step/2)``; the two tails
    beyond ``x_max`` (mass ``exp(-lam x_max)``) are folded into the end cells so the law sums to one.

    Returns:
        ``(x, p)``: the grid (weight units) and the probabilities.
    """
    lam = check_real("lam", lam, 0.0, lo_open=True, unit="1/weight unit")
    step = check_real("step", step, 0.0, lo_open=True, unit="weight units")
    x_max = check_real("x_max", x_max, step, unit="weight units")
    k = int(math.floor(x_max / step + 1e-9))
    x = step * np.arange(-k, k + 1, dtype=float)
    upper = np.append(x[:-1] + step / 2, np.inf)
    lower = np.insert(x[1:] - step / 2, 0, -np.inf)
    p = _laplace_cdf(upper, lam) - _laplace_cdf(lower, lam)
    return x, p / p.sum()


def exponential_grid_source(lam: float, step: float, x_max: float):
    """Exp(``lam``) density (magnitudes, support ``[0, inf)``) on the grid ``{k step <= x_max}``.

    The first cell is ``[0, step/2)``; the tail beyond ``x_max`` is folded into the last cell.

    Returns:
        ``(x, p)``: the grid (weight units) and the probabilities.
    """
    lam = check_real("lam", lam, 0.0, lo_open=True, unit="1/weight unit")
    step = check_real("step", step, 0.0, lo_open=True, unit="weight units")
    x_max = check_real("x_max", x_max, step, unit="weight units")
    k = int(math.floor(x_max / step + 1e-9))
    x = step * np.arange(0, k + 1, dtype=float)
    upper = np.append(x[:-1] + step / 2, np.inf)
    lower = np.insert(x[1:] - step / 2, 0, 0.0)
    # survival function differences: exp(-lam a) - exp(-lam b), computed without cancellation
    p = np.exp(-lam * lower) * -np.expm1(-lam * (upper - lower))
    return x, p / p.sum()


def _laplace_cdf(x, lam):
    x = np.asarray(x, dtype=float)
    with np.errstate(over="ignore"):
        return np.where(x < 0, 0.5 * np.exp(lam * np.minimum(x, 0)), 1 - 0.5 * np.exp(-lam * np.maximum(x, 0)))


def blahut_arimoto(
    p,
    d,
    slope: float,
    *,
    tol: float = 1e-7,
    max_iter: int = 20000,
    q0=None,
) -> BlahutArimotoPoint:
    """The point of the rate-distortion curve of source ``p`` under distortion ``d`` at slope ``s``.

    Args:
        p: source probabilities, shape ``(n,)``, non-negative, summing to one.
        d: distortion matrix, shape ``(n, m)``, non-negative (``d[i, j]`` = cost of reproducing
            source point ``i`` by reconstruction point ``j``).
        slope: ``s > 0`` in nats per unit of distortion (large ``s``: small distortion).
        tol: stop when Blahut's gap ``R_upper - R_lower`` is below ``tol`` bits.
        max_iter: iteration cap; reaching it raises ``RuntimeError`` (no silent inaccurate point).
        q0: optional starting output law (shape ``(m,)``), e.g. the previous point's, to warm-start.

    Returns:
        A :class:`BlahutArimotoPoint`.
    """
    p = check_array("p", p, ndim=1, lo=0.0)
    d = check_array("d", d, ndim=2, lo=0.0)
    if d.shape[0] != p.size:
        raise ValueError(f"d must have shape ({p.size}, m) to match p; got shape {d.shape}")
    if not math.isclose(p.sum(), 1.0, rel_tol=0, abs_tol=1e-9):
        raise ValueError(f"p must sum to 1; got sum {p.sum():.12g}")
    s = check_real("slope", slope, 0.0, lo_open=True, unit="nats per distortion unit")
    tol = check_real("tol", tol, 0.0, lo_open=True, unit="bits")
    max_iter = check_int("max_iter", max_iter, 1)
    m = d.shape[1]
    if q0 is None:
        log_q = np.full(m, -math.log(m))
    else:
        q0 = check_array("q0", q0, shape=(m,), lo=0.0)
        # a floor keeps every reconstruction point alive: the iteration never revives a zero mass
        q0 = q0 / q0.sum() + 1e-12 / m
        log_q = np.log(q0 / q0.sum())

    keep = p > 0  # zero-probability source points do not affect R or D
    p, d = p[keep], d[keep]
    log_p = np.log(p)
    a = d.min(axis=1)
    kernel = np.exp(-s * (d - a[:, None]))  # row maximum is exactly 1

    def normalisers(log_q):
        """``log Z(x) + s a(x) - max log q``, stably; recomputed in log domain where it underflows."""
        shift = log_q.max()
        q_shift = np.exp(log_q - shift)
        z = kernel @ q_shift
        log_z = np.empty_like(z)
        ok = z > 1e-280
        log_z[ok] = np.log(z[ok])
        if not np.all(ok):
            log_z[~ok] = logsumexp((log_q - shift)[None, :] - s * (d[~ok] - a[~ok, None]), axis=1)
        return log_z, shift

    def step(log_q):
        """One Blahut-Arimoto update: (new log q, Blahut gap in nats, objective at log q in nats)."""
        log_z, shift = normalisers(log_q)
        ratio = log_p - log_z
        top = ratio.max()
        with np.errstate(divide="ignore"):
            # log c(y), c(y) = sum_x p(x) exp(-s d(x,y)) / Z(x); the shifts cancel against q
            log_c = np.log(kernel.T @ np.exp(ratio - top)) + top - shift
        q = np.exp(log_q)
        gap = np.max(log_c) - np.sum(q * log_c)
        # the convex objective that the update decreases: -sum_x p(x) log Z(x)
        objective = -float(np.sum(p * (log_z + shift - s * a)))
        new = log_q + log_c
        new = np.maximum(new - logsumexp(new), _LOG_FLOOR)
        return new - logsumexp(new), gap, objective

    # SQUAREM extrapolation (Varadhan and Roland 2008) of the fixed-point map, kept only when it
    # lowers the objective, so the iteration stays monotone like plain Blahut-Arimoto.
    log_q = np.maximum(log_q, _LOG_FLOOR)
    it = 0
    while True:
        x1, gap, _ = step(log_q)
        it += 1
        if gap / _LN2 < tol:
            log_q = x1
            break
        if it >= max_iter:
            raise RuntimeError(
                f"Blahut-Arimoto did not reach tol={tol:g} bits in max_iter={max_iter} iterations "
                f"at slope={s:g}; last gap {gap / _LN2:.3g} bits"
            )
        x2, _, obj2 = step(x1)
        r = x1 - log_q
        v = x2 - 2 * x1 + log_q
        nv = np.linalg.norm(v)
        candidate = x2
        if nv > 0:
            alpha = min(-np.linalg.norm(r) / nv, -1.0)
            xe = log_q - 2 * alpha * r + alpha**2 * v
            xe = np.maximum(xe - logsumexp(xe), _LOG_FLOOR)
            xe = xe - logsumexp(xe)
            x3, _, obj3 = step(xe)
            it += 1
            if obj3 <= obj2:
                candidate = x3
        log_q = candidate
        it += 1

    # final test channel for the final q
    log_z, shift = normalisers(log_q)
    log_Z = log_z + shift - s * a  # log Z(x) = log sum_y q(y) exp(-s d(x,y))
    log_Q = log_q[None, :] - s * d - log_Z[:, None]
    Q = np.exp(log_Q)
    distortion = float(np.sum(p[:, None] * Q * d))
    with np.errstate(invalid="ignore"):
        info = np.where(Q > 0, Q * (log_Q - log_q[None, :]), 0.0)
    rate = float(np.sum(p[:, None] * info)) / _LN2
    log_c = logsumexp(log_p[:, None] - s * d - log_Z[:, None], axis=0)
    rate_lower = (-s * distortion - float(np.sum(p * log_Z)) - float(np.max(log_c))) / _LN2
    return BlahutArimotoPoint(
        slope=s,
        distortion=distortion,
        rate=max(rate, 0.0),
        rate_lower=rate_lower,
        output=np.exp(log_q),
        iterations=it,
    )


def rate_distortion_curve(
    p, d, slopes, *, tol: float = 1e-7, max_iter: int = 20000, cache: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[BlahutArimotoPoint]]:
    """Points of the rate-distortion curve at each slope in ``slopes`` (warm-started in order).

    With ``cache=True`` the curve goes through the disk cache (:func:`coinfer.cache.cached`), keyed by
    ``p``, ``d``, ``slopes``, ``tol``, ``max_iter`` and this module's source.

    Returns:
        ``(D, R, R_lower, points)``: arrays of distortion, rate (bits), Blahut's lower bound (bits),
        and the list of :class:`BlahutArimotoPoint`.
    """
    slopes = check_array("slopes", slopes, ndim=1, lo=0.0, lo_open=True)

    def compute():
        points = []
        q = None
        for s in slopes:
            point = blahut_arimoto(p, d, float(s), tol=tol, max_iter=max_iter, q0=q)
            q = point.output
            points.append(point)
        D = np.array([pt.distortion for pt in points])
        R = np.array([pt.rate for pt in points])
        R_lower = np.array([pt.rate_lower for pt in points])
        return D, R, R_lower, points

    from ..cache import cached

    params = dict(
        p=np.asarray(p, dtype=float), d=np.asarray(d, dtype=float), slopes=slopes, tol=tol,
        max_iter=max_iter,
    )
    return cached("blahut-arimoto", params, compute, use_cache=cache)
