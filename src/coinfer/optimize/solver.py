"""The joint optimiser: split point, pruning ratio, transmit power and device clock.

Problem, for a :class:`~coinfer.system.Scenario`: minimise the surrogate objective ``Dbar(rho)`` over the
split point ``s``, the pruning ratio ``rho``, the power ``p`` and the clock ``f`` (and, with measured
work curves, the pruning kind) subject to ``Td + Tu + Ts <= T_max``, ``Ed + Eu <= E_max`` and the box
limits. ``Dbar`` increases in ``rho``, so the optimum is the smallest feasible ``rho`` (for each split
and kind), and for that ``rho`` the operating point that spends the least device energy within the
latency limit.

The algorithm (proved in the book chapter "The optimisation algorithm"). Write ``u = 1 - rho``. The
work is piecewise linear in ``u`` (one piece, ``[1 - rho_max, 1]``, in the paper's model; one per grid
interval of a :class:`~coinfer.system.WorkCurve`). On a piece and at a fixed operating point
``(p, f)``, latency and energy are *affine* nondecreasing functions of ``u``, so the largest feasible
``u`` at that point is ``min(u_T(p, f), u_E(p, f), u_hi)``. The Karush-Kuhn-Tucker conditions of the
least-energy problem say that only the points of one monotone curve in the ``(p, f)`` box matter, and
that curve does not depend on the work: with a "price of time" ``mu``, ``2 kappa f^3 = mu`` (clipped at
``f_max``) and ``(N0 B / g) phi(x) = mu`` (clipped at ``p_max``), where ``x = ln(1 + p g / (N0 B))``
and ``phi(x) = (x - 1) e^x + 1``. Along that curve (parameter ``lam`` in ``[0, 2]``) ``u_T``
increases and ``u_E`` decreases, so the best ``u`` of a piece is at their crossing, found by a
safeguarded regula falsi (Illinois) that keeps a bracket: both bracket ends are feasible points, and
the bracket certifies the gap to the optimum. Per (kind, split) the best piece; per kind the split rule
(:func:`select_split`); across kinds the least objective. Everything is vectorised over
(kind, split, piece) columns and channel gains.

Conventions: ``s = 0`` computes nothing on the device (the clock is irrelevant and reported as
``f_max``); ``s = L`` sends nothing (the power is reported as 0). ``2^(S/(B t))`` is never formed: the
curve is parametrised by ``x <= ln(1 + p_max g / (N0 B))``, and
:func:`coinfer.system.uplink_energy` works in the log domain and returns ``+inf`` where the energy
overflows.
"""

from __future__ import annotations

import math

import numpy as np

from ..system import Scenario, uplink_time
from ..system.costs import pruning_kinds, work_curve
from ..validation import check_array, check_int, check_real
from .result import Solution, assemble

__all__ = [
    "solve",
    "solve_batch",
    "least_energy",
    "least_server_flops",
    "kkt_curve",
    "split_range",
    "select_split",
    "solution_at",
]

_LN2 = math.log(2.0)
_TINY = 1e-300  # stands in for a zero slope so that u = (limit - offset) / slope is +-inf, not NaN
_EDGE = 1e-7  # the crossing search never tries a point closer than this fraction of its bracket to an end
_TIE_RHO = 1e-9  # split points whose rho* differ by less than this are tied (broken by energy)


def _phi(x):
    """``phi(x) = (x - 1) e^x + 1 = -dEu/dt / (N0 B / g)``, with a series where it cancels (x small)."""
    small = x < 1e-3
    series = x * x * (0.5 + x * (1.0 / 3.0 + x * (0.125 + x / 30.0)))
    return np.where(small, series, x * np.exp(x) - np.expm1(x))


# --------------------------------------------------------------------------------------------------
# The least-energy curve and the crossing search
# --------------------------------------------------------------------------------------------------


def split_range(scenario: Scenario, split=None) -> np.ndarray:
    """The split points searched: ``min_split..L`` when ``split`` is None, else ``[split]``."""
    L = scenario.profile.n_blocks
    if split is None:
        return np.arange(scenario.min_split, L + 1)
    s = check_int("split", split, scenario.min_split, L)
    return np.array([s])


