"""Monte Carlo over random device drops: how a cell shares its band and its server as it fills.

For each number of devices ``K`` and each drop (a :func:`coinfer.network.random_network` with its own
seed), the network is solved twice on the same share tables: for fairness (``"max"``) and for
efficiency (``"sum"``). Every drop is an independent task of :func:`coinfer.studies.parallel_map`, so
the study runs through joblib on one machine or through Dask distributed on a cluster (``dask=`` or
``$COINFER_DASK_SCHEDULER``) with identical results. Results are cached with :func:`coinfer.cache.cached`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..cache import cached
from ..network import random_network, solve_network
from ..network.tables import build_tables
from ..validation import check_int
from .parallel import parallel_map

__all__ = ["DropStudy", "DROP_FIELDS", "drop_seed", "one_drop", "network_drops"]

#: Per-drop numbers recorded for each objective (suffix ``_max`` or ``_sum``).
DROP_FIELDS = (
    "feasible",  # every device served within its budgets
    "objective",  # the network objective (NaN if infeasible)
    "lower_bound",  # certified lower bound on it
    "sum_value",  # sum of the devices' Dbar_k at this division (the efficiency yardstick)
    "worst_value",  # largest Dbar_k at this division (the fairness yardstick)
    "mean_rho",  # mean pruning ratio over devices
    "on_device",  # fraction of devices running the whole model (split L)
    "split_frac",  # mean s / L over the devices that offload (NaN if none)
    "at_floor",  # fraction of the devices that offload splitting at their privacy floor
    "server_time",  # mean server seconds of the devices that offload (NaN if none)
)


def drop_seed(seed: int, n_devices: int, drop: int) -> int:
    """The seed of drop ``drop`` at ``K = n_devices``: independent streams from one study seed."""
    return int(np.random.SeedSequence([seed, n_devices, drop]).generate_state(1)[0])


def _record(net, sol) -> dict:
    nan = float("nan")
    if not sol.feasible:
        return {f: (False if f == "feasible" else nan) for f in DROP_FIELDS}
    values = np.array(
        [float(sc.objective(d.rho)) for sc, d in zip(net.devices, sol.devices, strict=True)]
    )
    L = np.array([sc.profile.n_blocks for sc in net.devices])
    split = np.array([d.split for d in sol.devices])
    floor = np.array([sc.min_split for sc in net.devices])
    off = split < L
    return {
        "feasible": True,
        "objective": float(sol.objective),
        "lower_bound": float(sol.lower_bound),
        "sum_value": float(values.sum()),
        "worst_value": float(values.max()),
        "mean_rho": float(np.mean([d.rho for d in sol.devices])),
        "on_device": float(np.mean(~off)),
        "split_frac": float(np.mean(split[off] / L[off])) if off.any() else nan,
        "at_floor": float(np.mean(split[off] == floor[off])) if off.any() else nan,
        "server_time": float(
            np.mean([d.t_server for d, o in zip(sol.devices, off, strict=True) if o])
        )
        if off.any()
        else nan,
    }


def one_drop(task: tuple) -> dict:
    """Solve one drop ``(n_devices, seed, options)`` for both objectives; a dict of plain numbers."""
    n_devices, seed, options = task
    opts = dict(options)
    n_shares = opts.pop("n_shares")
    exact = opts.pop("exact", 0)
    net = random_network(n_devices, seed, **opts)
    tables = build_tables(net, n_shares)
    out = {}
    for kind in ("max", "sum"):
        sol = solve_network(net.replace(objective=kind), tables=tables, exact=exact)
        out.update({f"{k}_{kind}": v for k, v in _record(net, sol).items()})
    return out


@dataclass(frozen=True)
class DropStudy:
    """Per-drop results, arrays of shape ``(len(n_devices), n_drops)``.

    Attributes:
        n_devices: the values of ``K``; n_drops: drops per value; seed: the study seed.
        options: the :func:`random_network` options and ``n_shares``.
        data: field name (``<field>_max`` or ``<field>_sum``, see :data:`DROP_FIELDS`) -> array.
    """

    n_devices: tuple
    n_drops: int
    seed: int
    options: dict
    data: dict

    def __getitem__(self, name: str) -> np.ndarray:
        return self.data[name]

    def mean(self, name: str) -> np.ndarray:
        """Mean of a field over the drops of each ``K``, ignoring NaN (NaN where every drop is)."""
        values = self.data[name]
        count = np.sum(np.isfinite(values), axis=1)
        total = np.nansum(values, axis=1)
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    def outage(self, kind: str = "max") -> np.ndarray:
        """Fraction of drops per ``K`` whose network cannot serve every device."""
        return 1.0 - self.data[f"feasible_{kind}"].mean(axis=1)

    def price_of_fairness(self) -> np.ndarray:
        """Per drop: relative extra total objective of the fair division over the efficient one,
        ``(sum at max-division - sum at sum-division) / sum at sum-division`` (NaN where undefined)."""
        fair, eff = self.data["sum_value_max"], self.data["sum_value_sum"]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(eff > 0, (fair - eff) / eff, np.nan)


def network_drops(
    n_devices,
    n_drops: int,
    seed: int = 0,
    *,
    n_shares: int = 8,
    exact: int = 0,
    dask=None,
    n_jobs: int | None = None,
    progress: bool = False,
    use_cache: bool = True,
    **drop_options,
) -> DropStudy:
    """Monte Carlo over random drops for each ``K`` in ``n_devices``, both objectives per drop.

    Args:
        n_devices: the numbers of devices ``K`` (each ``>= 1``).
        n_drops: drops per ``K``.
        seed: the study seed (drop seeds from :func:`drop_seed`).
        n_shares: share grid points (see :func:`coinfer.network.solve_network`).
        exact: cells of at most this many devices use the certified level search and priced
            knapsack of :func:`coinfer.network.solve_network` (seconds per cell); the default 0
            solves every ``K`` alike with the share tables (a fraction of a second per cell).
        dask, n_jobs, progress: as in :func:`coinfer.studies.parallel_map`.
        use_cache: read and write the disk cache.
        drop_options: keyword arguments of :func:`coinfer.network.random_network` (``bandwidth``,
            ``server_flops``, ``radius``, ``models``, ``device_classes``...).
    """
    ks = tuple(check_int("n_devices", k, 1) for k in np.atleast_1d(n_devices).tolist())
    n_drops = check_int("n_drops", n_drops, 1)
    seed = check_int("seed", seed, 0)
    n_shares = check_int("n_shares", n_shares, 2, 200)
    exact = check_int("exact", exact, 0)
    options = {"n_shares": n_shares, "exact": exact, **drop_options}
    params = {"n_devices": ks, "n_drops": n_drops, "seed": seed, "options": options}

    def compute() -> DropStudy:
        opts = tuple(sorted(options.items()))
        tasks = [(k, drop_seed(seed, k, d), opts) for k in ks for d in range(n_drops)]
        rows = parallel_map(
            one_drop, tasks, n_jobs=n_jobs, progress=progress, desc="network drops", dask=dask
        )
        data = {
            name: np.array([r[name] for r in rows], dtype=float).reshape(len(ks), n_drops)
            for name in rows[0]
        }
        return DropStudy(ks, n_drops, seed, options, data)

    return cached("network_drops", params, compute, use_cache=use_cache)
