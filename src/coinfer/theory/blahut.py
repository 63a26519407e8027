"""The rate-distortion function of a discretised source, point by point, with a certificate.

The exact curve ``R(D)`` of a source with probabilities ``p`` on a grid, reconstructed on a grid of
points with distortion matrix ``d``, is traced by the slope parameter ``s > 0``: at slope ``s`` the
optimal test channel is ``Q(y|x) = q(y) exp(-s d(x, y)) / Z(x)`` with ``Z(x) = sum_y q(y) exp(-s d(x,
y))``, and the output law ``q`` minimises ``-sum_x p(x) log Z(x)`` over the probability simplex; the
point ``(D_s, R(D_s))`` has ``dR/dD = -s`` (``R`` in nats there; this module returns bits)
(Blahut 1972; Arimoto 1972; Cover and Thomas 2006, section 10.8).

Blahut-Arimoto's multiplicative update ``q <- q c`` (``c`` below) converges to that minimiser, but
slowly: linearly with a rate near one when the kernel is wide compared with the grid, and
sublinearly when the optimal ``q`` vanishes on part of the grid (as it does under squared error,
where the optimal reconstruction is concentrated on a few dozen points). This module minimises the
same convex function with a Newton-type support-reduction method instead (Groeneboom, Jongbloed and
Wellner 2008): with the kernel ``K(x, y) = exp(-s (d(x, y) - min_y d(x, y)))`` (row maximum one) and
``u = K q``, it minimises ``G(q) = -sum_x p(x) log u(x) + sum_y q(y)`` over ``q >= 0``, whose minimiser
sums to one and is the optimal output law. Each iteration

1. adds to the support the grid points where ``c(y) = sum_x p(x) K(x, y) / u(x)`` exceeds one and is
   a local maximum (the points whose mass would lower ``G``);
2. takes the Newton step of ``G`` on the support (Hessian ``K^T diag(p / u^2) K``); where the step
   would make a mass negative, it moves to the boundary, drops that point and recomputes;
3. backtracks along the step until ``G`` decreases sufficiently (Armijo), then applies one plain
   Blahut-Arimoto update ``q <- q c / sum(q c)``, which never increases ``G``, returns ``q`` to the
   simplex and multiplies at once the masses that are orders of magnitude too small (from which
   Newton steps on ``-log q`` only double).

The stopping rule is Blahut's certificate: for any output law ``q``, ``R_lower <= R(D_s) <= R_upper``
with ``R_upper - R_lower = max_y log c(y)``, and the iteration stops when this bracket is below
``tol`` bits; reaching ``max_iter`` raises, so no inaccurate point is ever returned.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve

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


@dataclass(frozen=True)
class BlahutArimotoPoint:
    """One point of the rate-distortion curve computed at slope ``s``.

    Attributes:
        slope: the slope parameter ``s`` (nats per unit of distortion).
        distortion: ``D_s``, the expected distortion of the final test channel (distortion units).
        rate: ``R_upper = sum_x p(x) sum_y Q(y|x) log2(Q(y|x) / q(y))`` (bits per symbol), at least
            the mutual information of the final test channel, which is achievable at distortion
            ``D_s``; hence an upper bound on ``R(D_s)`` (clipped at zero).
        rate_lower: Blahut's lower bound on ``R(D_s)`` (bits per symbol); ``rate - rate_lower`` is
            below the requested tolerance.
        output: the output law ``q`` on the reconstruction grid (sums to one; exactly zero off its
            support).
        iterations: Newton iterations used (zero if the starting law already met the tolerance).
        seconds: wall-clock time spent computing the point (s); reported, never relied on.
    """

    slope: float
    distortion: float
    rate: float
    rate_lower: float
    output: np.ndarray
    iterations: int
    seconds: float = float("nan")


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
        return np.where(
            x < 0, 0.5 * np.exp(lam * np.minimum(x, 0)), 1 - 0.5 * np.exp(-lam * np.maximum(x, 0))
        )


def blahut_arimoto(
    p,
    d,
    slope: float,
    *,
    tol: float = 1e-7,
    max_iter: int = 500,
    q0=None,
) -> BlahutArimotoPoint:
    """The point of the rate-distortion curve of source ``p`` under distortion ``d`` at slope ``s``.

    The optimal output law is found by the Newton-type support-reduction method of the module
    docstring and certified by Blahut's bracket.

    Args:
        p: source probabilities, shape ``(n,)``, non-negative, summing to one.
        d: distortion matrix, shape ``(n, m)``, non-negative (``d[i, j]`` = cost of reproducing
            source point ``i`` by reconstruction point ``j``, distortion units).
        slope: ``s > 0`` in nats per unit of distortion (large ``s``: small distortion).
        tol: stop when Blahut's bracket ``R_upper - R_lower`` is below ``tol`` bits.
        max_iter: cap on (Newton) iterations; reaching it raises ``RuntimeError`` (no silent
            inaccurate point).
        q0: optional starting output law (shape ``(m,)``, non-negative, positive sum), e.g. the
            previous point's, to warm-start a sweep over slopes.

    Returns:
        A :class:`BlahutArimotoPoint`.
    """
    started = time.perf_counter()
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
    if q0 is not None:
        q0 = check_array("q0", q0, shape=(m,), lo=0.0)
        if not q0.sum() > 0:
            raise ValueError(f"q0 must have a positive sum; got sum {q0.sum():.12g}")

    keep = p > 0  # zero-probability source points do not affect R or D
    p, d = p[keep] / p[keep].sum(), d[keep]
    a = d.min(axis=1)
    kernel = np.exp(-s * (d - a[:, None]))  # row maximum exactly 1
    kernel[kernel < np.finfo(float).tiny] = 0.0  # flush subnormals (slow in matrix products)
    problem = _Problem(p, kernel)

    q = _start(problem, q0)
    value, u = problem.value(q)
    it = 0
    while True:
        c = kernel.T @ (p / u)
        bracket = math.log(float(c.max())) / _LN2  # R_upper - R_lower in bits (q sums to one)
        if bracket < tol:
            break
        if it >= max_iter:
            raise RuntimeError(
                f"Blahut-Arimoto did not reach tol={tol:g} bits in max_iter={max_iter} iterations "
                f"at slope={s:g}; last bracket {bracket:.3g} bits"
            )
        it += 1
        q, value, u = _newton_iteration(problem, q, value, u, c)

    return dataclasses.replace(
        _point(s, p, d, a, kernel, q, u, it), seconds=time.perf_counter() - started
    )


@dataclass(frozen=True)
class _Problem:
    """``G(q) = -sum_x p(x) log (K q)(x) + sum_y q(y)`` for source ``p`` and kernel ``K``."""

    p: np.ndarray
    kernel: np.ndarray

    def value(self, q: np.ndarray) -> tuple[float, np.ndarray]:
        """``(G(q), K q)``, with ``G = inf`` unless ``K q >= 1e-30 p`` everywhere.

        The restriction loses nothing: at the minimiser ``c(y) <= 1`` for every ``y``, and ``c`` at
        the kernel's one in row ``x`` is at least ``p(x) / (K q)(x)``, so ``K q >= p`` there. It keeps
        the Newton system ``p / (K q)^2`` finite.
        """
        u = self.kernel @ q
        if np.any(u < 1e-30 * self.p):
            return math.inf, u
        return -float(self.p @ np.log(u)) + float(q.sum()), u

    def newton_target(self, u: np.ndarray, q: np.ndarray, g: np.ndarray, S: np.ndarray):
        """The minimiser on the support ``S`` of the quadratic model of ``G`` at ``q``.

        Points with curvature ``h(y) < 1e-6`` get target mass zero: there ``c(y) <= sqrt(h(y))``
        (Cauchy-Schwarz) is below ``1e-3``, far from the value one that ``c`` takes on the optimal
        support, and their Newton step would overflow; they return if ``c`` later exceeds one.
        """
        B = self.kernel[:, S] * (np.sqrt(self.p) / u)[:, None]
        curvature = np.einsum("ij,ij->j", B, B)
        z = np.zeros(S.size)
        ok = curvature >= 1e-6
        # Jacobi scaling (curvatures differ by orders of magnitude), then a small ridge, because
        # the Hessian is often numerically singular
        scale = 1.0 / np.sqrt(curvature[ok])
        B = B[:, ok] * scale[None, :]
        H = B.T @ B
        ridge = 1e-12
        for _ in range(12):
            try:
                factor = cho_factor(H + ridge * np.eye(H.shape[0]), check_finite=False)
                break
            except LinAlgError:
                ridge *= 100.0
        else:  # pragma: no cover - a Gram matrix plus a large ridge is positive definite
            raise LinAlgError("the Newton system stayed singular")
        z[ok] = q[S][ok] - scale * cho_solve(factor, scale * g[S][ok], check_finite=False)
        return z


def _start(problem: _Problem, q0) -> np.ndarray:
    """A starting law with ``G < inf``: ``q0`` if given, else uniform on at most 64 spread points.

    Reconstruction points whose kernel column vanishes (no source point within reach at this
    slope) carry no mass: they can only raise ``G``.
    """
    m = problem.kernel.shape[1]
    live = problem.kernel.max(axis=0) > 0
    if q0 is not None:
        q = np.where(live, q0, 0.0)
    else:
        q = np.zeros(m)
        q[np.unique(np.linspace(0, m - 1, min(m, 64)).round().astype(int))] = 1.0
        q[~live] = 0.0
    if not q.sum() > 0 or not math.isfinite(problem.value(q / q.sum())[0]):
        # every row of the kernel has a one in a live column, so full live support gives K q > 0
        q = q / q.sum() if q.sum() > 0 else q
        q = 0.5 * q + 0.5 * live / live.sum()
    return q / q.sum()


def _newton_iteration(problem: _Problem, q, value, u, c):
    """One support-reduction Newton iteration from ``q`` (``value = G(q)``, ``u = K q``)."""
    p, kernel = problem.p, problem.kernel
    g = 1.0 - c  # gradient of G
    peak = np.ones(c.size, dtype=bool)  # local maxima of c along the grid
    peak[1:] &= c[1:] >= c[:-1]
    peak[:-1] &= c[:-1] >= c[1:]
    S = np.flatnonzero((q > 0) | (peak & (c > 1.0)))
    while True:
        z = problem.newton_target(u, q, g, S)
        if np.all(z >= 0):
            step = np.zeros_like(q)
            step[S] = z - q[S]
            break
        born = (z < 0) & (q[S] <= 0)  # points just added whose mass would go negative
        if born.any():
            S = S[~born]
            continue
        # move to where the first mass reaches zero, drop it, recompute the step there
        delta = z - q[S]
        neg = z < 0
        ratios = q[S][neg] / -delta[neg]
        t = float(ratios.min())
        edge = q.copy()
        edge[S] = np.maximum(q[S] + t * delta, 0.0)
        edge[S[neg][ratios <= t]] = 0.0
        edge_value, edge_u = problem.value(edge)
        if not edge_value <= value:
            step = edge - q  # a descent direction of the model: backtrack along it below
            break
        q, value, u = edge / edge.sum(), *problem.value(edge / edge.sum())
        c = kernel.T @ (p / u)
        g = 1.0 - c
        S = S[q[S] > 0]
    slope = float(g @ step)  # directional derivative, negative for a descent direction
    t = 1.0
    while t > 1e-12:
        trial = np.maximum(q + t * step, 0.0)
        trial_value, trial_u = problem.value(trial)
        if trial_value <= value + 1e-4 * t * slope:
            return _blahut_arimoto_update(problem, trial, trial_u)
        t *= 0.5
    return _blahut_arimoto_update(problem, q, u)  # the step failed: plain Blahut-Arimoto


def _blahut_arimoto_update(problem: _Problem, q, u):
    """``q <- q c / sum(q c)``: never increases ``G``, and rescales in one step the masses that
    Newton steps only double (a mass far below its optimum behaves like ``-log q``)."""
    q = q * (problem.kernel.T @ (problem.p / u))
    q /= q.sum()
    return q, *problem.value(q)


def _point(s, p, d, a, kernel, q, u, iterations) -> BlahutArimotoPoint:
    """Distortion, rates and output law of the test channel of the output law ``q``."""
    w = p / u
    distortion = float(w @ ((kernel * d) @ q))  # sum_x p(x) sum_y Q(y|x) d(x, y)
    log_Z = np.log(u) - s * a  # log Z(x) = log sum_y q(y) exp(-s d(x, y))
    rate = (-s * distortion - float(p @ log_Z)) / _LN2  # sum p Q log(Q / q) >= I(p, Q) >= R(D_s)
    # the bracket max_y log c(y) is non-negative because sum_y q(y) c(y) = 1
    rate_lower = rate - max(math.log(float((kernel.T @ w).max())), 0.0) / _LN2
    return BlahutArimotoPoint(
        slope=s,
        distortion=distortion,
        rate=max(rate, 0.0),
        rate_lower=min(rate_lower, max(rate, 0.0)),
        output=q,
        iterations=iterations,
    )


def rate_distortion_curve(
    p, d, slopes, *, tol: float = 1e-7, max_iter: int = 500, cache: bool = False
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
        p=np.asarray(p, dtype=float),
        d=np.asarray(d, dtype=float),
        slopes=slopes,
        tol=tol,
        max_iter=max_iter,
    )
    return cached("blahut-arimoto", params, compute, use_cache=cache)
