"""The explorer without a kernel: a precomputed grid of optima, shown with sliders in a static page.

A web page has no Python to solve the joint problem when a slider moves, so the optimum is solved
beforehand at every point of a grid of settings and the page only looks answers up:

* :func:`explorer_grid` solves the grid (latency budget x energy budget x distance x model x privacy
  floor x server load) with :func:`coinfer.optimize.solve_batch`, vectorised over the distances, and
  caches it with :func:`coinfer.cache.cached`;
* :func:`grid_point` reads one point back as numbers (for tests and for the chapter's prose);
* :mod:`coinfer.app.explorer_page` renders it as a page (kept apart, so that restyling the page
  never invalidates the cached grid).

Server load is the number of users sharing the edge server equally: each gets ``flops / users``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..cache import cached
from ..system import Scenario, path_gain

__all__ = [
    "GRID_AXES",
    "GRID_FIELDS",
    "ExplorerGrid",
    "explorer_grid",
    "grid_point",
    "grid_index",
]

#: The grid: slider name -> values, in the order of the array axes (SI units: s, J, m; users as a
#: count; min_split in blocks). The defaults of the scenario (0.2 s, 0.01 J, 100 m, gpt2-large, a
#: floor of 1 block, one user) are grid points.
GRID_AXES: dict[str, tuple] = {
    "model": ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl", "llama-2-7b"),
    "users": (1, 4, 16),
    "min_split": (0, 1, 4),
    "latency": (0.05, 0.1, 0.2, 0.5, 1.0, 2.0),
    "energy": (0.002, 0.005, 0.01, 0.02, 0.05, 0.1),
    "distance": (25.0, 50.0, 100.0, 200.0, 400.0, 800.0),
}

#: Numbers stored per grid point (SI units; NaN where infeasible).
GRID_FIELDS = ("rho", "power", "freq", "t_device", "t_uplink", "t_server", "e_device", "e_uplink")


@dataclass(frozen=True)
class ExplorerGrid:
    """Optima over :data:`GRID_AXES`.

    Attributes:
        axes: the grid, as :data:`GRID_AXES`.
        n_blocks: number of blocks ``L`` of each model.
        split: optimal split point per grid point (``-1`` where infeasible), shape of the grid.
        values: each of :data:`GRID_FIELDS` as an array of the grid's shape.
        reason: index into ``reasons`` per grid point, ``-1`` where feasible.
        reasons: the distinct reasons the solver gave for infeasible points.
        server_flops: the server throughput of one user alone, FLOP/s.
        rho_max: the largest pruning ratio allowed.
    """

    axes: dict
    n_blocks: dict
    split: np.ndarray
    values: dict
    reason: np.ndarray
    reasons: tuple
    server_flops: float
    rho_max: float

    @property
    def shape(self) -> tuple[int, ...]:
        """The grid's shape, one entry per axis of :data:`GRID_AXES`."""
        return tuple(len(v) for v in self.axes.values())


def _solve_grid(axes: dict) -> ExplorerGrid:
    from ..optimize import solve_batch

    shape = tuple(len(v) for v in axes.values())
    gains = path_gain(np.asarray(axes["distance"], dtype=float))
    split = np.full(shape, -1, dtype=int)
    values = {k: np.full(shape, np.nan) for k in GRID_FIELDS}
    reason = np.full(shape, -1, dtype=int)
    reasons: list[str] = []
    n_blocks = {}
    base_flops = Scenario.default().server.flops
    for i, model in enumerate(axes["model"]):
        base = Scenario.default(model)
        n_blocks[model] = base.profile.n_blocks
        for j, users in enumerate(axes["users"]):
            for k, floor in enumerate(axes["min_split"]):
                for a, latency in enumerate(axes["latency"]):
                    for b, energy in enumerate(axes["energy"]):
                        sc = base.replace(
                            latency=latency,
                            energy=energy,
                            min_split=floor,
                            flops=base_flops / users,
                        )
                        sol = solve_batch(sc, gains)
                        at = (i, j, k, a, b)
                        split[at] = sol.split
                        for f in GRID_FIELDS:
                            values[f][at] = getattr(sol, f)
                        for d, ok in enumerate(np.asarray(sol.feasible)):
                            if not ok:
                                text = sol.reason[d]
                                if text not in reasons:
                                    reasons.append(text)
                                reason[at + (d,)] = reasons.index(text)
    return ExplorerGrid(
        axes=axes,
        n_blocks=n_blocks,
        split=split,
        values=values,
        reason=reason,
        reasons=tuple(reasons),
        server_flops=base_flops,
        rho_max=Scenario.default().rho_max,
    )


def explorer_grid(axes: dict | None = None, *, use_cache: bool = True) -> ExplorerGrid:
    """The optima over ``axes`` (default :data:`GRID_AXES`), from the disk cache when possible.

    Every other parameter is the documented default scenario. One :func:`solve_batch` call per
    (model, users, privacy floor, latency, energy), vectorised over the distances.
    """
    axes = dict(GRID_AXES if axes is None else axes)
    if list(axes) != list(GRID_AXES):
        raise ValueError(f"axes must have the keys {list(GRID_AXES)} in order; got {list(axes)}")
    for name, values in axes.items():
        if len(values) < 1:
            raise ValueError(f"axes[{name!r}] must hold at least one value; got {values!r}")
    axes = {k: tuple(v) for k, v in axes.items()}
    return cached(
        "explorer-grid", axes, lambda: _solve_grid(axes), depends=[__name__], use_cache=use_cache
    )


def grid_index(grid: ExplorerGrid, **setting) -> tuple[int, ...]:
    """The grid index of a setting given by value, e.g. ``model="gpt2", latency=0.2, ...``.

    Every axis must be given, with a value that is on the grid.
    """
    index = []
    for name, values in grid.axes.items():
        if name not in setting:
            raise ValueError(f"{name} must be given; the grid has {list(values)}")
        if setting[name] not in values:
            raise ValueError(f"{name} must be one of {list(values)}; got {setting[name]!r}")
        index.append(values.index(setting[name]))
    return tuple(index)


def grid_point(grid: ExplorerGrid, **setting) -> dict:
    """The optimum at one grid setting: ``split``, every :data:`GRID_FIELDS` entry, ``latency`` and
    ``energy`` totals (s, J), ``feasible`` and ``reason`` (empty when feasible)."""
    at = grid_index(grid, **setting)
    out = {"split": int(grid.split[at]), **{k: float(v[at]) for k, v in grid.values.items()}}
    out["latency"] = out["t_device"] + out["t_uplink"] + out["t_server"]
    out["energy"] = out["e_device"] + out["e_uplink"]
    out["feasible"] = bool(grid.reason[at] < 0)
    out["reason"] = "" if out["feasible"] else grid.reasons[int(grid.reason[at])]
    return out
