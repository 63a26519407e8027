"""Solving a network: the division of the band and the server, and every device's operating point.

Two methods divide the resources; both end the same way (what the division leaves unused handed out
in proportion to the shares, a local search over continuous shares for small cells, and every
device solved exactly with its shares, vectorised over devices of a group that received the same
shares), so the answer is achievable by construction, and ``lower_bound`` is a certified bound
below every division of the band and the server: ``gap = objective - lower_bound`` bounds the
distance to the optimum.

* Small cells (``K <= exact``): fairness by :func:`coinfer.network.fairness.fair_division` (a level
  search on exact least server shares, bracket proved), efficiency by
  :func:`coinfer.network.efficiency.efficient_division` (a priced knapsack) together with the tables.
* Any cell: the share tables (:mod:`coinfer.network.tables`) divided on the grid
  (:mod:`coinfer.network.allocate`), refined once when the grid decides nothing.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from ..optimize import solve, solve_batch
from ..validation import check_int
from .allocate import level_search, sum_dual
from .efficiency import efficient_division
from .fairness import FairDivision, fair_division
from .model import Network
from .tables import Tables, build_tables

__all__ = ["NetworkSolution", "solve_network"]


@dataclass(frozen=True, repr=False)
class NetworkSolution:
    """The division of the resources and each device's operating point.

    Attributes:
        feasible: whether every device meets its budgets with its shares.
        objective: the network objective (largest or summed ``Dbar_k(rho_k)``); NaN if infeasible.
        bandwidth: ``(K,)`` bandwidth shares ``b_k`` in Hz (``sum <= B``).
        server_flops: ``(K,)`` server shares ``Phi_k`` in FLOP/s (``sum <= Phi``).
        devices: one single-device :class:`~coinfer.optimize.Solution` per device, solved with its
            shares (a device with a zero share runs the whole model, split ``L``).
        reason: why the network is infeasible; empty when feasible.
        lower_bound: a certified lower bound on the optimal network objective.
        gap: ``objective - lower_bound`` (>= 0): how far from optimal the answer can be.
        kind: ``"max"`` or ``"sum"``.
        grid: the grid of the division: band units ``M`` of the level search (fairness in a
            small cell), else positive grid points per share of the tables; ``exact_gains``:
            whether every device was tabulated at its own channel gain.
    """

    feasible: bool
    objective: float
    bandwidth: np.ndarray
    server_flops: np.ndarray
    devices: tuple
    reason: str = ""
    lower_bound: float = math.nan
    gap: float = math.nan
    kind: str = "max"
    grid: int = 0
    exact_gains: bool = True
    totals: tuple = field(default=(math.nan, math.nan))

    def to_dict(self) -> dict:
        """Plain JSON-safe data: numbers, strings, lists (NaN and inf written as strings)."""

        def num(x):
            x = float(x)
            return x if math.isfinite(x) else str(x)

        return {
            "feasible": bool(self.feasible),
            "objective": num(self.objective),
            "kind": self.kind,
            "reason": self.reason,
            "lower_bound": num(self.lower_bound),
            "gap": num(self.gap),
            "total_bandwidth": num(self.totals[0]),
            "total_server_flops": num(self.totals[1]),
            "grid": int(self.grid),
            "exact_gains": bool(self.exact_gains),
            "bandwidth": [num(v) for v in self.bandwidth],
            "server_flops": [num(v) for v in self.server_flops],
            "devices": [
                {
                    k: (num(v) if isinstance(v, float) else v)
                    for k, v in d.to_dict().items()
                    if k not in ("splits", "split_rho", "split_energy", "split_feasible")
                }
                for d in self.devices
            ],
        }

    def table(self) -> str:
        """A fixed-width text table: one row per device."""
        head = (
            f"{'device':>6} {'split':>5} {'rho':>8} {'p (W)':>8} {'f (GHz)':>8} {'b_k (kHz)':>10} "
            f"{'Phi_k (GFLOP/s)':>15} {'T (s)':>8} {'E (J)':>9} {'ok':>3}"
        )
        rows = [head, "-" * len(head)]
        for k, d in enumerate(self.devices):
            rows.append(
                f"{k:>6} {d.split:>5} {d.rho:>8.4f} {d.power:>8.3g} {d.freq / 1e9:>8.3g} "
                f"{self.bandwidth[k] / 1e3:>10.4g} {self.server_flops[k] / 1e9:>15.4g} "
                f"{d.latency:>8.4g} {d.energy:>9.3g} {'yes' if d.feasible else 'no':>3}"
            )
        state = "feasible" if self.feasible else f"infeasible: {self.reason}"
        rows.append(
            f"{self.kind} objective {self.objective:.6g} (certified gap {self.gap:.3g}); {state}"
        )
        return "\n".join(rows)

    def __repr__(self) -> str:
        return (
            f"NetworkSolution(K={len(self.devices)}, kind={self.kind!r}, feasible={self.feasible}, "
            f"objective={self.objective:.6g}, gap={self.gap:.3g})"
        )


def _device_solutions(network: Network, tables, b_share, p_share) -> tuple:
    """Every device solved exactly with its shares, vectorised over devices with equal shares."""
    out: list = [None] * network.size
    key = np.stack([tables.group, b_share, p_share], axis=1)
    _, inverse = np.unique(key, axis=0, return_inverse=True)
    for cls in np.unique(inverse):
        members = np.flatnonzero(inverse.ravel() == cls)
        k0 = members[0]
        base = tables.bases[tables.group[k0]]
        gains = tables.gains[members]
        b, p = float(b_share[k0]), float(p_share[k0])
        if b > 0 and p > 0:
            sol = solve_batch(base.replace(bandwidth=b, flops=p), gains)
        else:  # no band or no server: only the whole model on the device, which uses neither
            sol = solve_batch(base, gains, split=base.profile.n_blocks)
        for n, k in enumerate(members):
            out[k] = sol[n]
    return tuple(out)


def _polish(network: Network, b_share, p_share, members, max_evals: int, width: float = 1.5):
    """A local search over continuous shares among ``members``, started at the given division.

    The members re-divide what they hold (band and server separately, as softmax weights; a member
    with a zero share starts at a thousandth of an equal share) by Nelder-Mead on the exact
    objective of the members; the other devices keep their shares. Returns the new shares, or None
    when the search never found a division that serves every member.
    """
    from scipy.optimize import minimize

    kind = network.objective
    n = members.size
    b_total, p_total = float(b_share[members].sum()), float(p_share[members].sum())
    if n == network.size:  # every device takes part: the whole band and server are theirs
        b_total, p_total = network.bandwidth, network.server_flops
    if n < 2 or b_total <= 0 or p_total <= 0:
        return None

    def shares(x):
        wb = np.exp(np.concatenate([x[: n - 1], [0.0]]))
        wp = np.exp(np.concatenate([x[n - 1 :], [0.0]]))
        return b_total * wb / wb.sum(), p_total * wp / wp.sum()

    def score(x):
        out = []
        for k, bk, pk in zip(members, *shares(x), strict=True):
            sc = network.devices[k]
            sol = solve(sc.replace(bandwidth=float(bk), flops=float(pk)))
            out.append(float(sc.objective(sol.rho)) if sol.feasible else math.inf)
        v = np.array(out)
        if not np.all(np.isfinite(v)):
            return 1e6 + float(np.sum(~np.isfinite(v)))
        return float(v.max() if kind == "max" else v.sum())

    b0 = np.maximum(b_share[members], 1e-3 * b_total / n)
    p0 = np.maximum(p_share[members], 1e-3 * p_total / n)
    x0 = np.concatenate([np.log(b0[:-1] / b0[-1]), np.log(p0[:-1] / p0[-1])])
    # a wide first simplex (width 1.5: a factor e^1.5 in each weight) lets the search leave the
    # grid's cell; a narrow one (0.05) settles a point already close
    simplex = np.vstack([x0, x0 + width * np.eye(x0.size)])
    res = minimize(
        score,
        x0,
        method="Nelder-Mead",
        options={"maxfev": max_evals, "xatol": 1e-4, "fatol": 1e-9, "initial_simplex": simplex},
    )
    if res.fun >= 1e6:
        return None
    b_new, p_new = b_share.astype(float), p_share.astype(float)
    b_new[members], p_new[members] = shares(res.x)
    return b_new, p_new


def _network_value(network: Network, devices) -> float:
    """The network objective of single-device solutions (largest or summed ``Dbar_k(rho_k)``)."""
    v = [float(sc.objective(d.rho)) for sc, d in zip(network.devices, devices, strict=True)]
    return float(max(v) if network.objective == "max" else sum(v))


def _unique_rows(table: np.ndarray):
    """Distinct device tables, the row of each device, and how many devices share each."""
    k = table.shape[0]
    rows, inverse, counts = np.unique(
        table.reshape(k, -1), axis=0, return_inverse=True, return_counts=True
    )
    return rows.reshape((-1,) + table.shape[1:]), inverse.ravel(), counts


def _infeasible(network, tables, reason, kind, n_shares) -> NetworkSolution:
    k = network.size
    b = np.full(k, network.bandwidth / k)
    p = np.full(k, network.server_flops / k)
    devices = _device_solutions(network, tables, b, p)
    return NetworkSolution(
        False,
        math.nan,
        b,
        p,
        devices,
        reason,
        math.nan,
        math.nan,
        kind,
        n_shares,
        tables.exact_gains,
        (network.bandwidth, network.server_flops),
    )


def solve_network(
    network: Network,
    *,
    n_shares: int = 12,
    n_nodes: int = 32,
    tables: Tables | None = None,
    refine: bool = True,
    polish: int = 4,
    exact: int = 4,
) -> NetworkSolution:
    """Divide the band and the server among the devices and solve every device.

    ``"max"``: the least level ``z`` that every device can reach with its shares (fairness).
    ``"sum"``: the least sum of the devices' objectives (efficiency). See the module docstring for
    what is certified.

    Args:
        network: the :class:`~coinfer.network.Network`.
        n_shares: positive grid points per share (the gap shrinks as it grows; cost grows with its
            square).
        n_nodes: gain nodes per group of devices that differ only in gain.
        tables: the tables of ``network`` from :func:`~coinfer.network.tables.build_tables`, to
            reuse them across objectives (they do not depend on the objective); built if None.
        refine: when the grid neither finds a division nor rules one out, solve again once on a
            grid twice as fine.
        polish: improve the division by a local search over continuous shares (``_polish``)
            among all devices when ``K <= polish`` (from the grid division and from the equal
            division), else among the devices that offload when there are at most ``polish``
            of them; 0 turns it off.
        exact: cells of at most this many devices use the certified methods of small cells: for
            fairness the level search of :func:`coinfer.network.fairness.fair_division` (its
            bracket within 1e-4 relative, or that of its largest band grid) instead of the
            tables; for efficiency the priced knapsack of
            :func:`coinfer.network.efficiency.efficient_division` as a second start and a second
            bound. 0 turns them off.

    Returns:
        A :class:`NetworkSolution`; ``feasible=False`` with a ``reason`` naming the device when some
        device cannot be served even with the whole band and the whole server.
    """
    if not isinstance(network, Network):
        raise ValueError(f"network must be a Network; got {type(network).__name__}")
    n_shares = check_int("n_shares", n_shares, 2, 200)
    n_nodes = check_int("n_nodes", n_nodes, 2, 10_000)
    polish = check_int("polish", polish, 0)
    exact = check_int("exact", exact, 0)
    if tables is None:
        tables = build_tables(network, n_shares, n_nodes)
    elif not isinstance(tables, Tables) or tables.upper.shape[0] != network.size:
        raise ValueError("tables must be build_tables(network) of this network")
    n_shares = tables.b.shape[0] - 1
    tables = dataclasses.replace(tables, upper=tables.upper.copy())
    B, Phi, kind = network.bandwidth, network.server_flops, network.objective
    top = n_shares
    # a device that no share can serve makes the network infeasible: say which and why
    for k in np.flatnonzero(~np.isfinite(tables.upper[:, top, top])):
        sc = network.devices[k]
        alone = solve(sc.replace(bandwidth=B, flops=Phi))
        if not alone.feasible:
            why = (
                f"device {k} cannot be served even with the whole band ({B:.4g} Hz) and the whole "
                f"server ({Phi:.4g} FLOP/s): {alone.reason}"
            )
            return _infeasible(network, tables, why, kind, n_shares)
        # feasible at its own gain but not at the gain node below it: the full shares are achievable
        tables.upper[k, top, top] = float(sc.objective(alone.rho))
    if kind == "max" and network.size <= exact:
        fair = fair_division(network)
        if fair.decided:
            return _from_fair(network, tables, fair, polish, n_shares)
    # identical rows (devices of one group at one gain node) are divided once, weighted by count
    up_rows, up_inv, up_n = _unique_rows(tables.upper)
    lo_rows, _, lo_n = _unique_rows(tables.lower)
    grid = (tables.b, tables.phi, B, Phi)
    if kind == "max":
        z_up, i, j = level_search(up_rows, *grid, certified_only=True, counts=up_n)
        z_lo = level_search(lo_rows, *grid, certified_only=False, counts=lo_n)[0]
    else:
        _, z_up, i, j = sum_dual(up_rows, *grid, counts=up_n)
        z_lo = sum_dual(lo_rows, *grid, counts=lo_n)[0]
    if i is not None:
        i, j = i[up_inv], j[up_inv]
    if i is None and math.isfinite(z_lo) and refine and n_shares < 48:
        # undecided: a division may exist between the grid points; try a finer grid once
        return solve_network(
            network,
            n_shares=2 * n_shares,
            n_nodes=n_nodes,
            refine=False,
            polish=polish,
            exact=exact,
        )
    if i is None:
        if math.isfinite(z_lo):
            why = (
                "no division of the band and the server on the share grid serves every device, "
                f"and none is ruled out either (K = {network.size}): raise n_shares"
            )
        else:
            why = (
                "the devices cannot all be served at once: no division of the band and the server "
                f"brings every device within its budgets (K = {network.size}; dual certificate)"
            )
        return _infeasible(network, tables, why, kind, n_shares)
    b_share, p_share = tables.b[i].copy(), tables.phi[j].copy()
    starts, lower = [(b_share, p_share)], float(z_lo)
    if kind == "sum" and network.size <= exact:
        eff = efficient_division(network)
        if eff.feasible:
            starts.append((eff.bandwidth, eff.server_flops))
        lower = max(lower, eff.lower_bound)
    return _finish(network, tables, starts, lower, polish, n_shares)


def _from_fair(network, tables, fair: FairDivision, polish: int, n_shares: int):
    """The certified fairness division as a :class:`NetworkSolution` (or its proof of infeasibility)."""
    if not fair.feasible:
        why = (
            "the devices cannot all be served at once: no division of the band and the server "
            f"brings every device within its budgets (K = {network.size}; the relaxed knapsack "
            f"on {fair.units} band units excludes it)"
        )
        return _infeasible(network, tables, why, "max", n_shares)
    return _finish(
        network, tables, [(fair.bandwidth, fair.server_flops)], fair.lower_bound, polish, fair.units
    )


def _handout(network, b_share, p_share):
    """A division with what it leaves unused handed out in proportion (more never hurts)."""
    b_share, p_share = b_share.astype(float), p_share.astype(float)
    idle = (b_share == 0) | (p_share == 0)  # one zero share leaves only split L: free the other
    b_share[idle] = 0.0
    p_share[idle] = 0.0
    if b_share.sum() > 0:
        b_share *= network.bandwidth / b_share.sum()
    if p_share.sum() > 0:
        p_share *= network.server_flops / p_share.sum()
    return b_share, p_share


def _finish(network, tables, starts, lower, polish, grid):
    """The best of the ``starts`` (divisions), improved locally; every device solved exactly."""
    B, Phi = network.bandwidth, network.server_flops
    found = []
    for b_start, p_start in starts:
        b_share, p_share = _handout(network, b_start, p_start)
        devices = _device_solutions(network, tables, b_share, p_share)
        if all(d.feasible for d in devices):
            found.append((_network_value(network, devices), b_share, p_share, devices))
    if not found:  # cannot happen: each device's shares are at least what it needs
        raise RuntimeError("internal error: no start division serves every device")
    found.sort(key=lambda c: c[0])
    value, b_share, p_share, devices = found[0]
    # a local search over continuous shares: every device when K <= polish (from each start and
    # from the equal division), else the offloaders when there are at most `polish` of them;
    # kept only if it serves everyone and does better
    off = np.flatnonzero((b_share > 0) & (p_share > 0))
    members = np.arange(network.size) if network.size <= polish else off
    if 2 <= members.size <= polish:
        tries = [(c[1], c[2]) for c in found]
        if members.size == network.size:  # and the equal division
            k = network.size
            tries.append((np.full(k, B / k), np.full(k, Phi / k)))
        else:
            tries = tries[:1]
        small = members.size == network.size  # a small cell: also settle with a narrow simplex
        for b_start, p_start in tries:
            moved = _polish(network, b_start, p_start, members, 40 * members.size)
            if small and moved is not None:
                moved = _polish(network, *moved, members, 40 * members.size, 0.05) or moved
            elif small:
                moved = _polish(network, b_start, p_start, members, 40 * members.size, 0.05)
            if moved is None:
                continue
            cand = _device_solutions(network, tables, *moved)
            if all(d.feasible for d in cand) and _network_value(network, cand) < value - 1e-12:
                (b_share, p_share), devices = moved, cand
                value = _network_value(network, devices)
    if value < lower - 1e-9 * max(abs(value), 1e-12):  # a bound above a division: a bug
        raise RuntimeError(f"internal error: objective {value!r} below lower bound {lower!r}")
    lower = min(lower, value)  # rounding only (checked above)
    return NetworkSolution(
        True,
        value,
        b_share,
        p_share,
        devices,
        "",
        lower,
        value - lower,
        network.objective,
        grid,
        tables.exact_gains,
        (B, Phi),
    )
