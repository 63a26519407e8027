"""Where the joint design splits, over device classes, server loads and distances."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..cache import cached
from ..system import DEVICE_CLASSES, EdgeServer, Scenario
from ..validation import check_int
from .monte_carlo import monte_carlo_sweep
from .parallel import parallel_map

__all__ = ["SplitStudy", "split_study"]


@dataclass(frozen=True)
class SplitStudy:
    """Where the joint design splits, over a grid of device classes, server throughputs and distances.

    Arrays have shape ``(n_devices, n_servers, n_distances)``. Each grid point is a Rayleigh Monte Carlo
    of ``n`` realisations (the same draws at every point).

    Attributes:
        devices: keys of :data:`DEVICE_CLASSES`; ``servers``: per-user server throughputs ``Phi_s``
            in FLOP/s; ``distances``: in m; ``min_split``: the privacy floor used.
        fractions: category -> fraction of realisations (categories of
            :meth:`MonteCarloResult.split_frequencies`).
        outage: fraction of realisations with no feasible point for the joint design.
        rho_joint: mean optimal ``rho`` over realisations where the joint design is feasible.
        rho_ends: mean ``rho`` of the best of the two end choices ``s = min_split`` and ``s = L``
            (feasible realisations of the joint design; ``nan`` rho counts as ``rho_max``).
        ends_optimal: fraction of feasible realisations where the best end choice is optimal
            (within 1e-9 in ``rho``).
        outage_floor, outage_device: outage of the split fixed at ``min_split`` and at ``L``.
        rho_floor, rho_device: their mean ``rho`` over the realisations where each is feasible.
    """

    devices: tuple
    servers: tuple
    distances: tuple
    min_split: int
    n: int
    seed: int
    fractions: dict
    outage: np.ndarray
    rho_joint: np.ndarray
    rho_ends: np.ndarray
    ends_optimal: np.ndarray
    outage_floor: np.ndarray
    rho_floor: np.ndarray
    outage_device: np.ndarray
    rho_device: np.ndarray


def _split_point(args):
    scenario, device, server, distances, n, seed = args
    sc = scenario.replace(device=DEVICE_CLASSES[device], server=EdgeServer(flops=server))
    methods = ("proposed", f"split-{sc.min_split}", "on-device")
    return monte_carlo_sweep(sc, "distance", distances, n, seed, methods, use_cache=False)


def split_study(
    scenario: Scenario,
    devices: Sequence[str] = ("phone-cpu", "phone-npu", "laptop"),
    servers: Sequence[float] = (1.28e12, 1.28e11, 3.2e10),
    distances: Sequence[float] = (100.0, 300.0, 600.0, 1000.0),
    n: int = 1000,
    seed: int = 0,
    *,
    n_jobs: int | None = None,
    progress: bool = False,
    use_cache: bool = True,
) -> SplitStudy:
    """Which split the joint design picks, and whether an interior split ever beats the two ends.

    For each device class, per-user server throughput and distance, runs a Rayleigh Monte Carlo of the
    joint design, of the split fixed at the privacy floor ``s = min_split`` and of fully on-device
    inference (``s = L``). A loaded server shared by ``K`` users is modelled by its per-user throughput
    ``Phi_s / K``.
    """
    devices, servers, distances = tuple(devices), tuple(float(x) for x in servers), tuple(distances)
    for d in devices:
        if d not in DEVICE_CLASSES:
            raise ValueError(
                f"devices must be keys of DEVICE_CLASSES ({', '.join(DEVICE_CLASSES)}); got {d!r}"
            )
    n = check_int("n", n, 1)
    seed = check_int("seed", seed, 0)

    def compute():
        tasks = [(scenario, d, s, distances, n, seed) for d in devices for s in servers]
        runs = parallel_map(
            _split_point, tasks, n_jobs=n_jobs, progress=progress, desc="split study"
        )
        shape = (len(devices), len(servers), len(distances))
        fractions = {}
        outage, rho_joint, rho_ends, ends_opt = (np.empty(shape) for _ in range(4))
        fixed = {"outage_floor": 1, "rho_floor": 1, "outage_device": 2, "rho_device": 2}
        fixed_arrays = {k: np.empty(shape) for k in fixed}
        for k, mc in enumerate(runs):
            i, j = divmod(k, len(servers))
            for cat, v in mc.split_frequencies("proposed").items():
                fractions.setdefault(cat, np.empty(shape))[i, j] = v
            feas = mc.feasible[0]
            joint = mc.rho[0]
            ends = np.fmin(mc.rho[1], mc.rho[2])  # nan where both ends are infeasible
            ends = np.where(np.isnan(ends), scenario.rho_max, ends)
            outage[i, j] = 1.0 - feas.mean(axis=-1)
            cnt = np.maximum(feas.sum(axis=-1), 1)
            with np.errstate(invalid="ignore"):
                rho_joint[i, j] = np.where(
                    feas.any(-1), np.where(feas, joint, 0).sum(-1) / cnt, np.nan
                )
                rho_ends[i, j] = np.where(
                    feas.any(-1), np.where(feas, ends, 0).sum(-1) / cnt, np.nan
                )
                same = feas & (ends <= joint + 1e-9)
                ends_opt[i, j] = np.where(feas.any(-1), same.sum(-1) / cnt, np.nan)
            for name, m in fixed.items():
                if name.startswith("outage"):
                    fixed_arrays[name][i, j] = mc.outage[m]
                else:
                    fixed_arrays[name][i, j] = mc.mean_objective_of("rho")[m]
        return SplitStudy(
            devices=devices,
            servers=servers,
            distances=distances,
            min_split=scenario.min_split,
            n=n,
            seed=seed,
            fractions=fractions,
            outage=outage,
            rho_joint=rho_joint,
            rho_ends=rho_ends,
            ends_optimal=ends_opt,
            **fixed_arrays,
        )

    key = {
        "scenario": scenario,
        "devices": devices,
        "servers": servers,
        "distances": distances,
        "n": n,
        "seed": seed,
    }
    return cached("splitstudy", key, compute, use_cache=use_cache)