class _Columns:
    """One column per (pruning kind, split, linear piece of the work): the constants of the search.

    On a column, device cycles are ``w(u) = wF u + wA`` and server seconds ``t_s(u) = sF u + sA``
    for ``u = 1 - rho`` in ``[u_lo, u_hi]`` (the piece); ``wF, sF >= 0``, the intercepts may be
    negative for a measured curve, but ``w`` and ``t_s`` are ``>= 0`` on the piece.
    ``sig = S ln2 / B`` (so that ``t_u = sig / x`` with ``x = ln(1 + p g / (N0 B))``). The paper's
    work model is one piece, ``[1 - rho_max, 1]``. ``group`` numbers the (kind, split) pairs:
    ``kind_index * K + split_index``; the columns of a kind are ordered (split, piece).
    """

    FIELDS = ("wF", "wA", "sF", "sA", "sig", "has_up", "u_lo", "u_hi", "group")

    def __init__(self, scenario: Scenario, splits: np.ndarray, rho=None):
        prof, dev, srv = scenario.profile, scenario.device, scenario.server
        self.kinds = pruning_kinds(scenario)
        K = splits.shape[0]
        bits = prof.feature_bits[splits]
        parts: dict[str, list] = {f: [] for f in self.FIELDS}
        self.n_pieces = []
        for ki, kind in enumerate(self.kinds):
            curve = work_curve(scenario, kind)
            if curve is None:  # the paper's model: one piece, affine in u with intercepts >= 0
                fw_dev, fa_dev = prof.device_work(splits)
                fw_srv, fa_srv = prof.server_work(splits)
                c = dict(
                    wF=fw_dev / dev.flops_per_cycle,
                    wA=fa_dev / dev.flops_per_cycle,
                    sF=fw_srv / srv.flops,
                    sA=fa_srv / srv.flops,
                )
                c = {k: v[:, None] for k, v in c.items()}
                rho_lo, rho_hi = np.zeros(1), np.array([scenario.rho_max])
            else:
                pc = curve.pieces(scenario.rho_max)
                c = dict(
                    wF=pc["dev_slope"][splits],
                    wA=pc["dev_icpt"][splits],
                    sF=pc["srv_slope"][splits],
                    sA=pc["srv_icpt"][splits],
                )
                rho_lo, rho_hi = pc["rho_lo"], pc["rho_hi"]
            if rho is not None:  # a fixed ratio: only the (first) piece that holds it
                j = int(np.flatnonzero((rho_lo <= rho) & (rho <= rho_hi))[0])
                c = {k: v[:, j : j + 1] for k, v in c.items()}
                rho_lo, rho_hi = rho_lo[j : j + 1], rho_hi[j : j + 1]
            J = rho_lo.shape[0]
            self.n_pieces.append(J)
            shape = (K, J)
            for k, v in c.items():
                parts[k].append(np.broadcast_to(v, shape).ravel())
            parts["sig"].append(np.repeat(bits * _LN2 / scenario.uplink.bandwidth, J))
            parts["has_up"].append(np.repeat(bits > 0, J))
            parts["u_lo"].append(np.broadcast_to(1.0 - rho_hi, shape).ravel())
            parts["u_hi"].append(np.broadcast_to(1.0 - rho_lo, shape).ravel())
            parts["group"].append(np.repeat(ki * K + np.arange(K), J))
        for k, v in parts.items():
            setattr(self, k, np.concatenate(v))

    def take(self, mask):
        out = object.__new__(_Columns)
        out.__dict__.update(self.__dict__)
        for k in self.FIELDS:
            setattr(out, k, getattr(self, k)[mask])
        return out


class _Curve:
    """The KKT curve of the least-energy problem for splits that send bits (columns) and gains (rows).

    ``at(lam)``, ``lam`` in ``[0, 2]``: on ``[0, 1]`` the uplink exponent ``x`` rises geometrically
    from ``x_lo`` (the uplink alone takes the whole latency budget) to ``x_max`` (full power) with the
    clock at its KKT value ``(c phi(x) / (2 kappa))^(1/3)`` clipped at ``f_max``; on ``[1, 2]`` the
    power stays full and the clock rises linearly to ``f_max``. Returns the point ``(p, f)`` and the
    coefficients of latency ``aT u + bT`` (s) and energy ``aE u + bE`` (J) in ``u = 1 - rho``.
    """

    def __init__(self, scenario: Scenario, cols: _Columns, gains: np.ndarray, c=None, sig=None):
        dev, up, bud = scenario.device, scenario.uplink, scenario.budget
        self.wF, self.wA, self.sF, self.sA = cols.wF, cols.wA, cols.sF, cols.sA
        # c (W: p = c (e^x - 1)) and sig (s) per row, or per (row, column) when the rows are
        # (gain, band) pairs of several bands (:func:`least_server_flops`)
        self.sig = cols.sig if sig is None else sig
        self.T, self.E = bud.latency, bud.energy
        self.kappa, self.f_max = dev.kappa, dev.f_max
        self.u_lo, self.u_hi = cols.u_lo, cols.u_hi
        self.c = (up.noise_psd * up.bandwidth / gains)[:, None] if c is None else c
        self.x_max = np.log1p(dev.p_max / self.c)
        self.x_lo = np.minimum(self.sig / self.T, self.x_max)
        self.log_x = np.log(self.x_max / self.x_lo)
        self.f1 = np.minimum(self.f_max, self._f_kkt(self.x_max))
        self.df = self.f_max - self.f1
        self.shape = np.broadcast_shapes(self.c.shape, self.wF.shape, np.shape(self.sig))

    def _f_kkt(self, x):
        """Clock in Hz at which the device's marginal energy per second equals the uplink's."""
        return np.cbrt(self.c * _phi(x) / (2.0 * self.kappa))

    def at(self, lam):
        x = np.minimum(self.x_lo * np.exp(np.minimum(lam, 1.0) * self.log_x), self.x_max)
        p = self.c * np.expm1(x)
        t_u = self.sig / x
        f_seg = self.f1 + np.maximum(lam - 1.0, 0.0) * self.df
        f = np.where(lam <= 1.0, np.minimum(self._f_kkt(x), self.f_max), f_seg)
        inv_f = 1.0 / f
        kf2 = self.kappa * f * f
        aT = self.wF * inv_f + self.sF
        bT = self.wA * inv_f + (t_u + self.sA)
        aE = kf2 * self.wF
        bE = kf2 * self.wA + p * t_u
        return p, f, aT, bT, aE, bE

    def crossing(self, lam):
        """``u_T`` and ``m = min(u_E, u_hi)`` at ``lam``, read on the piece ``[u_lo, u_hi]``.

        A value below ``u_lo`` (the limit is missed at ``u_lo``) becomes the marker ``u_lo - 1``: the
        affine extension below the piece is not the model there (a measured curve's cycles could
        turn negative), but "missed at ``u_lo``" is, and it is monotone in ``lam``. ``u_T`` is capped
        at ``u_hi + 1`` (the latency limit is slack on the whole piece).
        """
        _, _, aT, bT, aE, bE = self.at(lam)
        lo, hi = self.u_lo, self.u_hi
        uT = (self.T - bT) / np.maximum(aT, _TINY)  # the caller silences inf arithmetic
        uE = (self.E - bE) / np.maximum(aE, _TINY)
        uT = np.where(uT < lo, lo - 1.0, np.minimum(uT, hi + 1.0))
        m = np.where(uE < lo, lo - 1.0, np.minimum(uE, hi))
        return uT, m


