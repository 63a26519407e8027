"""Fairness with a certificate: the least level every device can reach, bracketed to a tolerance.

For a level ``z`` each device ``k`` may prune up to ``r_k(z)``, the largest ratio whose objective is
at most ``z`` (per pruning kind), and needs, for each band share ``b``, a server share of at least
``n_k(b; z)`` FLOP/s (:func:`coinfer.optimize.least_server_flops`; ``0`` for every ``b`` when the
device alone meets its budgets at ``r_k(z)``). ``n_k`` is non-increasing in ``b`` and in ``z``.
Level ``z`` is reachable if and only if some bands with ``sum b_k <= B`` have
``sum n_k(b_k; z) <= Phi``.

On the band grid ``b_i = i B / U`` (``U`` band units) that question has two exact knapsack versions
(:func:`min_total`, a dynamic programme over the band units), with ``i+ = min(i + 1, U)``:

* *achievable*: bands on the grid, ``sum_k n_k(b_{i_k}) <= Phi`` with ``sum i_k <= U``. A yes is a
  division that reaches ``z``;
* *relaxed*: ``sum_k n_k(b_{i_k+}) <= Phi`` with ``sum i_k <= U``. A no proves that no division at
  all reaches ``z``: any bands ``b_k`` round down to grid units ``i_k`` with ``sum i_k <= U``, and
  ``b_k <= b_{i_k+}``, so ``n_k(b_k) >= n_k(b_{i_k+})``.

Both verdicts are monotone in ``z``, so bisection gives the least achievable level ``z_up`` and a
level ``z_lo`` below which nothing is reachable: the optimum lies in ``[z_lo, z_up]``. The grid is
refined (8 times as many units) until the bracket is within the tolerance. Proved in the book
chapter "Many devices, one server". Everything holds up to floating-point rounding: the needs are
computed by bisection (their two sides are used on the safe side of each test), and
:func:`level_ratio` returns the largest float whose objective is within ``z`` (the next float, a
relative ``1e-16`` away, is not).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..optimize import least_server_flops, solve_batch
from ..system.costs import pruning_kinds
from ..validation import check_int, check_real
from .model import Network
from .tables import group_devices

__all__ = [
    "FairDivision",
    "alone_values",
    "level_ratio",
    "needs",
    "min_total",
    "fair_division",
]

_BISECT = 64  # bisection steps on a pruning ratio
#: Relative margin on the server shares handed out, above the computed needs (their rounding).
MARGIN = 1e-9


def level_ratio(scenario, kind: str, z: float) -> float | None:
    """The largest pruning ratio in ``[0, rho_max]`` whose objective (of ``kind``) is at most ``z``.

    ``None`` when even ``rho = 0`` exceeds ``z``. By bisection (64 steps), returning the end whose
    objective is within ``z``.
    """

    def value(r):
        return float(np.asarray(scenario.objective(np.array([r]), pruning=kind), float)[0])

    if value(0.0) > z:
        return None
    hi = scenario.rho_max
    if value(hi) <= z:
        return hi
    lo = 0.0
    for _ in range(_BISECT):
        mid = 0.5 * (lo + hi)
        if value(mid) <= z:
            lo = mid
        else:
            hi = mid
    return lo


def needs(network: Network, z: float, bands: np.ndarray, groups=None):
    """Least server shares ``(upper, lower)``, each ``(K, M)`` FLOP/s, at level ``z`` and ``bands`` (Hz).

    ``upper`` suffices (to rounding); nothing below ``lower`` does (see
    :func:`coinfer.optimize.least_server_flops`). ``groups`` is ``group_devices(network.devices)``.
    """
    bases, group, gains = group_devices(network.devices) if groups is None else groups
    k, m = network.size, bands.shape[0]
    upper, lower = np.empty((k, m)), np.empty((k, m))
    for gi, base in enumerate(bases):
        members = np.flatnonzero(group == gi)
        rho = {kind: level_ratio(base, kind, z) for kind in pruning_kinds(base)}
        up, lo = least_server_flops(base, gains[members], bands, rho)
        upper[members], lower[members] = up, lo
    return upper, lower


def min_total(need: np.ndarray) -> tuple[float, np.ndarray]:
    """Least ``sum_k need[k, i_k]`` over units ``i_k >= 0`` with ``sum_k i_k <= M`` (exact).

    ``need`` is ``(K, M + 1)`` (``+inf`` allowed). A dynamic programme over the devices on
    ``acc[t]``, the least total of the devices so far with at most ``t`` units: ``O(K M^2)``, the
    last device ``O(M)`` (only ``t = M`` is needed). Returns the least total and the units of each
    device (``(K,)`` ints).
    """
    k, m1 = need.shape
    m = m1 - 1
    units = np.arange(m1)
    first = np.minimum.accumulate(need[0])
    # with at most t units the first device takes the first index of its least need up to t
    best_at = np.zeros(m1, dtype=np.int64)
    for t in range(1, m1):
        best_at[t] = t if need[0][t] < need[0][best_at[t - 1]] else best_at[t - 1]
    acc = first
    choice = np.zeros((k, m1), dtype=np.int64)
    if k > 2:
        rest = units[:, None] - units[None, :]  # (total, own): units left for the devices before
        valid = rest >= 0
        rest = np.where(valid, rest, 0)
    with np.errstate(invalid="ignore"):
        for j in range(1, k - 1):
            cand = np.where(valid, acc[rest] + need[j][None, :], np.inf)
            choice[j] = np.argmin(cand, axis=1)
            acc = cand[units, choice[j]]
        out = np.zeros(k, dtype=np.int64)
        if k == 1:
            out[0] = best_at[m]
            return float(first[m]), out
        last = acc[m - units] + need[k - 1]
        out[k - 1] = int(np.argmin(last))
        best = float(last[out[k - 1]])
    total = m - out[k - 1]
    for j in range(k - 2, 0, -1):
        out[j] = choice[j, total]
        total -= out[j]
    out[0] = best_at[total]
    return best, out


def alone_values(network: Network, groups=None) -> tuple[np.ndarray, np.ndarray]:
    """Each device with the whole band and the whole server: ``(lower, reached)``, both ``(K,)``.

    ``reached`` is the objective of the single-device solution, ``lower`` the objective at
    ``rho - rho_gap`` (its certificate): no division does better for that device than ``lower``.
    Both are ``inf`` when even the whole band and server cannot serve the device.
    """
    bases, group, gains = group_devices(network.devices) if groups is None else groups
    lower, reached = np.empty(network.size), np.empty(network.size)
    B, Phi = network.bandwidth, network.server_flops
    for gi, base in enumerate(bases):
        members = np.flatnonzero(group == gi)
        sol = solve_batch(base.replace(bandwidth=B, flops=Phi), gains[members])
        rows = zip(sol.rho, sol.rho_gap, sol.pruning, sol.feasible, strict=True)
        for k, (r, gap, kd, ok) in zip(members, rows, strict=True):
            # the solver's rho exceeds the least feasible ratio by at most rho_gap: bound below it
            lower[k] = float(base.objective(max(r - gap, 0.0), pruning=kd)) if ok else math.inf
            reached[k] = float(base.objective(r, pruning=kd)) if ok else math.inf
    return lower, reached


@dataclass(frozen=True)
class FairDivision:
    """The result of :func:`fair_division`.

    Attributes:
        feasible: whether some division serves every device (``False`` is proved).
        level: ``z_up``, a level the division reaches (every device's objective at most this).
        lower_bound: ``z_lo``: no division reaches a level below it.
        bandwidth, server_flops: ``(K,)`` shares in Hz and FLOP/s reaching ``level`` (NaN if
            infeasible).
        units: band grid points ``M`` of the last grid; levels: levels tested.
        decided: ``False`` when the largest grid still neither found nor excluded a division.
    """

    feasible: bool
    level: float
    lower_bound: float
    bandwidth: np.ndarray
    server_flops: np.ndarray
    units: int
    levels: int
    decided: bool = True


def fair_division(
    network: Network,
    *,
    units: int | None = None,
    max_units: int = 2048,
    tol: float = 1e-4,
) -> FairDivision:
    """The least common level ``z`` every device can reach, certified within ``tol``.

    Args:
        network: the network (its ``objective`` field is not used).
        units: first band grid ``M`` (default ``max_units / 8``); multiplied by 8 while the bracket is
            wider than ``tol`` (relative) and ``M < max_units``.
        max_units: the largest band grid.
        tol: relative width of the bracket ``[z_lo, z_up]`` at which to stop.

    Returns:
        A :class:`FairDivision`.
    """
    if not isinstance(network, Network):
        raise ValueError(f"network must be a Network; got {type(network).__name__}")
    tol = check_real("tol", tol, 0.0, 1.0, lo_open=True)
    max_units = check_int("max_units", max_units, 2, 1_000_000)
    m = max(2, max_units // 8) if units is None else check_int("units", units, 2, max_units)
    m = min(m, max_units)
    groups = group_devices(network.devices)
    bases, group, _ = groups
    B, Phi = network.bandwidth, network.server_flops
    alone, reached = alone_values(network, groups)
    top = np.array(
        [
            max(float(sc.objective(sc.rho_max, pruning=kd)) for kd in pruning_kinds(sc))
            for sc in bases
        ]
    )[group]
    z_lo = float(alone.max())
    z_hi = float(max(top.max(), z_lo))
    nan = np.full(network.size, np.nan)
    if not math.isfinite(z_lo):
        return FairDivision(False, math.nan, math.inf, nan, nan, m, 0)
    levels = 0

    def test(z, m):
        nonlocal levels
        levels += 1
        bands = B * np.arange(m + 1) / m
        up, dn = needs(network, z, bands, groups)
        busy = up[:, 0] > 0  # devices that cannot reach z alone
        ok_up, alloc = True, np.zeros(network.size, dtype=np.int64)
        ok_dn = True
        if busy.any():
            total, units_busy = min_total(up[busy])
            ok_up = total * (1.0 + MARGIN) <= Phi  # room for the margin below
            alloc[busy] = units_busy
            shifted = np.concatenate([dn[busy][:, 1:], dn[busy][:, -1:]], axis=1)
            ok_dn = min_total(shifted)[0] <= Phi
        return ok_up, ok_dn, alloc, up

    # the least level that is possible at all (to the solver's certificate): when every device
    # can reach its value alone at once, that is the optimum
    z_reached = float(reached.max())
    ok_up, _, alloc, up = test(z_reached, m)
    if ok_up:
        return _division(network, z_reached, z_lo, alloc, up, m, levels)
    # bisections stop at a relative width tol / 4 (absolute below a millionth of the top level), so
    # that the bracket can close to tol
    floor = 1e-6 * max(abs(z_hi), 1e-300)

    def wide(a, b):
        return b - a > 0.25 * tol * max(abs(b), floor)

    # the top level (every device at its largest ratio), refining the grid while undecided
    while True:
        ok_up, ok_dn, alloc, up = test(z_hi, m)
        if not ok_dn:  # even every device at its largest ratio cannot be served: proved
            return FairDivision(False, math.nan, math.inf, nan, nan, m, levels)
        if ok_up:
            z_up, best = z_hi, (alloc, up, m)
            break
        if m >= max_units:  # neither found nor excluded on the largest grid
            return FairDivision(False, math.nan, z_lo, nan, nan, m, levels, decided=False)
        m = min(8 * m, max_units)
    while True:
        # the least achievable level on this grid (bisection on the achievable test) ...
        a, b = z_lo, z_up
        while wide(a, b):
            mid = 0.5 * (a + b)
            ok_up, ok_dn, alloc, up = test(mid, m)
            if ok_up:
                b, z_up, best = mid, mid, (alloc, up, m)
            else:
                a = mid
                if not ok_dn:
                    z_lo = max(z_lo, mid)
        # ... then the largest level the relaxed test excludes
        a, b = z_lo, z_up
        while wide(a, b):
            mid = 0.5 * (a + b)
            if test(mid, m)[1]:
                b = mid
            else:
                a = z_lo = mid
        if z_up - z_lo <= tol * max(abs(z_up), floor) or m >= max_units:
            break
        m = min(8 * m, max_units)
    alloc, up, m_best = best
    return _division(network, z_up, z_lo, alloc, up, m_best, levels)


def _division(network, z_up, z_lo, alloc, up, m, levels) -> FairDivision:
    """The division of the achievable knapsack at level ``z_up`` on a grid of ``m`` band units."""
    bands = network.bandwidth * alloc / m
    server = np.where(alloc > 0, up[np.arange(network.size), alloc], 0.0)
    server = np.where(np.isfinite(server), server * (1.0 + MARGIN), 0.0)
    return FairDivision(True, float(z_up), float(z_lo), bands, server, m, levels)
