"""Parameter sweeps of the joint design and its baselines, at a fixed channel (no fading).

Every study is a pure function of a :class:`~coinfer.system.Scenario`, a list of parameter values and
a seed; points run through :func:`coinfer.studies.parallel.parallel_map` and results go through the
one disk cache (:func:`coinfer.cache.cached`), so a figure can be restyled without rerunning the
simulation and changed code never reads an old result.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..cache import cached
from ..optimize.baselines import run_method
from ..system import REPLACEABLE, Scenario
from .parallel import parallel_map

__all__ = ["SWEEP_PARAMETERS", "DEFAULT_METHODS", "SweepResult", "sweep", "method_point"]

#: Parameters a sweep can vary (keywords of :meth:`coinfer.system.Scenario.replace`), with units.
SWEEP_PARAMETERS = {
    k: REPLACEABLE[k]
    for k in (
        "latency",
        "energy",
        "bandwidth",
        "distance",
        "gain",
        "flops",
        "model",
        "device",
        "min_split",
    )
}

#: The methods a sweep runs by default (the joint design and the baselines).
DEFAULT_METHODS = ("proposed", "on-device", "on-server", "fixed-rho", "max-resources")


def _check_param(param: str) -> str:
    if param not in SWEEP_PARAMETERS:
        raise ValueError(f"param must be one of {', '.join(SWEEP_PARAMETERS)}; got {param!r}")
    return param


def method_point(args):
    """One (scenario, methods, gains) point: a dict name -> Solution. Module level, so it pickles."""
    scenario, methods, gains = args
    return {m: run_method(m, scenario, gains) for m in methods}


def _stack(points: list[dict], methods: Sequence[str], field: str) -> np.ndarray:
    return np.stack([np.stack([np.asarray(getattr(p[m], field)) for p in points]) for m in methods])


@dataclass(frozen=True)
class SweepResult:
    """The methods across the values of one parameter, at the scenario's own (fixed) channel gain.

    Arrays have shape ``(n_methods, n_values)``; infeasible entries have ``feasible = False`` and
    ``objective = rho = nan``.

    Attributes:
        param: the swept parameter (a key of :data:`SWEEP_PARAMETERS`), with unit ``unit``.
        values: the parameter values.
        methods: method names (see :func:`coinfer.optimize.baselines.run_method`).
        objective: the surrogate objective ``Dbar(rho)`` reached.
        rho: pruning ratio.
        split: split point (``-1`` where infeasible).
        energy: device energy in J; ``latency``: end-to-end latency in s.
        feasible: whether the method meets both limits.
    """

    param: str
    unit: str
    values: tuple
    methods: tuple
    objective: np.ndarray
    rho: np.ndarray
    split: np.ndarray
    energy: np.ndarray
    latency: np.ndarray
    feasible: np.ndarray

    def row(self, method: str) -> dict:
        """The arrays of one method, by field name."""
        i = self.methods.index(method)
        fields = ("objective", "rho", "split", "energy", "latency", "feasible")
        return {f: getattr(self, f)[i] for f in fields}


def sweep(
    scenario: Scenario,
    param: str,
    values: Iterable,
    methods: Sequence[str] = DEFAULT_METHODS,
    *,
    n_jobs: int | None = None,
    progress: bool = False,
    use_cache: bool = True,
) -> SweepResult:
    """Run ``methods`` on ``scenario`` with ``param`` set to each of ``values`` (no fading).

    Sweep points run through :func:`parallel_map` (joblib) and the result is cached on disk.
    """
    _check_param(param)
    values = tuple(values)
    methods = tuple(methods)
    if not values:
        raise ValueError("values must not be empty")

    def compute():
        scenarios = [scenario.replace(**{param: v}) for v in values]
        tasks = [(sc, methods, np.array([sc.uplink.gain])) for sc in scenarios]
        points = parallel_map(
            method_point, tasks, n_jobs=n_jobs, progress=progress, desc=f"sweep {param}"
        )
        return SweepResult(
            param=param,
            unit=SWEEP_PARAMETERS[param],
            values=values,
            methods=methods,
            **{
                f: _stack(points, methods, f)[..., 0]
                for f in ("objective", "rho", "split", "energy", "latency", "feasible")
            },
        )

    key = {"scenario": scenario, "param": param, "values": values, "methods": methods}
    return cached("sweep", key, compute, use_cache=use_cache)
