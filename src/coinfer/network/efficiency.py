"""Efficiency with a certificate: the least sum of the devices' objectives, by a priced knapsack.

Each device ``k`` picks a band unit ``i`` (band ``b_i = i B / M``) and an objective level ``z_j`` from a
common grid of levels; at that level it needs the server share ``n_k(b_i; z_j)``
(:func:`coinfer.network.fairness.needs`). Pricing the server at ``nu`` (objective units per FLOP/s)
leaves one knapsack over band units, solved exactly by :func:`coinfer.network.fairness.min_total`:

* *achievable*: cost ``z_j + nu n_k(b_i; z_j)``. At a price where the chosen needs fit within
  ``Phi``, the choice is a division whose sum of objectives is at most ``sum_k z_{j_k}``;
* *relaxed*: cost ``z_j + nu n_k(b_{i+1}; z_{j+1})``. For every ``nu >= 0`` its least total minus
  ``nu Phi`` is a lower bound on the sum of every division: a device with band ``b`` in
  ``[b_i, b_{i+1})`` and objective ``v`` in ``[z_j, z_{j+1})`` has ``v >= z_j`` and needs at least
  ``n_k(b_{i+1}; z_{j+1})`` (needs fall with the band and with the level), and weak duality prices
  the server constraint.

The gap between the two has three sources, each reported together in the bracket: the band grid,
the level grid and the duality gap of the non-convex knapsack. Proved in the book chapter "Many
devices, one server".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..system.costs import pruning_kinds
from ..validation import check_int
from .fairness import MARGIN, alone_values, min_total, needs
from .model import Network
from .tables import group_devices

__all__ = ["EfficientDivision", "efficient_division"]

_PRICE_STEPS = 48  # bisection steps on the log of the server price


@dataclass(frozen=True)
class EfficientDivision:
    """The result of :func:`efficient_division`.

    Attributes:
        feasible: whether a division serving every device was found.
        value: ``sum_k z_{j_k}`` of the division found (an upper bound on its sum of objectives).
        lower_bound: no division has a smaller sum of objectives.
        bandwidth, server_flops: ``(K,)`` shares in Hz and FLOP/s (NaN if none found).
        units, levels: band grid ``M`` and number of objective levels.
    """

    feasible: bool
    value: float
    lower_bound: float
    bandwidth: np.ndarray
    server_flops: np.ndarray
    units: int
    levels: int


def efficient_division(
    network: Network, *, units: int = 256, levels: int = 48, lowest=None
) -> EfficientDivision:
    """A division of least summed objective on the grids, and a certified lower bound.

    Args:
        network: the network (its ``objective`` field is not used).
        units: band grid ``M``.
        levels: at most this many objective levels: each model's objective at evenly spaced
            pruning ratios, between the least value any device reaches with the whole band and
            server and the largest value at ``rho_max`` (both included).
        lowest: ``(K,)`` each device's least objective with the whole band and server (computed if
            None); the level grid starts at its minimum.
    """
    if not isinstance(network, Network):
        raise ValueError(f"network must be a Network; got {type(network).__name__}")
    m = check_int("units", units, 2, 100_000)
    n_levels = check_int("levels", levels, 2, 10_000)
    k = network.size
    groups = group_devices(network.devices)
    bases, group, _ = groups
    top = max(
        float(base.objective(base.rho_max, pruning=kd))
        for base in bases
        for kd in pruning_kinds(base)
    )
    if lowest is None:
        lowest = alone_values(network, groups)[0]
    # levels where the objectives change: each model's objective at evenly spaced ratios (so small
    # values are as finely resolved as large ones), within [least reachable value, top]
    z_min = float(np.min(lowest))
    marks = [
        np.asarray(base.objective(np.linspace(0.0, base.rho_max, n_levels), pruning=kd), float)
        for base in bases
        for kd in pruning_kinds(base)
    ]
    z = np.unique(np.concatenate([[z_min, top], *marks]))
    z = z[(z >= z_min) & (z <= top)]
    if z.size > n_levels:
        z = z[np.unique(np.linspace(0, z.size - 1, n_levels).round().astype(int))]
    n_levels = z.size
    bands = network.bandwidth * np.arange(m + 1) / m
    up = np.empty((n_levels, k, m + 1))
    dn = np.empty((n_levels, k, m + 1))
    for j, level in enumerate(z):
        up[j], dn[j] = needs(network, float(level), bands, groups)
    # relaxed needs: next band unit and next level (the last of each stays)
    dn_next = np.concatenate([dn[1:], dn[-1:]], axis=0)
    dn_next = np.concatenate([dn_next[:, :, 1:], dn_next[:, :, -1:]], axis=2)
    zc = z[:, None, None]
    Phi = network.server_flops

    def priced(table, nu):
        with np.errstate(invalid="ignore"):  # 0 * inf at nu = 0: masked
            cost = np.where(np.isfinite(table), zc + nu * table, np.inf)  # (J, K, M+1)
        j = np.argmin(cost, axis=0)  # (K, M+1): best level per device and band unit
        return np.take_along_axis(cost, j[None], axis=0)[0], j

    nan = np.full(k, np.nan)
    best = (math.inf, None)
    lower = -math.inf
    scale = float(np.nanmax(np.where(np.isfinite(up), up, np.nan), initial=0.0))
    nu_lo = 1e-9 * (top - z[0] + 1e-300) / max(scale, 1e-300)  # a price that barely matters

    def visit(nu):
        nonlocal best, lower
        cost_up, j_up = priced(up, nu)
        total, alloc = min_total(cost_up)
        served = math.isfinite(total)
        rows = np.arange(k)
        use = float(np.sum(up[j_up[rows, alloc], rows, alloc])) if served else math.inf
        value = float(np.sum(z[j_up[rows, alloc]])) if served else math.inf
        if served and use * (1.0 + MARGIN) <= Phi and value < best[0]:
            best = (value, (alloc, j_up[rows, alloc]))
        cost_dn, _ = priced(dn_next, nu)
        lower = max(lower, min_total(cost_dn)[0] - nu * Phi)
        return use

    # the price from free to prohibitive; then bisection on its log for the least one that fits
    if visit(0.0) > Phi:
        lo, hi = math.log(max(nu_lo, 1e-300)), math.log(max(nu_lo, 1e-300)) + 80.0
        if visit(math.exp(hi)) <= Phi:
            for _ in range(_PRICE_STEPS):
                mid = 0.5 * (lo + hi)
                if visit(math.exp(mid)) <= Phi:
                    hi = mid
                else:
                    lo = mid
    value, choice = best
    if choice is None:
        return EfficientDivision(False, math.nan, lower, nan, nan, m, n_levels)
    alloc, j = choice
    bandwidth = network.bandwidth * alloc / m
    server = up[j, np.arange(k), alloc]
    server = np.where(np.isfinite(server), server * (1.0 + MARGIN), 0.0)
    return EfficientDivision(True, value, float(lower), bandwidth, server, m, n_levels)
