"""The joint optimiser: split point, pruning ratio, transmit power and device clock (DESIGN.md section 4).

Problem, for a :class:`~coinfer.system.Scenario`: minimise the distortion bound ``Dbar(rho)`` over the
split point ``s``, the pruning ratio ``rho``, the power ``p`` and the clock ``f`` subject to
``Td + Tu + Ts <= T_max``, ``Ed + Eu <= E_max`` and the box limits. ``Dbar`` increases in ``rho``, so the
optimum is the smallest feasible ``rho`` (for each split), and for that ``rho`` the operating point that
spends the least device energy within the latency limit.

The algorithm (proved in the book chapter "The optimisation algorithm"). Write ``u = 1 - rho``. For a
fixed operating point ``(p, f)``, latency and energy are *affine* increasing functions of ``u``, so the
largest feasible ``u`` at that point is ``min(u_T(p, f), u_E(p, f), 1)``. The Karush-Kuhn-Tucker
conditions of the least-energy problem say that only the points of one monotone curve in the ``(p, f)``
box matter: with a "price of time" ``mu``, ``2 kappa f^3 = mu`` (clipped at ``f_max``) and
``(N0 B / g) phi(x) = mu`` (clipped at ``p_max``), where ``x = ln(1 + p g / (N0 B))`` and
``phi(x) = (x - 1) e^x + 1``. Along that curve (parameter ``lam`` in ``[0, 2]``) ``u_T`` increases and
``u_E`` decreases, so the best ``u`` is at their crossing, found by a safeguarded regula falsi
(Illinois) that keeps a bracket: both bracket ends are feasible points, and the bracket certifies the
gap to the optimum. Everything is vectorised over split points and channel gains.

Conventions: ``s = 0`` computes nothing on the device (the clock is irrelevant and reported as
``f_max``); ``s = L`` sends nothing (the power is reported as 0). ``2^(S/(B t))`` is never formed: the
curve is parametrised by ``x <= ln(1 + p_max g / (N0 B))``, and :func:`uplink_energy` works in the log
domain and returns ``+inf`` where the energy overflows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .system import Scenario, evaluate
from .validation import check_array, check_int, check_real

__all__ = [
    "Solution",
    "BatchSolution",
    "solve",
    "solve_batch",
    "least_energy",
    "uplink_energy",
    "uplink_power",
    "split_range",
    "kkt_curve",
    "infeasible_solution",
]

_LN2 = math.log(2.0)
_TINY = 1e-300  # stands in for a zero slope so that u = (limit - offset) / slope is +-inf, not NaN
_TIE_RHO = 1e-9  # split points whose rho* differ by less than this are tied (broken by energy)


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Solution:
    """An operating point of one scenario, with its latency and energy breakdown.

    Infeasible instances have ``feasible=False``, a ``reason`` naming the binding limit, ``split=-1``
    when the split was free (else the fixed split) and NaN for ``rho``, ``power``, ``freq`` and every
    derived number: an infeasible result never carries a point that could be mistaken for a solution.

    Attributes:
        split: split point ``s``.
        rho: pruning ratio.
        power: transmit power ``p`` in W.
        freq: device clock ``f`` in Hz.
        latency: ``Td + Tu + Ts`` in s.
        energy: device energy ``Ed + Eu`` in J.
        objective: ``Dbar(rho)``.
        feasible: whether the point satisfies every constraint (checked with
            :func:`coinfer.system.evaluate`, relative tolerance 1e-9).
        reason: why the instance is infeasible; empty when feasible.
        t_device, t_uplink, t_server: latency parts in s.
        e_device, e_uplink: energy parts in J.
        rho_gap: certified bound on ``rho - rho*`` (0 for a closed-form answer; NaN if not certified).
        splits: the split points searched, ``(K,)``.
        split_rho: ``rho*(s)`` for each searched split (NaN where infeasible), ``(K,)``.
        split_energy: device energy in J of each split's optimal point (NaN where infeasible).
        split_feasible: whether each split admits a feasible point.
        method: which solver produced the point.
        iterations: crossing-search iterations (each one vectorised pass over all splits).
    """

    split: int
    rho: float
    power: float
    freq: float
    latency: float
    energy: float
    objective: float
    feasible: bool
    reason: str
    t_device: float = math.nan
    t_uplink: float = math.nan
    t_server: float = math.nan
    e_device: float = math.nan
    e_uplink: float = math.nan
    rho_gap: float = math.nan
    splits: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    split_rho: np.ndarray = field(default_factory=lambda: np.zeros(0))
    split_energy: np.ndarray = field(default_factory=lambda: np.zeros(0))
    split_feasible: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    method: str = "coinfer"
    iterations: int = 0


@dataclass(frozen=True)
class BatchSolution:
    """:func:`solve_batch` results: the fields of :class:`Solution` as arrays over ``N`` gains.

    Arrays of shape ``(N,)``: ``gain``, ``split`` (int, -1 where infeasible with a free split),
    ``rho``, ``power`` (W), ``freq`` (Hz), ``latency`` (s), ``energy`` (J), ``objective``,
    ``feasible`` (bool), ``t_device``, ``t_uplink``, ``t_server`` (s), ``e_device``, ``e_uplink`` (J),
    ``rho_gap``; ``reason`` is a list of ``N`` strings. ``splits`` is ``(K,)`` and ``split_rho``,
    ``split_energy``, ``split_feasible`` are ``(N, K)``.
    """

    gain: np.ndarray
    split: np.ndarray
    rho: np.ndarray
    power: np.ndarray
    freq: np.ndarray
    latency: np.ndarray
    energy: np.ndarray
    objective: np.ndarray
    feasible: np.ndarray
    reason: list
    t_device: np.ndarray
    t_uplink: np.ndarray
    t_server: np.ndarray
    e_device: np.ndarray
    e_uplink: np.ndarray
    rho_gap: np.ndarray
    splits: np.ndarray
    split_rho: np.ndarray
    split_energy: np.ndarray
    split_feasible: np.ndarray

    def __len__(self) -> int:
        return int(self.gain.shape[0])

    def __getitem__(self, i: int) -> Solution:
        """The ``i``-th instance as a :class:`Solution`."""
        return Solution(
            split=int(self.split[i]),
            rho=float(self.rho[i]),
            power=float(self.power[i]),
            freq=float(self.freq[i]),
            latency=float(self.latency[i]),
            energy=float(self.energy[i]),
            objective=float(self.objective[i]),
            feasible=bool(self.feasible[i]),
            reason=self.reason[i],
            t_device=float(self.t_device[i]),
            t_uplink=float(self.t_uplink[i]),
            t_server=float(self.t_server[i]),
            e_device=float(self.e_device[i]),
            e_uplink=float(self.e_uplink[i]),
            rho_gap=float(self.rho_gap[i]),
            splits=self.splits,
            split_rho=self.split_rho[i],
            split_energy=self.split_energy[i],
            split_feasible=self.split_feasible[i],
        )


# --------------------------------------------------------------------------------------------------
# Uplink helpers (overflow-safe)
# --------------------------------------------------------------------------------------------------


def uplink_power(t_uplink, bits, uplink):
    """Power in W that sends ``bits`` in ``t_uplink`` seconds: ``(N0 B / g)(2^(S/(B t)) - 1)``.

    Vectorised; computed as ``expm1(S ln2 / (B t))`` so that it is exact for small exponents and
    ``+inf`` (never an overflow error) for large ones. ``bits = 0`` needs no power; ``t = 0`` with
    ``bits > 0`` needs infinite power.
    """
    t = np.asarray(t_uplink, dtype=float)
    s = np.asarray(bits, dtype=float)
    c = uplink.noise_psd * uplink.bandwidth / uplink.gain
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        x = s * _LN2 / (uplink.bandwidth * t)
        out = c * np.expm1(np.minimum(x, 1e4))  # exp(1e4) is already inf: cap avoids inf*0 cases
    return np.where(s == 0, 0.0, np.where(t > 0, out, np.inf))


def uplink_energy(t_uplink, bits, uplink):
    """Uplink energy in J, ``Eu = t (N0 B / g)(2^(S/(B t)) - 1)``, of sending ``bits`` in ``t`` s.

    Convex and decreasing in ``t``; overflow-safe (returns ``+inf`` instead of overflowing).
    """
    t = np.asarray(t_uplink, dtype=float)
    p = uplink_power(t, bits, uplink)
    with np.errstate(invalid="ignore", over="ignore"):
        e = p * t
    return np.where(np.asarray(bits, dtype=float) == 0, 0.0, np.where(np.isfinite(p), e, np.inf))


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
    """Per-split constants: latency ``aT u + bT`` and energy ``aE u + bE`` come from these.

    Device cycles ``w(u) = wF u + wA``; server seconds ``t_s(u) = sF u + sA``; ``sig = S ln2 / B``
    (so that ``t_u = sig / x`` with ``x = ln(1 + p g / (N0 B))``).
    """

    def __init__(self, scenario: Scenario, splits: np.ndarray):
        prof, dev, srv = scenario.profile, scenario.device, scenario.server
        L = prof.n_blocks
        cw = np.concatenate([[0.0], np.cumsum(prof.weight_flops)])
        ca = np.concatenate([[0.0], np.cumsum(prof.attn_flops)])
        fw_dev = cw[splits] + np.where(splits == L, prof.head_flops, 0.0)
        fa_dev = ca[splits]
        self.wF = fw_dev / dev.flops_per_cycle
        self.wA = fa_dev / dev.flops_per_cycle
        self.sF = ((cw[L] + prof.head_flops) - fw_dev) / srv.flops
        self.sA = (ca[L] - fa_dev) / srv.flops
        bits = prof.feature_bits[splits]
        self.has_up = bits > 0
        self.sig = bits * _LN2 / scenario.uplink.bandwidth

    def take(self, mask):
        out = object.__new__(_Columns)
        for k, v in self.__dict__.items():
            out.__dict__[k] = v[mask]
        return out


class _Curve:
    """The KKT curve of the least-energy problem for splits that send bits (columns) and gains (rows).

    ``at(lam)``, ``lam`` in ``[0, 2]``: on ``[0, 1]`` the uplink exponent ``x`` rises geometrically
    from ``x_lo`` (the uplink alone takes the whole latency budget) to ``x_max`` (full power) with the
    clock at its KKT value ``(c phi(x) / (2 kappa))^(1/3)`` clipped at ``f_max``; on ``[1, 2]`` the
    power stays full and the clock rises linearly to ``f_max``. Returns the point ``(p, f)`` and the
    coefficients of latency ``aT u + bT`` (s) and energy ``aE u + bE`` (J) in ``u = 1 - rho``.
    """

    def __init__(self, scenario: Scenario, cols: _Columns, gains: np.ndarray):
        dev, up, bud = scenario.device, scenario.uplink, scenario.budget
        self.wF, self.wA, self.sF, self.sA, self.sig = cols.wF, cols.wA, cols.sF, cols.sA, cols.sig
        self.T, self.E = bud.latency, bud.energy
        self.kappa, self.f_max = dev.kappa, dev.f_max
        self.u_min = 1.0 - scenario.rho_max
        self.c = (up.noise_psd * up.bandwidth / gains)[:, None]  # W: p = c (e^x - 1)
        self.x_max = np.log1p(dev.p_max / self.c)
        self.x_lo = np.minimum(self.sig / self.T, self.x_max)
        self.log_x = np.log(self.x_max / self.x_lo)
        self.f1 = np.minimum(self.f_max, self._f_kkt(self.x_max))
        self.df = self.f_max - self.f1
        self.shape = np.broadcast_shapes(self.c.shape, self.wF.shape)

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
        """``u_T`` clipped to [0, 2] and ``min(u_E, 1)`` clipped to [0, 1], at ``lam``."""
        _, _, aT, bT, aE, bE = self.at(lam)
        uT = np.minimum(np.maximum((self.T - bT) / np.maximum(aT, _TINY), 0.0), 2.0)
        with np.errstate(invalid="ignore"):
            uE = np.minimum(np.maximum((self.E - bE) / np.maximum(aE, _TINY), 0.0), 1.0)
        return uT, uE


def _search(curve: _Curve, target=None, tol_u=1e-13, tol_lam=1e-15, max_iter=100):
    """Safeguarded regula falsi (Illinois) for the crossing of ``u_T`` and ``min(u_E, 1)`` on the curve.

    ``g(lam) = u_T(lam) - m(lam)`` is nondecreasing; the bracket ``[a, b]`` keeps ``g(a) <= 0 < g(b)``.
    Both ends are feasible points (``u = u_T(a)`` and ``u = m(b)``) and the optimum ``u*`` lies in
    ``[max(u_T(a), m(b)), min(u_T(b), m(a))]``: the search stops elementwise when that interval is
    shorter than ``tol_u``, when its top is below ``u_min`` (infeasible, decided), or when the bracket
    is shorter than ``tol_lam``. With ``target`` (a fixed ``u``), ``m = target`` and the result is the
    first curve point whose latency meets the limit at ``u = target`` (the least-energy point).

    Returns ``(lam, u, gap, uT2, iterations)``: chosen curve parameter, its ``u`` (a feasible point;
    ``-inf`` if none), a certified bound on ``u* - u``, ``u_T`` at full clock and power, and the
    number of iterations.
    """
    shape = curve.shape
    u_min = -np.inf if target is not None else curve.u_min

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
        # At rho = 0 (m = 1) the optimum u is known early; keep going for the least-energy point.
        wide = (upper - lower > tol_u) | ((mb >= 1.0) & (uTb - uTa > tol_u))
        active = (b - a > tol_lam) & wide & (upper >= u_min)
        if not active.any():
            break
        iterations += 1
        width = b - a
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            c = b - gb * width / (gb - ga)
        c = np.where((c > a) & (c < b), c, 0.5 * (a + b))
        uTc, mc = ev(c)
        gc = uTc - mc
        left = active & (gc <= 0)
        right = active & (gc > 0)
        # Illinois: when the same end survives twice, halve its value so the other end moves too.
        gb = np.where(left & (side == -1), 0.5 * gb, gb)
        ga = np.where(right & (side == 1), 0.5 * ga, ga)
        a, uTa, ma, ga = (np.where(left, c, a), np.where(left, uTc, uTa), np.where(left, mc, ma),
                          np.where(left, gc, ga))
        b, uTb, mb, gb = (np.where(right, c, b), np.where(right, uTc, uTb), np.where(right, mc, mb),
                          np.where(right, gc, gb))
        side = np.where(left, -1.0, np.where(right, 1.0, side))
    ga_true, gb_true = uTa - ma, uTb - mb  # ga, gb may have been halved
    if target is not None:
        ok = gb_true >= 0
        u = np.where(ok, target, -np.inf)
        return b, u, np.zeros(shape), uT2, iterations
    cand_a = np.where(ga_true <= 0, uTa, -np.inf)
    cand_b = np.where(gb_true >= 0, mb, -np.inf)
    take_b = cand_b > cand_a
    u = np.where(take_b, cand_b, cand_a)
    lam = np.where(take_b, b, a)
    upper = np.where(a < b, np.minimum(uTb, ma), u)
    gap = np.maximum(upper - u, 0.0)
    return lam, u, gap, uT2, iterations


def _device_only(scenario: Scenario, cols: _Columns, n: int, target=None):
    """Exact optimum for splits that send nothing (``S(s) = 0``, e.g. ``s = L``): only the clock.

    For fixed ``u`` the least energy puts the latency at its limit: ``f = w(u) / (T - t_s(u))``. The
    limits ``f <= f_max`` and ``kappa w^3 / (T - t_s)^2 <= E`` are monotone in ``u``: the first is
    affine (closed form), the second is ``h(u) = w(u)^(3/2) - sqrt(E/kappa) (T - t_s(u)) <= 0`` with
    ``h`` convex increasing (Newton from the right). Returns ``(u, f, gap, u_lat)`` over ``(n, K)``.
    """
    dev, bud = scenario.device, scenario.budget
    T, E = bud.latency, bud.energy
    wF, wA, sF, sA = cols.wF, cols.wA, cols.sF, cols.sA
    # Clock limit: w(u) <= f_max (T - t_s(u)).
    with np.errstate(divide="ignore", invalid="ignore"):
        den = wF + dev.f_max * sF
        room = dev.f_max * (T - sA) - wA  # cycles the clock limit leaves at u = 0
        u_lat = np.where(den > 0, room / den, np.where(room >= 0, np.inf, -np.inf))
    K = math.sqrt(E / dev.kappa) if math.isfinite(E) else math.inf

    def h(u):
        return (wF * u + wA) ** 1.5 + K * (sF * u + sA - T)

    if target is None:
        if math.isinf(K):
            u_en = np.full(wF.shape, np.inf)
        else:
            h0, h1 = h(0.0), h(1.0)
            u = np.ones(wF.shape)
            for _ in range(60):
                hu = h(u)
                dh = 1.5 * wF * np.sqrt(np.maximum(wF * u + wA, 0.0)) + K * sF
                with np.errstate(divide="ignore", invalid="ignore"):
                    step = np.where(dh > 0, hu / dh, 0.0)
                u_new = np.maximum(u - step, 0.0)
                if np.all(np.abs(u_new - u) <= 1e-16 * np.maximum(1.0, np.abs(u))):
                    u = u_new
                    break
                u = u_new
            u_en = np.where(h1 <= 0, np.inf, np.where(h0 > 0, -np.inf, u))
        u = np.minimum(np.minimum(u_lat, u_en), 1.0)
    else:
        u = np.full(wF.shape, float(target))
    # Infeasible entries have u = -inf and s = L has no server work (sF = 0): clip before the
    # products so that sF * u is never 0 * inf = NaN; those entries still get a finite clock.
    u_fin = np.clip(u, 0.0, 1.0)
    w = wF * u_fin + wA
    slack = T - (sF * u_fin + sA)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(w > 0, np.minimum(w / slack, dev.f_max), dev.f_max)
    f = np.where(np.isfinite(f) & (f > 0), f, dev.f_max)
    tile = (n, 1)
    return np.tile(u, tile), np.tile(f, tile), np.zeros((n, wF.shape[0])), np.tile(u_lat, tile)


def kkt_curve(scenario: Scenario, split: int, lam) -> dict:
    """The least-energy (KKT) curve of a split that sends bits, at parameters ``lam`` in ``[0, 2]``.

    Returns a dict of arrays over ``lam``: ``power`` (W), ``freq`` (Hz), ``u_latency`` (the largest
    ``u = 1 - rho`` that meets the latency limit at that point; unclipped) and ``u_energy`` (the same
    for the energy limit). The optimiser finds where the two cross.
    """
    _check_scenario(scenario)
    s = check_int("split", split, 0, scenario.profile.n_blocks)
    lam_arr = check_array("lam", lam, ndim=1, lo=0.0, hi=2.0)
    cols = _Columns(scenario, np.array([s]))
    if not cols.has_up[0]:
        raise ValueError(f"split must send bits (S(s) > 0) for the uplink curve; got split {s}")
    curve = _Curve(scenario, cols, np.array([scenario.uplink.gain]))
    p, f, aT, bT, aE, bE = curve.at(lam_arr[None, :, None][0])
    with np.errstate(divide="ignore", invalid="ignore"):
        uT = (scenario.budget.latency - bT) / aT
        uE = (scenario.budget.energy - bE) / aE
    return dict(lam=lam_arr, power=p[:, 0], freq=f[:, 0], u_latency=uT[:, 0], u_energy=uE[:, 0])


def _check_scenario(scenario):
    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a coinfer.system.Scenario; got {type(scenario).__name__}")
    if not math.isfinite(scenario.budget.latency):
        raise ValueError(
            "budget.latency must be finite, in (0, inf) s, for the optimiser and its references; got "
            "inf. Budget accepts "
            "an infinite latency budget, but with no latency limit the least device energy is only "
            "approached as the clock and the power go to 0, never attained, so there is no optimal "
            "operating point: give a finite (possibly large) latency budget instead"
        )


def _per_split(scenario: Scenario, gains: np.ndarray, splits: np.ndarray, target=None):
    """Per-split optimum over ``(N, K)``: ``u``, power (W), clock (Hz), gap, ``u_T`` at full speed."""
    cols = _Columns(scenario, splits)
    n, k = gains.shape[0], splits.shape[0]
    u = np.empty((n, k))
    p = np.zeros((n, k))
    f = np.empty((n, k))
    gap = np.empty((n, k))
    u_fast = np.empty((n, k))
    iterations = 0
    up = cols.has_up
    if up.any():
        cu = cols.take(up)
        curve = _Curve(scenario, cu, gains)
        lam, uu, gg, uT2, iterations = _search(curve, target)
        pp, ff, *_ = curve.at(lam)
        pp = np.minimum(pp, scenario.device.p_max)  # expm1(log1p(.)) may round one ulp above
        ff = np.where((cu.wF + cu.wA) > 0, ff, scenario.device.f_max)  # s = 0: the clock is idle
        u[:, up], p[:, up], f[:, up], gap[:, up], u_fast[:, up] = uu, pp, ff, gg, uT2
    if not up.all():
        cd = cols.take(~up)
        uu, ff, gg, ul = _device_only(scenario, cd, n, target)
        u[:, ~up], f[:, ~up], gap[:, ~up], u_fast[:, ~up] = uu, ff, gg, ul
    return u, p, f, gap, u_fast, iterations


def _core(scenario: Scenario, gains: np.ndarray, split):
    """Vectorised solve over ``gains`` (N,) and the split range (K,)."""
    splits = split_range(scenario, split)
    u, p, f, gap, u_fast, iterations = _per_split(scenario, gains, splits)
    u_min = 1.0 - scenario.rho_max
    ok = u >= u_min
    rho = np.where(ok, np.clip(1.0 - u, 0.0, scenario.rho_max), np.nan)
    cols = _Columns(scenario, splits)
    uu = 1.0 - np.nan_to_num(rho)
    w = cols.wF * uu + cols.wA
    t_u_e = np.where(cols.has_up, p * _uplink_time(scenario, gains, p, cols.sig), 0.0)
    energy = np.where(ok, scenario.device.kappa * w * f * f + t_u_e, np.nan)
    latency_limited = u_fast < u_min  # infeasible even at f_max, p_max and rho_max
    # Best split: least rho*, ties (within _TIE_RHO) broken by the least device energy.
    rho_key = np.where(ok, rho, np.inf)
    best_rho = rho_key.min(axis=1, keepdims=True)
    tied = ok & (rho_key <= best_rho + _TIE_RHO)
    k = np.argmin(np.where(tied, energy, np.inf), axis=1)
    rows = np.arange(gains.shape[0])
    return dict(
        splits=splits,
        k=k,
        feasible=ok[rows, k],
        rho=rho[rows, k],
        power=p[rows, k],
        freq=f[rows, k],
        gap=gap[rows, k],
        split_rho=rho,
        split_energy=energy,
        split_ok=ok,
        latency_limited=latency_limited,
        iterations=iterations,
    )


def _uplink_time(scenario, gains, p, sig):
    """Uplink seconds ``sig / ln(1 + p g / (N0 B))`` (``sig = S ln2 / B``); inf at zero power."""
    up = scenario.uplink
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.log1p(p * gains[:, None] / (up.noise_psd * up.bandwidth))
        return np.where(sig > 0, sig / x, 0.0)


# --------------------------------------------------------------------------------------------------
# Public solvers
# --------------------------------------------------------------------------------------------------


def _reason(scenario: Scenario, split, latency_limited_row) -> str:
    T, E = scenario.budget.latency, scenario.budget.energy
    where = "every allowed split" if split is None else f"split {split}"
    if np.all(latency_limited_row):
        return (
            f"latency: T_max = {T:.6g} s is exceeded at {where} even at the largest pruning ratio "
            f"rho_max = {scenario.rho_max:.6g}, full clock f_max and full power p_max"
        )
    return (
        f"energy: the least device energy within T_max = {T:.6g} s exceeds E_max = {E:.6g} J at "
        f"{where}, even at rho_max = {scenario.rho_max:.6g}"
    )


def solve_batch(scenario: Scenario, gains, split=None) -> BatchSolution:
    """Solve the joint problem for each channel gain in ``gains``, vectorised.

    Args:
        scenario: the instance; its own ``uplink.gain`` is ignored.
        gains: ``(N,)`` channel power gains ``g`` (linear, > 0).
        split: ``None`` to optimise over ``min_split..L``, or a fixed split point.

    Returns:
        A :class:`BatchSolution` (arrays over the gains). Every feasible point satisfies
        :func:`coinfer.system.evaluate` with relative tolerance 1e-9.
    """
    _check_scenario(scenario)
    g = check_array("gains", gains, ndim=1, lo=0.0, lo_open=True)
    r = _core(scenario, g, split)
    n = g.shape[0]
    ok = r["feasible"]
    s_idx = r["splits"][r["k"]]
    split_out = np.where(ok, s_idx, -1 if split is None else int(r["splits"][0]))
    rho = np.where(ok, r["rho"], np.nan)
    power = np.where(ok, r["power"], np.nan)
    freq = np.where(ok, r["freq"], np.nan)
    nan = np.full(n, np.nan)
    out = dict(t_device=nan.copy(), t_uplink=nan.copy(), t_server=nan.copy(), e_device=nan.copy())
    out.update(e_uplink=nan.copy(), latency=nan.copy(), energy=nan.copy(), objective=nan.copy())
    if np.any(ok):
        sc = scenario
        idx = np.flatnonzero(ok)
        bd = evaluate(sc, s_idx[idx], rho[idx], power[idx], freq[idx], gain=g[idx])
        for name in ("t_device", "t_uplink", "t_server", "e_device", "e_uplink", "latency", "energy"):
            out[name][idx] = getattr(bd, name)
        out["objective"][idx] = scenario.bound(rho[idx])
        if not np.all(bd.feasible):  # a guard: the construction makes every returned point feasible
            raise RuntimeError("internal error: the optimiser produced an infeasible point")
    reasons = [
        "" if ok[i] else _reason(scenario, split, r["latency_limited"][i]) for i in range(n)
    ]
    return BatchSolution(
        gain=g,
        split=split_out.astype(int),
        rho=rho,
        power=power,
        freq=freq,
        feasible=ok.copy(),
        reason=reasons,
        rho_gap=np.where(ok, r["gap"], np.nan),
        splits=r["splits"],
        split_rho=r["split_rho"],
        split_energy=r["split_energy"],
        split_feasible=r["split_ok"],
        **out,
    )


def _solution_from_point(scenario, split, rho, power, freq, method, **extra) -> Solution:
    """A :class:`Solution` at a given point, checked with :func:`evaluate` (rtol 1e-9)."""
    bd = evaluate(scenario, split, rho, power, freq)
    feasible = bool(bd.feasible)
    reason = extra.pop("reason", "")
    if not feasible and not reason:
        parts = []
        if not bool(bd.latency_ok):
            parts.append(f"latency {float(bd.latency):.9g} s > T_max {scenario.budget.latency:.9g} s")
        if not bool(bd.energy_ok):
            parts.append(f"energy {float(bd.energy):.9g} J > E_max {scenario.budget.energy:.9g} J")
        reason = "the returned point violates: " + ("; ".join(parts) or "a box limit")
    return Solution(
        split=int(split),
        rho=float(rho),
        power=float(power),
        freq=float(freq),
        latency=float(bd.latency),
        energy=float(bd.energy),
        objective=float(scenario.bound(rho)),
        feasible=feasible,
        reason=reason,
        t_device=float(bd.t_device),
        t_uplink=float(bd.t_uplink),
        t_server=float(bd.t_server),
        e_device=float(bd.e_device),
        e_uplink=float(bd.e_uplink),
        method=method,
        **extra,
    )


def infeasible_solution(scenario, split, reason, method="coinfer", **extra) -> Solution:
    """A :class:`Solution` flagged infeasible, with NaN for every number."""
    nan = math.nan
    return Solution(
        split=-1 if split is None else int(split),
        rho=nan,
        power=nan,
        freq=nan,
        latency=nan,
        energy=nan,
        objective=nan,
        feasible=False,
        reason=reason,
        method=method,
        **extra,
    )


def solve(scenario: Scenario, split=None) -> Solution:
    """The globally optimal operating point of ``scenario`` (split, pruning ratio, power, clock).

    Optimal means: the smallest feasible ``rho`` (so the least ``Dbar(rho)``), and for that ``rho`` the
    power and clock that spend the least device energy within the latency limit; ties between split
    points at the same ``rho`` go to the least device energy. The returned ``rho`` is within
    ``rho_gap`` (certified, typically below 1e-12) of the true minimum.

    Args:
        scenario: the instance (finite latency budget).
        split: ``None`` to optimise over ``min_split..L``, or an integer split point to fix.

    Returns:
        A :class:`Solution`; ``feasible=False`` with a ``reason`` when no point meets the limits.

    Raises:
        TypeError, ValueError: invalid input (the message names the parameter).
    """
    _check_scenario(scenario)
    g = np.array([scenario.uplink.gain])
    r = _core(scenario, g, split)
    extra = dict(
        splits=r["splits"],
        split_rho=r["split_rho"][0],
        split_energy=r["split_energy"][0],
        split_feasible=r["split_ok"][0],
    )
    if not r["feasible"][0]:
        return infeasible_solution(
            scenario, split, _reason(scenario, split, r["latency_limited"][0]), **extra
        )
    sol = _solution_from_point(
        scenario,
        int(r["splits"][r["k"][0]]),
        float(r["rho"][0]),
        float(r["power"][0]),
        float(r["freq"][0]),
        "coinfer",
        rho_gap=float(r["gap"][0]),
        iterations=int(r["iterations"]),
        **extra,
    )
    if not sol.feasible:  # a guard: the construction makes every returned point feasible
        raise RuntimeError(f"internal error: the optimiser produced an infeasible point: {sol}")
    return sol


def least_energy(scenario: Scenario, split: int, rho: float) -> Solution:
    """The least-energy operating point at a fixed split and pruning ratio (the inner problem).

    Minimises ``Ed + Eu`` over ``(p, f)`` in the box subject to ``Td + Tu + Ts <= T_max`` (a convex
    problem in the time shares). The result is ``feasible`` only if that least energy is also within
    ``E_max``; otherwise ``feasible=False`` and the point is still reported when the latency can be
    met (the ``reason`` names the energy limit), with NaN when even the latency cannot be met.
    """
    _check_scenario(scenario)
    L = scenario.profile.n_blocks
    s = check_int("split", split, scenario.min_split, L)
    r = check_real("rho", rho, 0.0, scenario.rho_max)
    gain = np.array([scenario.uplink.gain])
    u, p, f, _, u_fast, _ = _per_split(scenario, gain, np.array([s]), 1.0 - r)
    if not u_fast[0, 0] >= 1.0 - r:
        return infeasible_solution(
            scenario,
            s,
            f"latency: T_max = {scenario.budget.latency:.6g} s is exceeded at split {s} and "
            f"rho = {r:.6g} even at full clock f_max and full power p_max",
        )
    sol = _solution_from_point(scenario, s, r, float(p[0, 0]), float(f[0, 0]), "coinfer")
    if not sol.feasible and not bool(sol.latency <= scenario.budget.latency * (1 + 1e-9)):
        raise RuntimeError(f"internal error: the least-energy point violates the latency: {sol}")
    if not sol.feasible:
        reason = (
            f"energy: the least device energy {sol.energy:.9g} J at split {s} and rho = {r:.6g} "
            f"exceeds E_max = {scenario.budget.energy:.6g} J"
        )
        sol = Solution(**{**sol.__dict__, "reason": reason})
    return sol