def _search(curve: _Curve, target=None, tol_u=1e-13, tol_lam=1e-15, max_iter=100):
    """:func:`_search_body` with floating-point warnings of inf arithmetic silenced once (an
    ``errstate`` per iteration costs as much as the iteration's arithmetic)."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return _search_body(curve, target, tol_u, tol_lam, max_iter)


def _search_body(curve: _Curve, target, tol_u, tol_lam, max_iter):
    """Safeguarded regula falsi (Illinois) for the crossing of ``u_T`` and ``min(u_E, 1)`` on the curve.

    ``g(lam) = u_T(lam) - m(lam)`` is nondecreasing; the bracket ``[a, b]`` keeps ``g(a) <= 0 <= g(b)``
    (``a = b`` once a trial point hits ``g = 0``).
    Both ends are feasible points (``u = u_T(a)`` and ``u = m(b)``) and the optimum ``u*`` lies in
    ``[max(u_T(a), m(b)), min(u_T(b), m(a))]``: the search stops elementwise when that interval is
    shorter than ``tol_u``, when its top is below ``u_min`` (infeasible, decided), or when the bracket
    is shorter than ``tol_lam``. With ``target`` (a fixed ``u``), ``m = target`` and the result is the
    first curve point whose latency meets the limit at ``u = target`` (the least-energy point).

    Returns ``(lam, u, upper, uT2, iterations)``: chosen curve parameter, its ``u`` (a feasible
    point when ``>= u_lo``), a certified upper bound on the best ``u`` of the piece (below ``u_lo``:
    no feasible point), ``u_T`` at full clock and power, and the number of iterations.
    """
    shape = curve.shape
    u_min = -np.inf if target is not None else curve.u_lo

    def ev(lam):
        uT, m = curve.crossing(lam)
        if target is not None:
            m = np.full(shape, target)
        return uT, m

    zero = np.zeros(shape)
    uT0, m0 = ev(zero)
    uT2, m2 = ev(zero + 2.0)
    g0, g2 = uT0 - m0, uT2 - m2
    lo_out = g0 > 0  # energy binds already on the slowest useful point
    hi_out = (g2 <= 0) & ~lo_out  # latency binds even at full clock and power
    a = np.where(hi_out, 2.0, 0.0)
    b = np.where(lo_out, 0.0, 2.0)
    uTa, ma, ga = np.where(hi_out, uT2, uT0), np.where(hi_out, m2, m0), np.where(hi_out, g2, g0)
    uTb, mb, gb = np.where(lo_out, uT0, uT2), np.where(lo_out, m0, m2), np.where(lo_out, g0, g2)
    side = np.zeros(shape)
    iterations = 0
    for _ in range(max_iter):
        if target is None:
            upper, lower = np.minimum(uTb, ma), np.maximum(uTa, mb)
        else:
            upper, lower = uTb, uTa
        # At the top of the piece (m = u_hi) the optimum u is known early; keep going for the
        # least-energy point.
        wide = (upper - lower > tol_u) | ((mb >= curve.u_hi) & (uTb - uTa > tol_u))
        active = (b - a > tol_lam) & wide & (upper >= u_min)
        if not active.any():
            break
        iterations += 1
        width = b - a
        c = b - gb * width / (gb - ga)
        # Safeguard: keep the trial point a fraction _EDGE of the bracket away from both ends, so
        # the bracket shrinks by at least that factor even when the interpolation sticks to an
        # end (as it does once an end sits on the root: then Illinois halving alone degrades to
        # one-sided bisection, tens of iterations).
        c = np.minimum(np.maximum(c, a + _EDGE * width), b - _EDGE * width)
        c = np.where((c > a) & (c < b), c, 0.5 * (a + b))  # NaN, or rounded onto an end
        uTc, mc = ev(c)
        gc = uTc - mc
        # g(c) = 0: c is the crossing itself (or, in the least-energy mode, the first point that
        # meets the latency limit at the target): both ends move onto it and the bracket collapses.
        left = active & (gc <= 0)
        right = active & (gc >= 0)
        # Illinois: when the same end survives twice, halve its value so the other end moves too.
        gb = np.where(left & (side == -1), 0.5 * gb, gb)
        ga = np.where(right & (side == 1), 0.5 * ga, ga)
        a, uTa, ma, ga = (
            np.where(left, c, a),
            np.where(left, uTc, uTa),
            np.where(left, mc, ma),
            np.where(left, gc, ga),
        )
        b, uTb, mb, gb = (
            np.where(right, c, b),
            np.where(right, uTc, uTb),
            np.where(right, mc, mb),
            np.where(right, gc, gb),
        )
        side = np.where(left, -1.0, np.where(right, 1.0, side))
    ga_true, gb_true = uTa - ma, uTb - mb  # ga, gb may have been halved
    if target is not None:
        ok = gb_true >= 0
        u = np.where(ok, target, -np.inf)
        return b, u, u, uT2, iterations
    cand_a = np.where(ga_true <= 0, uTa, -np.inf)
    cand_b = np.where(gb_true >= 0, mb, -np.inf)
    take_b = cand_b > cand_a
    u = np.where(take_b, cand_b, cand_a)
    lam = np.where(take_b, b, a)
    upper = np.maximum(np.where(a < b, np.minimum(uTb, ma), u), u)
    return lam, u, upper, uT2, iterations


def _device_only(scenario: Scenario, cols: _Columns, n: int, target=None):
    """Exact optimum for columns that send nothing (``S(s) = 0``, e.g. ``s = L``): only the clock.

    For fixed ``u`` the least energy puts the latency at its limit: ``f = w(u) / (T - t_s(u))``. The
    limits ``f <= f_max`` and ``kappa w^3 / (T - t_s)^2 <= E`` are monotone in ``u`` on the piece
    (``w, t_s >= 0`` there, non-decreasing in ``u``): the first is affine (closed form), the second is
    ``h(u) = w(u)^(3/2) - sqrt(E/kappa) (T - t_s(u)) <= 0`` with ``h`` convex increasing (Newton from
    the top of the piece). Returns ``(u, f, upper, u_lat)`` over ``(n, C)``; ``u = -inf`` where the
    column admits no feasible point (with ``target``: where the latency limit misses it).
    """
    dev, bud = scenario.device, scenario.budget
    T, E = bud.latency, bud.energy
    wF, wA, sF, sA, lo, hi = cols.wF, cols.wA, cols.sF, cols.sA, cols.u_lo, cols.u_hi
    # Clock limit: w(u) <= f_max (T - t_s(u)).
    with np.errstate(divide="ignore", invalid="ignore"):
        den = wF + dev.f_max * sF
        room = dev.f_max * (T - sA) - wA  # cycles the clock limit leaves at u = 0
        u_lat = np.where(den > 0, room / den, np.where(room >= 0, np.inf, -np.inf))
    K = math.sqrt(E / dev.kappa) if math.isfinite(E) else math.inf

    def h(u):
        return np.maximum(wF * u + wA, 0.0) ** 1.5 + K * (sF * u + sA - T)

    if target is None:
        if math.isinf(K):
            u_en = np.full(wF.shape, np.inf)
        else:
            h_lo, h_hi = h(lo), h(hi)
            u = hi.copy()
            # Newton from the right on a convex increasing h: the iterates decrease monotonically
            # to the root, so the loop stops at the first step that no longer moves u.
            for _ in range(60):
                dh = 1.5 * wF * np.sqrt(np.maximum(wF * u + wA, 0.0)) + K * sF
                step = np.where(dh > 0, h(u) / np.where(dh > 0, dh, 1.0), 0.0)
                u_new = np.maximum(u - np.maximum(step, 0.0), lo)
                if np.all(u_new >= u):
                    break
                u = u_new
            u_en = np.where(h_hi <= 0, np.inf, np.where(h_lo > 0, -np.inf, u))
        u = np.minimum(np.minimum(u_lat, u_en), hi)
        u = np.where(u >= lo, u, -np.inf)
    else:
        u = np.where(u_lat >= target - 1e-12, float(target), -np.inf)
    # Infeasible entries have u = -inf and s = L has no server work (sF = 0): clip before the
    # products so that sF * u is never 0 * inf = NaN; those entries still get a finite clock.
    u_fin = np.clip(u, lo, hi)
    w = wF * u_fin + wA
    slack = T - (sF * u_fin + sA)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(w > 0, np.minimum(w / slack, dev.f_max), dev.f_max)
    f = np.where(np.isfinite(f) & (f > 0), f, dev.f_max)
    tile = (n, 1)
    u_lat = np.where(u_lat >= lo, u_lat, lo - 1.0)
    upper = np.where(u > -np.inf, u, lo - 1.0)  # exact (Newton to rounding, closed form)
    return np.tile(u, tile), np.tile(f, tile), np.tile(upper, tile), np.tile(u_lat, tile)


def kkt_curve(scenario: Scenario, split: int, lam, pruning: str | None = None) -> dict:
    """The least-energy (KKT) curve of a split that sends bits, at parameters ``lam`` in ``[0, 2]``.

    Returns a dict of arrays over ``lam``: ``power`` (W), ``freq`` (Hz), ``u_latency`` (the largest
    ``u = 1 - rho`` that meets the latency limit at that point; unclipped) and ``u_energy`` (the same
    for the energy limit). The optimiser finds where the two cross. The curve ``(p, f)`` does not
    depend on the work; ``u_latency`` and ``u_energy`` are read on the first linear piece of the
    work of ``pruning`` (the paper's model has one piece).
    """
    _check_scenario(scenario)
    s = check_int("split", split, 0, scenario.profile.n_blocks)
    lam_arr = check_array("lam", lam, ndim=1, lo=0.0, hi=2.0)
    kinds = pruning_kinds(scenario)
    kind = kinds[0] if pruning is None else pruning
    if kind not in kinds:
        raise ValueError(f"pruning must be one of {kinds}; got {pruning!r}")
    cols = _Columns(scenario, np.array([s]))
    cols = cols.take(np.flatnonzero(cols.group == kinds.index(kind))[:1])
    if not cols.has_up[0]:
        raise ValueError(f"split must send bits (S(s) > 0) for the uplink curve; got split {s}")
    curve = _Curve(scenario, cols, np.array([scenario.uplink.gain]))
    p, f, aT, bT, aE, bE = curve.at(lam_arr[:, None])
    with np.errstate(divide="ignore", invalid="ignore"):
        uT = (scenario.budget.latency - bT) / aT
        uE = (scenario.budget.energy - bE) / aE
    return dict(lam=lam_arr, power=p[:, 0], freq=f[:, 0], u_latency=uT[:, 0], u_energy=uE[:, 0])


def _check_scenario(scenario):
    if not isinstance(scenario, Scenario):
        raise TypeError(
            f"scenario must be a coinfer.system.Scenario; got {type(scenario).__name__}"
        )
    if not math.isfinite(scenario.budget.latency):
        raise ValueError(
            "budget.latency must be finite, in (0, inf) s, for the optimiser and its references; got "
            "inf. Budget accepts "
            "an infinite latency budget, but with no latency limit the least device energy is only "
            "approached as the clock and the power go to 0, never attained, so there is no optimal "
            "operating point: give a finite (possibly large) latency budget instead"
        )


def _per_column(scenario: Scenario, gains: np.ndarray, cols: _Columns, target=None):
    """Per-column optimum over ``(N, C)``: ``u`` (``-inf``: infeasible on the column), power (W),
    clock (Hz), a certified upper bound on the column's best ``u`` (``< u_lo``: none is feasible),
    ``u_T`` at full speed (``< u_lo``: latency missed)."""
    n, c = gains.shape[0], cols.wF.shape[0]
    u = np.empty((n, c))
    p = np.zeros((n, c))
    f = np.empty((n, c))
    gap = np.empty((n, c))
    u_fast = np.empty((n, c))
    iterations = 0
    up = cols.has_up
    if up.any():
        cu = cols.take(up)
        curve = _Curve(scenario, cu, gains)
        lam, uu, gg, uT2, iterations = _search(curve, target)
        uu = np.where(uu >= cu.u_lo, uu, -np.inf)
        pp, ff, *_ = curve.at(lam)
        pp = np.minimum(pp, scenario.device.p_max)  # expm1(log1p(.)) may round one ulp above
        idle = np.maximum(cu.wF * cu.u_hi + cu.wA, cu.wF * cu.u_lo + cu.wA) <= 0
        ff = np.where(idle, scenario.device.f_max, ff)  # s = 0: the clock is idle
        u[:, up], p[:, up], f[:, up], gap[:, up], u_fast[:, up] = uu, pp, ff, gg, uT2
    if not up.all():
        cd = cols.take(~up)
        uu, ff, gg, ul = _device_only(scenario, cd, n, target)
        u[:, ~up], f[:, ~up], gap[:, ~up], u_fast[:, ~up] = uu, ff, gg, ul
    return u, p, f, gap, u_fast, iterations


def _at_full_speed(scenario: Scenario, gains: np.ndarray, cols: _Columns):
    """Per-column largest ``u`` at ``p = p_max`` (splits that send bits) and ``f = f_max``, closed form.

    At a fixed point ``(p, f)`` latency and energy are affine in ``u`` on a piece, so the largest
    feasible ``u`` there is ``min(u_T, u_E, u_hi)`` if that is ``>= u_lo``. Returns
    ``(u, p, f, gap, u_T)`` over ``(N, C)``; the gap is 0.
    """
    dev, bud, up = scenario.device, scenario.budget, scenario.uplink
    n = gains.shape[0]
    c = (up.noise_psd * up.bandwidth / gains)[:, None]
    x_max = np.log1p(dev.p_max / c)
    t_u = np.where(cols.has_up, cols.sig / x_max, 0.0)
    p = np.where(cols.has_up, dev.p_max, 0.0) + np.zeros((n, 1))
    f = np.full((n, cols.wF.shape[0]), dev.f_max)
    kf2 = dev.kappa * dev.f_max**2
    aT = cols.wF / dev.f_max + cols.sF
    bT = cols.wA / dev.f_max + cols.sA + t_u
    aE = kf2 * cols.wF
    bE = kf2 * cols.wA + p * t_u

    def largest(limit, a, b):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(a > 0, (limit - b) / a, np.where(b <= limit, np.inf, -np.inf))

    u_T = largest(bud.latency, aT, bT)
    u = np.minimum(np.minimum(u_T, largest(bud.energy, aE, bE)), cols.u_hi)
    u = np.where(u >= cols.u_lo, u, -np.inf)
    u_T = np.where(u_T >= cols.u_lo, u_T, cols.u_lo - 1.0)
    return u, p, f, np.where(u > -np.inf, u, cols.u_lo - 1.0), u_T


def select_split(rho: np.ndarray, energy: np.ndarray) -> np.ndarray:
    """The rule that picks a split from per-split answers ``(N, K)``: the least ``rho``, ties (within
    ``1e-9`` in ``rho``) to the least device energy. Infeasible entries carry ``rho = nan``.

    Returns the chosen column for each row (any column where no entry is feasible).
    """
    key = np.where(np.isnan(rho), np.inf, rho)
    best = key.min(axis=1, keepdims=True)
    tied = np.isfinite(key) & (key <= best + _TIE_RHO)
    return np.argmin(np.where(tied, energy, np.inf), axis=1)


def _best_piece(cols: _Columns, K: int, u: np.ndarray, upper: np.ndarray, missed: np.ndarray):
    """Per (kind, split) group, over its pieces: the column of largest feasible ``u``, the largest
    certified upper bound on ``u`` (the group's certificate) and whether every piece is ``missed``.
    Arrays ``(N, nk K)``; the paper's model (one piece per group) passes through unchanged."""
    if all(J == 1 for J in cols.n_pieces):
        return None, upper, missed
    n, picks, tops, alls, start = u.shape[0], [], [], [], 0
    for J in cols.n_pieces:  # columns are kind-major, then split, then piece
        cut = slice(start, start + K * J)
        best = np.argmax(u[:, cut].reshape(n, K, J), axis=2)  # the first (least rho) among equal u
        picks.append(start + np.arange(K)[None, :] * J + best)
        tops.append(upper[:, cut].reshape(n, K, J).max(axis=2))
        alls.append(missed[:, cut].reshape(n, K, J).all(axis=2))
        start += K * J
    return np.concatenate(picks, axis=1), np.concatenate(tops, axis=1), np.concatenate(alls, axis=1)


def _core(scenario: Scenario, gains: np.ndarray, split, rho=None, max_resources=False):
    """Vectorised solve over ``gains`` (N,), the split range (K,) and the pruning kinds.

    Per (kind, split): the largest feasible ``u = 1 - rho`` over the pieces of the work (``rho``
    fixed: the least-energy point there; ``max_resources``: ``p = p_max``, ``f = f_max``). Per kind:
    the split by :func:`select_split`. Across kinds: the least objective, ties (relative ``1e-9``) to
    the least device energy.
    """
    splits = split_range(scenario, split)
    cols = _Columns(scenario, splits, rho)
    kinds = cols.kinds
    n, K, nk = gains.shape[0], splits.shape[0], len(kinds)
    if max_resources:
        u, p, f, upper, u_fast = _at_full_speed(scenario, gains, cols)
        iterations = 0
    else:
        target = None if rho is None else 1.0 - rho
        u, p, f, upper, u_fast, iterations = _per_column(scenario, gains, cols, target)
    pick, upper_g, missed = _best_piece(cols, K, u, upper, u_fast < cols.u_lo)  # (N, nk K)
    if pick is None:
        u_g, p_g, f_g, wF, wA = u, p, f, cols.wF, cols.wA
    else:
        take = lambda a: np.take_along_axis(np.broadcast_to(a, u.shape), pick, axis=1)  # noqa: E731
        u_g, p_g, f_g, wF, wA = take(u), take(p), take(f), take(cols.wF), take(cols.wA)
    with np.errstate(invalid="ignore"):  # -inf - -inf where infeasible: masked below
        gap_g = np.maximum(upper_g - u_g, 0.0)  # in u, i.e. in rho
    ok = u_g > -np.inf
    if rho is None:
        r = np.where(ok, np.clip(1.0 - u_g, 0.0, scenario.rho_max), np.nan)
    else:
        r = np.where(ok, rho, np.nan)
    w = wF * (1.0 - np.nan_to_num(r)) + wA
    bits = np.tile(scenario.profile.bits(splits), nk)
    t_u = uplink_time(bits, p_g, scenario.uplink, gains[:, None])
    with np.errstate(invalid="ignore"):
        e_up = np.where(bits > 0, p_g * t_u, 0.0)
    energy = scenario.device.kappa * np.maximum(w, 0.0) * f_g * f_g + e_up
    if rho is not None:
        ok &= energy <= scenario.budget.energy * (1.0 + 1e-9)
    energy = np.where(ok, energy, np.nan)
    r = np.where(ok, r, np.nan)
    rows = np.arange(n)
    # per kind: the split rule; its certificate covers the search gap and the tie slack
    r3, e3, g3 = r.reshape(n, nk, K), energy.reshape(n, nk, K), gap_g.reshape(n, nk, K)
    k_kind = np.stack([select_split(r3[:, i], e3[:, i]) for i in range(nk)], axis=1)  # (N, nk)
    rho_kind = np.take_along_axis(r3, k_kind[:, :, None], axis=2)[:, :, 0]
    e_kind = np.take_along_axis(e3, k_kind[:, :, None], axis=2)[:, :, 0]
    with np.errstate(invalid="ignore"):
        floor = np.nanmin(np.where(np.isnan(r3), np.inf, r3 - g3), axis=2)
    gap_kind = np.maximum(rho_kind - floor, 0.0)
    # across kinds: the least objective value, ties to the least energy
    if nk == 1:
        kind_idx = np.zeros(n, dtype=int)
    else:
        obj = np.full((n, nk), np.inf)
        for i, kind in enumerate(kinds):
            fin = np.isfinite(rho_kind[:, i])
            if fin.any():
                obj[fin, i] = np.asarray(scenario.objective(rho_kind[fin, i], pruning=kind), float)
        best = obj.min(axis=1, keepdims=True)
        tied = np.isfinite(obj) & (obj <= best + 1e-9 * np.abs(best))
        kind_idx = np.argmin(np.where(tied, e_kind, np.inf), axis=1)
    k = k_kind[rows, kind_idx]
    col = kind_idx * K + k
    tables = (r3[rows, kind_idx], e3[rows, kind_idx], ok.reshape(n, nk, K)[rows, kind_idx])
    return dict(
        splits=splits,
        k=k,
        kinds=kinds,
        kind=kind_idx,
        feasible=ok[rows, col],
        rho=r[rows, col],
        power=p_g[rows, col],
        freq=f_g[rows, col],
        gap=gap_kind[rows, kind_idx],
        split_rho=tables[0],
        split_energy=tables[1],
        split_ok=tables[2],
        latency_limited=missed,
        iterations=iterations,
    )


# --------------------------------------------------------------------------------------------------
# Public solvers
# --------------------------------------------------------------------------------------------------


def _reason(scenario: Scenario, split, latency_limited_row, rho=None, max_resources=False) -> str:
    T, E = scenario.budget.latency, scenario.budget.energy
    where = "every allowed split" if split is None else f"split {split}"
    at = f"the fixed rho = {rho:.6g}" if rho is not None else f"rho_max = {scenario.rho_max:.6g}"
    speed = "full clock f_max and full power p_max"
    if np.all(latency_limited_row):
        return f"latency: T_max = {T:.6g} s is exceeded at {where} even at {at}, {speed}"
    how = f"at {speed}" if max_resources else f"within T_max = {T:.6g} s"
    return (
        f"energy: the least device energy {how} exceeds E_max = {E:.6g} J at {where}, even at {at}"
    )


def solve_batch(
    scenario: Scenario,
    gains,
    split: int | None = None,
    *,
    rho: float | None = None,
    max_resources: bool = False,
    method: str = "coinfer",
) -> Solution:
    """Solve the joint problem for each channel gain in ``gains``, vectorised.

    Args:
        scenario: the instance (finite latency budget); its own ``uplink.gain`` is ignored.
        gains: ``(N,)`` channel power gains ``g`` (linear, > 0).
        split: ``None`` to optimise over ``min_split..L``, or a fixed split point.
        rho: ``None`` to optimise the pruning ratio, or a fixed ratio in ``[0, rho_max]`` (then the
            point of least device energy is returned).
        max_resources: fix ``p = p_max`` and ``f = f_max`` (only the split and ``rho`` chosen).
        method: the label stored in the result.

    Returns:
        A batched :class:`~coinfer.optimize.result.Solution` (arrays over the gains; ``result[i]``
        is the ``i``-th single solution). Every feasible point satisfies
        :func:`coinfer.system.evaluate` with relative tolerance 1e-9.
    """
    _check_scenario(scenario)
    g = check_array("gains", gains, ndim=1, lo=0.0, lo_open=True)
    if rho is not None:
        rho = check_real("rho", rho, 0.0, scenario.rho_max)
        if max_resources:
            raise ValueError("rho and max_resources cannot both be fixed: give one")
    r = _core(scenario, g, split, rho, max_resources)
    ok = r["feasible"]
    kinds = np.asarray(r["kinds"], dtype=object)[r["kind"]]
    reasons = [
        "" if ok[i] else _reason(scenario, split, r["latency_limited"][i], rho, max_resources)
        for i in range(g.shape[0])
    ]
    sol = assemble(
        scenario,
        g,
        r["splits"][r["k"]],
        r["rho"],
        r["power"],
        r["freq"],
        ok,
        reasons,
        method=method,
        rho_gap=r["gap"] if rho is None else np.zeros(g.shape[0]),
        fixed_split=None if split is None else int(r["splits"][0]),
        splits=r["splits"],
        split_rho=r["split_rho"],
        split_energy=r["split_energy"],
        split_feasible=r["split_ok"],
        iterations=int(r["iterations"]),
        pruning=tuple(kinds.tolist()),
    )
    return sol


def solve(
    scenario: Scenario,
    split: int | None = None,
    *,
    rho: float | None = None,
    max_resources: bool = False,
    method: str = "coinfer",
) -> Solution:
    """The globally optimal operating point of ``scenario`` (split, pruning ratio, power, clock).

    Optimal means: the smallest feasible ``rho`` (so the least surrogate objective ``Dbar(rho)``), and
    for that ``rho`` the power and clock that spend the least device energy within the latency limit;
    split points whose ``rho`` are within 1e-9 of the least are tied, and the tie goes to the least
    device energy. With several work curves, the pruning kind of least objective value wins (ties,
    relative 1e-9, to the least energy); ``Solution.pruning`` names it (``"paper"`` without curves).
    The returned ``rho`` exceeds the least feasible ``rho`` of its kind by at most ``rho_gap``, a
    certificate that covers both the search's bracket and the tie slack (at most about 1e-9).

    Args:
        scenario: the instance (finite latency budget).
        split: ``None`` to optimise over ``min_split..L``, or an integer split point to fix.
        rho: ``None``, or a fixed pruning ratio (the least-energy point at that ratio).
        max_resources: fix ``p = p_max`` and ``f = f_max``.
        method: the label stored in the result.

    Returns:
        A :class:`~coinfer.optimize.result.Solution`; ``feasible=False`` with a ``reason`` when no
        point meets the limits.

    Raises:
        TypeError, ValueError: invalid input (the message names the parameter).
    """
    _check_scenario(scenario)
    batch = solve_batch(
        scenario,
        np.array([scenario.uplink.gain]),
        split,
        rho=rho,
        max_resources=max_resources,
        method=method,
    )
    return batch[0]


def least_energy(
    scenario: Scenario, split: int, rho: float, pruning: str | None = None
) -> Solution:
    """The least-energy operating point at a fixed split and pruning ratio (the inner problem).

    Minimises ``Ed + Eu`` over ``(p, f)`` in the box subject to ``Td + Tu + Ts <= T_max`` (a convex
    problem in the time shares), with the same search as :func:`solve`. The result is ``feasible``
    only if that least energy is also within ``E_max``; when it is not, the point is still reported
    and the ``reason`` names the energy limit. NaN when even the latency cannot be met. ``pruning``
    names the work curve (needed only when the scenario has several).
    """
    _check_scenario(scenario)
    s = check_int("split", split, scenario.min_split, scenario.profile.n_blocks)
    r = check_real("rho", rho, 0.0, scenario.rho_max)
    g = np.array([scenario.uplink.gain])
    kinds = pruning_kinds(scenario)
    if pruning is None:
        pruning = kinds[0] if len(kinds) == 1 else None
    if pruning not in kinds:
        raise ValueError(f"pruning must be one of {kinds}; got {pruning!r}")
    cols = _Columns(scenario, np.array([s]), r)
    cols = cols.take(cols.group == kinds.index(pruning))
    u, p, f, _, _, _ = _per_column(scenario, g, cols, 1.0 - r)
    lat_ok = bool(u[0, 0] > -np.inf)
    reason = "" if lat_ok else _reason(scenario, s, [True], r)
    return assemble(
        scenario,
        g,
        np.array([s]),
        np.array([r]),
        p[0],
        f[0],
        np.array([lat_ok]),
        [reason],
        method="coinfer",
        rho_gap=np.zeros(1),
        fixed_split=s,
        pruning=(pruning,),
    )[0]


def least_server_flops(
    scenario: Scenario, gains, bands, rho: dict, iterations: int = 48
) -> tuple[np.ndarray, np.ndarray]:
    """The least server throughput a device needs, per channel gain and band, at fixed pruning ratios.

    For gain ``g_n`` and band ``b_m`` (the device's own ``bandwidth`` and ``flops`` are replaced):
    the least server share ``Phi`` (FLOP/s) with which some allowed split ``s`` meets both budgets at
    the ratio ``rho[kind]`` of some pruning kind. At a fixed ``(s, rho)`` the latency is
    ``t_d + t_u + W_s / Phi``, so the least share is ``W_s / (T_max - tau)`` with ``tau`` the least
    device-plus-uplink time whose least energy is within ``E_max``. Least-energy points for every
    time budget lie on the KKT curve of :func:`kkt_curve` (time falls and energy rises along it), so
    ``tau`` is read at the curve's crossing with ``E_max``, found by bisection on the curve
    parameter. ``s = L`` needs nothing when the device alone meets the budgets; ``s < L`` needs a
    positive band.

    Args:
        scenario: the device (finite latency budget).
        gains: ``(N,)`` channel power gains (linear, > 0).
        bands: ``(M,)`` band shares in Hz (>= 0).
        rho: pruning kind -> ratio in ``[0, rho_max]``; a kind that is missing or ``None`` is not
            used (the level it stands for is out of its reach).
        iterations: bisection steps on the curve parameter (in ``[0, 2]``).

    Returns:
        ``(upper, lower)``, each ``(N, M)`` in FLOP/s, ``+inf`` where no share suffices: ``upper``
        is read at the last bisection point within the energy limit (a share that suffices, to
        rounding), ``lower`` at the first point beyond it (no smaller share suffices); they differ
        by the bisection's resolution.
    """
    _check_scenario(scenario)
    g = check_array("gains", gains, ndim=1, lo=0.0, lo_open=True)
    b = check_array("bands", bands, ndim=1, lo=0.0, unit="Hz")
    iterations = check_int("iterations", iterations, 1, 200)
    kinds = pruning_kinds(scenario)
    unknown = sorted(set(rho) - set(kinds))
    if unknown:
        raise ValueError(f"rho has an unknown pruning kind {unknown[0]!r}; kinds: {kinds}")
    dev, bud, up, srv = scenario.device, scenario.budget, scenario.uplink, scenario.server
    T, E = bud.latency, bud.energy
    n, m = g.shape[0], b.shape[0]
    upper = np.full((n, m), np.inf)
    lower = np.full((n, m), np.inf)
    splits = split_range(scenario)
    K = splits.shape[0]
    pos = b > 0
    for ki, kind in enumerate(kinds):
        r = rho.get(kind)
        if r is None:
            continue
        r = check_real(f"rho[{kind!r}]", r, 0.0, scenario.rho_max)
        cols = _Columns(scenario, splits, r)
        cols = cols.take((cols.group >= ki * K) & (cols.group < (ki + 1) * K))
        u = 1.0 - r
        cycles = np.maximum(cols.wF * u + cols.wA, 0.0)
        server = np.maximum(cols.sF * u + cols.sA, 0.0) * srv.flops  # FLOPs
        local = ~cols.has_up
        if local.any():  # the whole model on the device: f = w / T is its least-energy clock
            w = cycles[local]
            ok = (w <= dev.f_max * T) & (dev.kappa * w**3 <= E * T * T) & (server[local] <= 0)
            if ok.any():
                upper[:] = 0.0
                lower[:] = 0.0
        if not (cols.has_up.any() and pos.any()):
            continue
        cu = cols.take(cols.has_up)
        cu.sF = np.zeros_like(cu.sF)  # the curve's latency is then device plus uplink time
        cu.sA = np.zeros_like(cu.sA)
        bp = b[pos]
        rows_b = np.tile(bp, n)  # rows are (gain, band) pairs, gain-major
        rows_g = np.repeat(g, bp.shape[0])
        c = (up.noise_psd * rows_b / rows_g)[:, None]
        bits = scenario.profile.bits(splits)[cols.has_up]
        sig = (bits * _LN2)[None, :] / rows_b[:, None]
        curve = _Curve(scenario, cu, rows_g, c=c, sig=sig)

        def time_energy(lam, curve=curve, u=u):
            _, _, aT, bT, aE, bE = curve.at(lam)
            return aT * u + bT, aE * u + bE

        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            shape = curve.shape
            t0, e0 = time_energy(np.zeros(shape))
            t2, e2 = time_energy(np.full(shape, 2.0))
            lo, hi = np.zeros(shape), np.full(shape, 2.0)
            for _ in range(iterations):
                mid = 0.5 * (lo + hi)
                within = time_energy(mid)[1] <= E
                lo, hi = np.where(within, mid, lo), np.where(within, hi, mid)
            t_lo, t_hi = time_energy(lo)[0], time_energy(hi)[0]
            t_up = np.where(e2 <= E, t2, np.where(e0 <= E, t_lo, np.inf))
            # below the crossing nothing is within E_max; the point at hi is at least as fast
            t_dn = np.where(e2 <= E, t2, np.where(e0 <= E, t_hi, np.inf))
            srv_w = server[cols.has_up][None, :]

            def need(t, srv_w=srv_w):
                slack = T - t
                return np.where(slack > 0, np.where(srv_w > 0, srv_w / slack, 0.0), np.inf)

            need_up = need(t_up).min(axis=1).reshape(n, -1)
            need_dn = need(t_dn).min(axis=1).reshape(n, -1)
        upper[:, pos] = np.minimum(upper[:, pos], need_up)
        lower[:, pos] = np.minimum(lower[:, pos], need_dn)
    return upper, lower


def solution_at(
    scenario: Scenario,
    split: int,
    rho: float,
    power: float,
    freq: float,
    method: str,
    pruning: str | None = None,
) -> Solution:
    """A single :class:`~coinfer.optimize.result.Solution` at a given point, checked with
    :func:`coinfer.system.evaluate` (for the reference solvers, which find points their own way)."""
    g = np.array([scenario.uplink.gain])
    kind = pruning if pruning is not None else pruning_kinds(scenario)[0]
    return assemble(
        scenario,
        g,
        np.array([split]),
        np.array([rho]),
        np.array([power]),
        np.array([freq]),
        np.array([True]),
        [""],
        method=method,
        fixed_split=int(split),
        pruning=(kind,),
    )[0]
