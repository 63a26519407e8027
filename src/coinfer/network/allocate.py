"""Dividing the band and the server over a share grid: fairness by a level search, efficiency by a
Lagrangian dual. Both work on objective tables ``D[k, i, j]`` (device ``k`` with shares
``(b_i, phi_j)``; non-increasing in ``i`` and ``j``; ``+inf`` where infeasible).

Certificates (proved in the book chapter "Many devices, one server"):

* :func:`cover` decides whether shares on the grid can bring every device to a level ``z``. It prices
  the server at ``nu`` (Hz per FLOP/s): each device takes the cell that minimises
  ``b + nu phi`` among the cells that reach ``z``. A price at which the server is not over-used and
  the band is not over-used is a *feasible* division; a price at which the Lagrangian dual exceeds
  ``B`` *proves* that no division exists (weak duality). Between the two the test is undecided.
* :func:`sum_dual` maximises the Lagrangian dual of the sum objective over two prices (band, server)
  by nested bisection; the dual value is a lower bound, and the best division met on the way that
  respects both totals is an achievable upper bound.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FEASIBLE", "INFEASIBLE", "UNDECIDED", "cover", "level_search", "sum_dual"]

#: The outcomes of :func:`cover` (a division found, none exists on the grid, or neither shown).
FEASIBLE, INFEASIBLE, UNDECIDED = 1, -1, 0
_STEPS = 60


def _need(table: np.ndarray, b: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Least band index and band (Hz) each device needs at each server cell to reach level ``z``."""
    idx = np.sum(table > z, axis=1)  # (K, M+1): the table is non-increasing in the band index
    b_ext = np.concatenate([b, [np.inf]])
    return idx, b_ext[idx]


def cover(table, b, phi, bandwidth, server, z, counts=None):
    """Whether grid shares bring every device to objective ``<= z``.

    ``counts[k]`` (default 1) is how many devices share table row ``k`` (identical devices are
    tabulated once).

    Returns ``(status, i, j)``: ``status`` is ``FEASIBLE`` (then ``(b[i], phi[j])`` is a division
    within both totals), ``INFEASIBLE`` (a dual certificate: no division on the grid exists) or
    ``UNDECIDED``.
    """
    idx, need = _need(table, b, z)
    k = table.shape[0]
    w = np.ones(k) if counts is None else np.asarray(counts, dtype=float)
    rows = np.arange(k)
    if not np.all(np.isfinite(need).any(axis=1)):
        return INFEASIBLE, None, None

    def pick(nu):
        cost = need + nu * phi[None, :]
        j = np.argmin(cost, axis=1)
        return j, float(w @ cost[rows, j])

    def used(j):
        return float(w @ phi[j]), float(w @ need[rows, j])

    scale = bandwidth / server
    best_dual = -np.inf
    j0, c0 = pick(0.0)
    best_dual = max(best_dual, c0)
    s_phi, s_b = used(j0)
    if s_phi <= server:
        return (FEASIBLE, idx[rows, j0], j0) if s_b <= bandwidth else (INFEASIBLE, None, None)
    lo, hi = np.log(scale * 1e-12), np.log(scale * 1e12)
    j_hi, c_hi = pick(np.exp(hi))
    best_dual = max(best_dual, c_hi - np.exp(hi) * server)
    if used(j_hi)[0] > server:
        return INFEASIBLE, None, None  # the least server use already exceeds the total
    feasible_j = j_hi
    for _ in range(_STEPS):
        mid = 0.5 * (lo + hi)
        nu = np.exp(mid)
        j, c = pick(nu)
        best_dual = max(best_dual, c - nu * server)
        if used(j)[0] <= server:
            hi, feasible_j = mid, j
        else:
            lo = mid
    if used(feasible_j)[1] <= bandwidth:
        return FEASIBLE, idx[rows, feasible_j], feasible_j
    if best_dual > bandwidth * (1.0 + 1e-12):
        return INFEASIBLE, None, None
    return UNDECIDED, None, None


def level_search(table, b, phi, bandwidth, server, *, certified_only: bool, counts=None):
    """The least level ``z`` (a table value) that :func:`cover` does not rule out / proves feasible.

    ``certified_only=True`` (on the achievable table): the least level found FEASIBLE, with its
    division ``(z, i, j)``; ``(inf, None, None)`` if none. ``certified_only=False`` (on the
    lower-bound table): the least level not proved INFEASIBLE, a lower bound on the optimum.
    """
    levels = np.unique(table[np.isfinite(table)])
    if levels.size == 0:
        return np.inf, None, None
    ok_status = (FEASIBLE,) if certified_only else (FEASIBLE, UNDECIDED)
    top = cover(table, b, phi, bandwidth, server, float(levels[-1]), counts)
    if top[0] not in ok_status:
        return np.inf, None, None
    lo, hi, best = -1, levels.size - 1, top
    while hi - lo > 1:
        mid = (lo + hi) // 2
        res = cover(table, b, phi, bandwidth, server, float(levels[mid]), counts)
        if res[0] in ok_status:
            hi, best = mid, res
        else:
            lo = mid
    return float(levels[hi]), best[1], best[2]


def sum_dual(table, b, phi, bandwidth, server, steps: int = 32, counts=None):
    """Lagrangian dual of ``min sum_k D_k`` over grid cells within both totals.

    ``counts`` as in :func:`cover`.

    Returns ``(dual, primal, i, j)``: the best dual value (a lower bound on the grid optimum), the
    least sum met at a division within both totals (``inf`` if none) and that division.
    """
    k, m, _ = table.shape
    w = np.ones(k) if counts is None else np.asarray(counts, dtype=float)
    flat = table.reshape(k, m * m)
    finite = np.isfinite(flat)
    if not np.all(finite.any(axis=1)):
        return np.inf, np.inf, None, None
    cb = np.repeat(b, m)
    cp = np.tile(phi, m)
    span = np.nanmax(np.where(finite, flat, np.nan)) - np.nanmin(np.where(finite, flat, np.nan))
    span = max(span, 1e-12)
    rows = np.arange(k)
    state = {"dual": -np.inf, "primal": np.inf, "cells": None}

    def respond(mu, nu):
        cost = np.where(finite, flat + mu * cb + nu * cp, np.inf)
        c = np.argmin(cost, axis=1)
        val = float(w @ cost[rows, c]) - mu * bandwidth - nu * server
        state["dual"] = max(state["dual"], val)
        sb, sp = float(w @ cb[c]), float(w @ cp[c])
        if sb <= bandwidth and sp <= server:
            total = float(w @ flat[rows, c])
            if total < state["primal"]:
                state["primal"], state["cells"] = total, c
        return sb, sp

    def inner(mu):
        sb, sp = respond(mu, 0.0)
        if sp <= server:
            return sb
        lo, hi = np.log(span / server * 1e-10), np.log(span / server * 1e10)
        sb_hi = respond(mu, np.exp(hi))[0]
        for _ in range(steps):
            mid = 0.5 * (lo + hi)
            sb_m, sp_m = respond(mu, np.exp(mid))
            if sp_m <= server:
                hi, sb_hi = mid, sb_m
            else:
                lo = mid
        return sb_hi

    if inner(0.0) > bandwidth:
        lo, hi = np.log(span / bandwidth * 1e-10), np.log(span / bandwidth * 1e10)
        inner(np.exp(hi))
        for _ in range(steps):
            mid = 0.5 * (lo + hi)
            if inner(np.exp(mid)) <= bandwidth:
                hi = mid
            else:
                lo = mid
    c = state["cells"]
    if c is None:
        return state["dual"], np.inf, None, None
    return state["dual"], state["primal"], c // m, c % m
