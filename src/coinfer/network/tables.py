"""Per-device tables of the least pruning ratio over a grid of (bandwidth, server) shares.

For device ``k`` and shares ``(b, Phi)`` let ``rho_k(b, Phi)`` be the single-device optimum
(:func:`coinfer.optimize.solve_batch` on ``scenario.replace(bandwidth=b, flops=Phi)``; ``+inf`` when
no point meets the budgets). It is non-increasing in ``b``, in ``Phi`` and in the channel gain ``g``:
an operating point feasible with less stays feasible with more (a wider band carries more bits at
the same power, a faster server share finishes sooner, a stronger channel needs less power).

Devices whose scenarios differ only in the channel gain form a *group* and are solved together,
vectorised over gains. A group with many devices is solved at ``n_nodes`` gain nodes (log-spaced
over its gains, ends included) instead of every gain; by monotonicity in ``g``, a device between two
nodes is bracketed by the node below (a conservative table: achievable) and the node above (an
optimistic table: a bound).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import numpy as np

from ..cache import canonical
from ..optimize import solve_batch
from ..system import Scenario, rate

__all__ = ["share_grid", "group_devices", "least_useful_shares", "Tables", "build_tables"]


def share_grid(n_devices: int, n_shares: int, lo: float | None = None) -> np.ndarray:
    """Share fractions: ``0``, then ``n_shares`` points in ``(0, 1]``, ``1`` included.

    Dimensionless; multiply by ``B`` (Hz) or ``Phi`` (FLOP/s). The points are log-spaced from
    ``lo`` (default ``min(0.05, 0.2 / K)``, so the typical share ``1/K`` sits well inside the grid); for
    ``K <= 4`` half of them are log-spaced up to 1/2 and the other half are their complements
    ``1 - x``, so that a share and the rest of the total are both grid points.
    """
    lo = min(0.05, 0.2 / n_devices) if lo is None else lo
    if n_devices > 4:
        return np.concatenate([[0.0], np.geomspace(lo, 1.0, n_shares)])
    half = np.geomspace(lo, 0.5, (n_shares + 1) // 2)
    pts = np.unique(np.concatenate([half, 1.0 - half[: n_shares - half.size], [1.0]]))
    return np.concatenate([[0.0], pts])


def _key(sc: Scenario, memo: dict) -> str:
    """A key equal for scenarios that differ only in the channel gain (profiles keyed once by id)."""
    pid = id(sc.profile)
    if pid not in memo:
        memo[pid] = json.dumps(canonical(sc.profile), sort_keys=True)
    rest = {f.name: getattr(sc, f.name) for f in dataclasses.fields(sc) if f.name != "profile"}
    rest["uplink"] = dataclasses.replace(sc.uplink, gain=1.0)
    return memo[pid] + json.dumps(canonical(rest), sort_keys=True)


def group_devices(devices) -> tuple[list[Scenario], np.ndarray, np.ndarray]:
    """Groups of devices that differ only in gain: ``(bases, group index (K,), gains (K,))``."""
    memo: dict = {}
    keys: dict[str, int] = {}
    bases: list[Scenario] = []
    group = np.empty(len(devices), dtype=int)
    for k, sc in enumerate(devices):
        key = _key(sc, memo)
        if key not in keys:
            keys[key] = len(bases)
            bases.append(sc)
        group[k] = keys[key]
    gains = np.array([sc.uplink.gain for sc in devices], dtype=float)
    return bases, group, gains


def least_useful_shares(base: Scenario, gains: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Below these shares a device cannot offload at all: ``(b_need (Hz), phi_need (FLOP/s))``.

    Any split ``s < L`` sends at least ``S_min = min_{s<L} S(s)`` bits within ``T_max`` at power at
    most ``p_max``, so it needs a band ``b`` with ``b log2(1 + p_max g / (N0 b)) >= S_min / T_max``
    (the rate rises with ``b``; found by bisection, to a relative 1e-12, rounded down), and, when the
    server has work, a server share of at least ``min_{s<L} W_s(rho_max, s) / T_max``. With less
    band or less server only the whole model on the device (``s = L``) remains.
    """
    prof, dev, up, bud = base.profile, base.device, base.uplink, base.budget
    splits = np.arange(base.min_split, prof.n_blocks)
    g = np.asarray(gains, dtype=float)
    if splits.size == 0:
        return np.full(g.shape, np.inf), np.full(g.shape, np.inf)
    bits = float(prof.bits(splits).min())
    work = float(np.min(prof.server_flops(base.rho_max, splits)))
    phi_need = np.full(g.shape, work / bud.latency)
    if bits == 0:
        return np.zeros(g.shape), phi_need
    target = bits / bud.latency  # bit/s
    # rate(b) = (b / B0) rate_B0(p_max, g B0 / b): the rate formula of coinfer.system.rate, at B0
    b0 = up.bandwidth

    def rate_at(b):
        return rate(dev.p_max, up, gain=g * b0 / b) * (b / b0)

    lo = np.zeros(g.shape)
    hi = np.full(g.shape, b0)
    while np.any(rate_at(hi) < target):  # the rate grows without bound only up to p g / (N0 ln 2)
        grow = rate_at(hi) < target
        hi = np.where(grow, hi * 4.0, hi)
        if np.any(hi > 1e18):
            hi = np.where(rate_at(hi) < target, np.inf, hi)
            break
    finite = np.isfinite(hi)
    h = np.where(finite, hi, 1.0)
    for _ in range(200):
        mid = 0.5 * (lo + h)
        ok = rate_at(np.maximum(mid, 1e-300)) >= target
        h = np.where(ok, mid, h)
        lo = np.where(ok, lo, mid)
        if np.all(h - lo <= 1e-12 * h):
            break
    return np.where(finite, lo, np.inf), phi_need


