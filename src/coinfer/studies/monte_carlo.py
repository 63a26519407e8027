"""Rayleigh-fading Monte Carlo of the joint design and its baselines, with common random numbers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..cache import cached
from ..system import Scenario
from ..system.channel import rayleigh_power
from ..validation import check_int, check_real
from .parallel import parallel_map
from .sweeps import DEFAULT_METHODS, SWEEP_PARAMETERS, _stack, method_point

__all__ = ["rayleigh_gains", "MonteCarloResult", "monte_carlo_sweep", "monte_carlo"]


def rayleigh_gains(mean_gain: float, n: int, seed: int) -> np.ndarray:
    """``n`` channel power gains ``g = mean_gain * |h|^2`` with Rayleigh ``h`` (so ``|h|^2 ~ Exp(1)``).

    Args:
        mean_gain: average gain, e.g. the path gain :func:`~coinfer.system.path_gain` at a distance.
        n: number of realisations.
        seed: seed of :func:`numpy.random.default_rng`.
    """
    mean_gain = check_real("mean_gain", mean_gain, 0.0, lo_open=True)
    n = check_int("n", n, 1)
    seed = check_int("seed", seed, 0)
    return mean_gain * rayleigh_power(np.random.default_rng(seed), n)


@dataclass(frozen=True)
class MonteCarloResult:
    """The methods under Rayleigh fading, across the values of one parameter.

    Arrays have shape ``(n_methods, n_values, n_realisations)``; the same fading realisations (common
    random numbers, from ``seed``) are used at every value and for every method, so differences between
    methods and between values are not sampling noise of different draws.

    Attributes:
        param, unit, values, methods: as in :class:`SweepResult` (``param`` may be ``"none"``).
        seed: seed of the fading draws; ``n``: realisations per value.
        objective, rho, split, energy, feasible: per realisation (``nan`` / ``-1`` where infeasible).
    """

    param: str
    unit: str
    values: tuple
    methods: tuple
    seed: int
    n: int
    objective: np.ndarray
    rho: np.ndarray
    split: np.ndarray
    energy: np.ndarray
    feasible: np.ndarray

    @property
    def outage(self) -> np.ndarray:
        """Fraction of realisations with no feasible operating point, ``(n_methods, n_values)``."""
        return 1.0 - self.feasible.mean(axis=-1)

    @property
    def mean_objective(self) -> np.ndarray:
        """Mean surrogate objective over the feasible realisations, ``(n_methods, n_values)`` (nan if none)."""
        count = self.feasible.sum(axis=-1)
        total = np.where(self.feasible, self.objective, 0.0).sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    def mean_objective_of(self, field: str = "objective") -> np.ndarray:
        """Mean of ``field`` (``"objective"``, ``"rho"`` or ``"energy"``) over feasible realisations."""
        values = getattr(self, field)
        count = self.feasible.sum(axis=-1)
        total = np.where(self.feasible, values, 0.0).sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    def split_frequencies(self, method: str = "proposed") -> dict[str, np.ndarray]:
        """Fractions of realisations, per value, by where ``method`` splits.

        Categories: ``"on-server"`` (``s = 0``), ``"floor"`` (``s = min_split > 0``: the earliest split the
        privacy floor allows), ``"interior"`` (``min_split < s < L``), ``"on-device"`` (``s = L``) and
        ``"infeasible"``. They sum to 1 for each value.
        """
        i = self.methods.index(method)
        s = self.split[i]
        L = self.n_blocks[:, None]
        floor = self.min_split[:, None]
        feas = self.feasible[i]
        return {
            "on-server": (feas & (s == 0)).mean(axis=-1),
            "floor": (feas & (s > 0) & (s == floor) & (s < L)).mean(axis=-1),
            "interior": (feas & (s > 0) & (s > floor) & (s < L)).mean(axis=-1),
            "on-device": (feas & (s == L)).mean(axis=-1),
            "infeasible": (~feas).mean(axis=-1),
        }

    n_blocks: np.ndarray = None  # (n_values,) number of blocks L at each value
    min_split: np.ndarray = None  # (n_values,) privacy floor at each value


def monte_carlo_sweep(
    scenario: Scenario,
    param: str,
    values: Iterable,
    n: int = 1000,
    seed: int = 0,
    methods: Sequence[str] = DEFAULT_METHODS,
    *,
    n_jobs: int | None = None,
    progress: bool = False,
    use_cache: bool = True,
) -> MonteCarloResult:
    """Rayleigh-fading Monte Carlo of ``methods`` at each value of ``param``.

    At each value the channel gain is the scenario's mean gain (after the change: a ``distance`` value
    sets it to the 3GPP path gain) times ``Exp(1)`` small-scale fading, ``n`` realisations from ``seed``.
    Pass ``param="none"`` and ``values=(None,)`` for a single point.
    """
    n = check_int("n", n, 1)
    seed = check_int("seed", seed, 0)
    values = tuple(values)
    methods = tuple(methods)
    if not values:
        raise ValueError("values must not be empty")
    unit = "" if param == "none" else SWEEP_PARAMETERS.get(param)
    if unit is None:
        raise ValueError(
            f"param must be 'none' or one of {', '.join(SWEEP_PARAMETERS)}; got {param!r}"
        )

    def compute():
        fading = rayleigh_gains(1.0, n, seed)
        scenarios = [
            scenario if param == "none" else scenario.replace(**{param: v}) for v in values
        ]
        tasks = [(sc, methods, sc.uplink.gain * fading) for sc in scenarios]
        points = parallel_map(
            method_point, tasks, n_jobs=n_jobs, progress=progress, desc=f"Monte Carlo {param}"
        )
        return MonteCarloResult(
            param=param,
            unit=unit,
            values=values,
            methods=methods,
            seed=seed,
            n=n,
            n_blocks=np.array([sc.profile.n_blocks for sc in scenarios]),
            min_split=np.array([sc.min_split for sc in scenarios]),
            **{
                f: _stack(points, methods, f)
                for f in ("objective", "rho", "split", "energy", "feasible")
            },
        )

    key = {
        "scenario": scenario,
        "param": param,
        "values": values,
        "methods": methods,
        "n": n,
        "seed": seed,
    }
    return cached("montecarlo", key, compute, use_cache=use_cache)


def monte_carlo(
    scenario: Scenario,
    n: int = 1000,
    seed: int = 0,
    methods: Sequence[str] = DEFAULT_METHODS,
    **kwargs,
) -> MonteCarloResult:
    """Rayleigh-fading Monte Carlo of ``methods`` at one scenario (``values = (None,)``)."""
    return monte_carlo_sweep(scenario, "none", (None,), n, seed, methods, **kwargs)