@dataclass(frozen=True)
class Tables:
    """Conservative and optimistic objective tables of every device over the share grid.

    Attributes:
        b: bandwidth grid, Hz, ``(M+1,)``, ``b[0] = 0``, ``b[M] = B``.
        phi: server grid, FLOP/s, ``(M+1,)``, ``phi[0] = 0``, ``phi[M] = Phi``.
        upper: ``(K, M+1, M+1)`` objective ``Dbar_k(rho_k(b_i, phi_j))`` at the gain node at or
            below ``g_k`` (``+inf`` where infeasible): achievable with shares ``(b_i, phi_j)``.
        lower: ``(K, M+1, M+1)`` a lower bound on the objective of any shares in the cell
            ``[b_i, b_{i+1}) x [phi_j, phi_{j+1})`` (the top cell is the single point ``B`` or ``Phi``).
        exact_gains: whether every device was solved at its own gain (no gain bracketing).
        bases, group, gains: the groups (see :func:`group_devices`).
    """

    b: np.ndarray
    phi: np.ndarray
    upper: np.ndarray
    lower: np.ndarray
    exact_gains: bool
    bases: list
    group: np.ndarray
    gains: np.ndarray


def _table(base: Scenario, nodes: np.ndarray, b: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """``rho(b_i, phi_j)`` at each gain node, ``(n_nodes, M+1, M+1)``, ``+inf`` where infeasible."""
    m = b.shape[0]
    out = np.empty((nodes.shape[0], m, m))
    on_device = solve_batch(base, nodes, split=base.profile.n_blocks)
    out[:, :, :] = np.where(on_device.feasible, on_device.rho, np.inf)[:, None, None]
    for i in range(1, m):
        for j in range(1, m):
            sol = solve_batch(base.replace(bandwidth=float(b[i]), flops=float(phi[j])), nodes)
            out[:, i, j] = np.where(sol.feasible, sol.rho, np.inf)
    # more of either share never hurts (the same point stays feasible): enforce it against rounding
    out = np.minimum.accumulate(np.minimum.accumulate(out, axis=1), axis=2)
    return out


def build_tables(network, n_shares: int = 12, n_nodes: int = 32) -> Tables:
    """The objective tables of every device of ``network`` (see :class:`Tables`).

    Args:
        network: a :class:`~coinfer.network.Network`.
        n_shares: ``M``, positive grid points per share (plus the zero share).
        n_nodes: gain nodes per group when the group has more distinct gains than this.
    """
    bases, group, gains = group_devices(network.devices)
    needs = [least_useful_shares(base, gains[group == gi]) for gi, base in enumerate(bases)]
    least = min(
        float(min(np.min(bn) / network.bandwidth, np.min(pn) / network.server_flops))
        for bn, pn in needs
    )
    # the grid starts at the least useful share (so that the cells below it are exact), within
    # [1e-4, min(0.05, 0.2 / K)]
    lo = float(np.clip(least, 1e-4, min(0.05, 0.2 / network.size)))
    frac = share_grid(network.size, n_shares, lo)
    n_shares = frac.size - 1
    b, phi = network.bandwidth * frac, network.server_flops * frac
    b[-1], phi[-1] = network.bandwidth, network.server_flops
    k = len(network.devices)
    m = b.shape[0]
    upper = np.empty((k, m, m))
    lower = np.empty((k, m, m))
    exact = True
    shift = np.minimum(np.arange(m) + 1, m - 1)  # the next grid point up (the top cell is a point)
    for gi, base in enumerate(bases):
        members = np.flatnonzero(group == gi)
        g = gains[members]
        distinct = np.unique(g)
        if distinct.shape[0] <= n_nodes:
            nodes = distinct
        else:
            exact = False
            nodes = np.geomspace(distinct[0], distinct[-1], n_nodes)
            nodes[0], nodes[-1] = distinct[0], distinct[-1]
        rho = _table(base, nodes, b, phi)
        below = np.clip(np.searchsorted(nodes, g, side="right") - 1, 0, nodes.shape[0] - 1)
        above = np.clip(np.searchsorted(nodes, g, side="left"), 0, nodes.shape[0] - 1)
        with np.errstate(invalid="ignore"):
            dbar = np.where(
                np.isfinite(rho), base.objective(np.nan_to_num(rho, posinf=0.0)), np.inf
            )
        upper[members] = dbar[below]
        low = dbar[above][:, shift][:, :, shift]
        # a cell whose upper edge is below the least useful share holds only the on-device option
        b_need, phi_need = needs[gi]
        useless = (b[shift][None, :, None] <= b_need[:, None, None]) | (
            phi[shift][None, None, :] <= phi_need[:, None, None]
        )
        on_device = dbar[above][:, 0, 0]
        lower[members] = np.where(useless, on_device[:, None, None], low)
    return Tables(b, phi, upper, lower, exact, bases, group, gains)
