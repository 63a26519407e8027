"""Simulation experiments: parameter sweeps, Rayleigh-fading Monte Carlo, and their on-disk cache.

Every experiment is a pure function of a :class:`~coinfer.system.Scenario`, a list of parameter values
and a seed. Sweep points run in parallel through :class:`joblib.Parallel` with a :mod:`tqdm` progress bar.
No backend is named here, so a user switches it from the outside without code changes::

    from joblib import parallel_config
    with parallel_config(backend="loky", n_jobs=4):      # or "dask" / "ray" with their joblib plugins
        result = sweep(scenario, "latency", values)

Results are cached on disk (:func:`cache_dir`) under a hash of the experiment's parameters, of
``coinfer.__version__`` and of the package's source files, so a figure can be restyled without rerunning
the simulation, and changed code never reads an old result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from . import __version__
from .cache import cache_dir
from .system import Budget, Device, EdgeServer, Scenario, Uplink, path_gain
from .validation import check_int, check_real

__all__ = [
    "DEVICE_CLASSES",
    "SWEEP_PARAMETERS",
    "cache_dir",
    "cache_key",
    "cached",
    "parallel_map",
    "rayleigh_gains",
    "scenario_with",
    "SweepResult",
    "sweep",
    "MonteCarloResult",
    "monte_carlo",
    "monte_carlo_sweep",
    "SplitStudy",
    "split_study",
    "KAPLAN_ALPHA_N",
    "KAPLAN_N_C",
    "non_embedding_params",
    "effective_params",
    "kaplan_loss",
    "breakeven_beta",
    "ModelSizeStudy",
    "model_size_study",
    "implied_beta",
    "pruning_loss",
]

#: Device classes for the heterogeneous-device studies. ``phone-cpu`` is the follow-up paper's device
#: (2 GHz, 32 FLOPs/cycle, 2e-29); the others are order-of-magnitude assumptions stated in the chapter
#: "Benchmarks": energy per FLOP ``kappa f_max^2 / phi_d`` of 2.5 pJ (phone CPU), 1 pJ (phone NPU),
#: 5 pJ (laptop), 5 pJ (IoT-class microprocessor), with peak throughputs 64 GFLOP/s, 1 TFLOP/s,
#: 768 GFLOP/s and 4 GFLOP/s.
DEVICE_CLASSES: dict[str, Device] = {
    "iot": Device(f_max=1.0e9, flops_per_cycle=4.0, kappa=2.0e-29, p_max=0.1),
    "phone-cpu": Device(),
    "phone-npu": Device(f_max=1.0e9, flops_per_cycle=1024.0, kappa=1.024e-27, p_max=0.2),
    "laptop": Device(f_max=3.0e9, flops_per_cycle=256.0, kappa=1.42e-28, p_max=0.2),
}

#: Parameters that :func:`scenario_with` (and so :func:`sweep`) can vary, with their units.
SWEEP_PARAMETERS = {
    "latency": "s",  # budget T_max
    "energy": "J",  # budget E_max
    "bandwidth": "Hz",  # B
    "distance": "m",  # 3GPP path loss, no fading
    "gain": "",  # linear channel power gain g
    "server": "FLOP/s",  # Phi_s (a loaded server gives each user a share)
    "model": "",  # a built-in profile name
    "device": "",  # a key of DEVICE_CLASSES
    "min_split": "",  # privacy floor
}


def _canonical(obj):
    """A JSON-serialisable, order-stable rendering of ``obj`` (dataclasses, arrays, numbers)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {f.name: _canonical(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        return {"__class__": type(obj).__name__, **fields}
    if isinstance(obj, np.ndarray):
        return {"__array__": [repr(float(v)) for v in obj.ravel()], "shape": list(obj.shape)}
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, (bool, str)) or obj is None:
        return obj
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return repr(float(obj))  # repr round-trips: equal floats, equal keys
    if callable(obj):
        return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', repr(obj))}"
    raise TypeError(f"cannot build a cache key from a {type(obj).__name__}: {obj!r}")


def _source_digest() -> str:
    """A digest of the package's own source files, so that a development edit (same version number)
    never reads a result computed by different code."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def cache_key(name: str, params: dict) -> str:
    """A hex digest of the experiment ``name``, its ``params``, ``coinfer.__version__`` and the package's
    source code."""
    payload = json.dumps(
        {
            "name": name,
            "version": __version__,
            "source": _source_digest(),
            "params": _canonical(params),
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def cached(name: str, params: dict, compute: Callable[[], object], *, use_cache: bool = True):
    """``compute()``, read from or written to the disk cache under :func:`cache_key`.

    With ``use_cache=False`` the result is computed and neither read nor written. A corrupt cache file is
    recomputed and overwritten. Writes go through a temporary file so parallel runs never see half a file.
    """
    if not use_cache:
        return compute()
    path = cache_dir() / f"{name}-{cache_key(name, params)}.pkl"
    if path.exists():
        try:
            with path.open("rb") as fh:
                return pickle.load(fh)
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            pass
    result = compute()
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        pickle.dump(result, fh)
    tmp.replace(path)
    return result


def parallel_map(
    func: Callable, items: Sequence, *, n_jobs: int | None = None, progress: bool = True, desc: str = ""
) -> list:
    """``[func(x) for x in items]`` through :class:`joblib.Parallel`, with a tqdm progress bar.

    ``n_jobs=None`` defers to the active :func:`joblib.parallel_config` (one process by default), so a
    Dask or Ray backend set by the caller is used as is. The results keep the order of ``items``.
    """
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    items = list(items)
    kwargs = {} if n_jobs is None else {"n_jobs": n_jobs}
    runner = Parallel(return_as="generator", **kwargs)
    out = runner(delayed(func)(x) for x in items)
    return list(tqdm(out, total=len(items), desc=desc, disable=not progress, leave=False))


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
    rng = np.random.default_rng(seed)
    # Exp(1) can return exactly 0 with probability ~2^-53; a zero gain has no rate, keep it positive.
    return mean_gain * np.maximum(rng.exponential(1.0, size=n), np.finfo(float).tiny)


def scenario_with(scenario: Scenario, param: str, value) -> Scenario:
    """A copy of ``scenario`` with one parameter of :data:`SWEEP_PARAMETERS` set to ``value``.

    ``distance`` sets the channel gain to the 3GPP path gain at ``value`` metres; ``model`` swaps the
    profile for the built-in profile of that name at the same sequence length; ``device`` takes a key of
    :data:`DEVICE_CLASSES`; ``server`` sets the server throughput in FLOP/s.
    """
    if param not in SWEEP_PARAMETERS:
        raise ValueError(f"param must be one of {', '.join(SWEEP_PARAMETERS)}; got {param!r}")
    if param == "latency":
        return scenario.replace(budget=dataclasses.replace(scenario.budget, latency=value))
    if param == "energy":
        return scenario.replace(budget=dataclasses.replace(scenario.budget, energy=value))
    if param == "bandwidth":
        return scenario.replace(uplink=dataclasses.replace(scenario.uplink, bandwidth=value))
    if param == "distance":
        check_real("distance", value, 0.0, lo_open=True, unit="m")
        return scenario.with_gain(float(path_gain(value)))
    if param == "gain":
        return scenario.with_gain(value)
    if param == "server":
        return scenario.replace(server=EdgeServer(flops=value))
    if param == "model":
        from .profile import builtin_profile

        return scenario.replace(profile=builtin_profile(value, scenario.profile.seq_len or 128))
    if param == "device":
        if value not in DEVICE_CLASSES:
            raise ValueError(f"device must be one of {', '.join(DEVICE_CLASSES)}; got {value!r}")
        return scenario.replace(device=DEVICE_CLASSES[value])
    return scenario.replace(min_split=value)


def _method_point(args):
    """One (scenario, methods, gains) point: a dict name -> BatchResult. Module level, so it pickles."""
    from .baselines import run_method

    scenario, methods, gains = args
    return {m: run_method(m, scenario, gains) for m in methods}


def _stack(points: list[dict], methods: Sequence[str], field: str) -> np.ndarray:
    return np.stack([np.stack([getattr(p[m], field) for p in points]) for m in methods])


@dataclass(frozen=True)
class SweepResult:
    """The methods across the values of one parameter, at the scenario's own (fixed) channel gain.

    Arrays have shape ``(n_methods, n_values)``; infeasible entries have ``feasible = False`` and
    ``objective = rho = nan``.

    Attributes:
        param: the swept parameter (a key of :data:`SWEEP_PARAMETERS`), with unit ``unit``.
        values: the parameter values.
        methods: method names (see :func:`coinfer.baselines.run_method`).
        objective: distortion bound ``Dbar(rho)`` reached.
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
    methods: Sequence[str] = ("proposed", "on-device", "on-server", "fixed-rho", "max-resources"),
    *,
    n_jobs: int | None = None,
    progress: bool = False,
    use_cache: bool = True,
) -> SweepResult:
    """Run ``methods`` on ``scenario`` with ``param`` set to each of ``values`` (no fading).

    Sweep points run through :func:`parallel_map` (joblib) and the result is cached on disk.
    """
    if param not in SWEEP_PARAMETERS:
        raise ValueError(f"param must be one of {', '.join(SWEEP_PARAMETERS)}; got {param!r}")
    values = tuple(values)
    methods = tuple(methods)
    if not values:
        raise ValueError("values must not be empty")

    def compute():
        tasks = [(scenario_with(scenario, param, v), methods, None) for v in values]
        points = parallel_map(_method_point, tasks, n_jobs=n_jobs, progress=progress, desc=f"sweep {param}")
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
        """Mean distortion bound over the feasible realisations, ``(n_methods, n_values)`` (nan if none)."""
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
    methods: Sequence[str] = ("proposed", "on-device", "on-server", "fixed-rho", "max-resources"),
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
        raise ValueError(f"param must be 'none' or one of {', '.join(SWEEP_PARAMETERS)}; got {param!r}")

    def compute():
        fading = rayleigh_gains(1.0, n, seed)
        scenarios = [scenario if param == "none" else scenario_with(scenario, param, v) for v in values]
        tasks = [(sc, methods, sc.uplink.gain * fading) for sc in scenarios]
        points = parallel_map(
            _method_point, tasks, n_jobs=n_jobs, progress=progress, desc=f"Monte Carlo {param}"
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
            **{f: _stack(points, methods, f) for f in ("objective", "rho", "split", "energy", "feasible")},
        )

    key = {"scenario": scenario, "param": param, "values": values, "methods": methods, "n": n, "seed": seed}
    return cached("montecarlo", key, compute, use_cache=use_cache)


def monte_carlo(
    scenario: Scenario,
    n: int = 1000,
    seed: int = 0,
    methods: Sequence[str] = ("proposed", "on-device", "on-server", "fixed-rho", "max-resources"),
    **kwargs,
) -> MonteCarloResult:
    """Rayleigh-fading Monte Carlo of ``methods`` at one scenario (``values = (None,)``)."""
    return monte_carlo_sweep(scenario, "none", (None,), n, seed, methods, **kwargs)


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
        runs = parallel_map(_split_point, tasks, n_jobs=n_jobs, progress=progress, desc="split study")
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
                rho_joint[i, j] = np.where(feas.any(-1), np.where(feas, joint, 0).sum(-1) / cnt, np.nan)
                rho_ends[i, j] = np.where(feas.any(-1), np.where(feas, ends, 0).sum(-1) / cnt, np.nan)
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


# --------------------------------------------------------------------------------------------------
# The title's question: a larger model pruned harder, or a smaller model pruned less?
# --------------------------------------------------------------------------------------------------

#: Kaplan et al. (2020), eq. (1.1): test loss ``L(N) = (N_c / N)^alpha_N`` in nats per token of a
#: converged dense transformer language model with ``N`` non-embedding parameters (WebText2).
KAPLAN_ALPHA_N = 0.076
#: ... and its constant ``N_c`` (non-embedding parameters).
KAPLAN_N_C = 8.8e13


def non_embedding_params(profile) -> float:
    """Weights in the blocks of a profile (``sum_l F^w_l / (2 n)``): Kaplan et al.'s non-embedding ``N``.

    Each block weight costs ``2 n`` FLOPs per pass over ``n`` tokens (one multiply-add per token).
    """
    if profile.seq_len < 1:
        raise ValueError(f"profile.seq_len must be in [1, inf) tokens; got {profile.seq_len}")
    return float(np.sum(profile.weight_flops)) / (2.0 * profile.seq_len)


def effective_params(n_params, rho, beta):
    """Effective size ``N (1 - rho)^beta`` of a model of ``N`` weights pruned at ratio ``rho``.

    ``beta = 1``: the pruned model is worth a dense model with as many weights as it has non-zeros;
    ``beta < 1``: it is worth more (a sparsity bonus); ``beta > 1``: less. Vectorised (broadcast).
    """
    n = np.asarray(n_params, dtype=float)
    r = np.asarray(rho, dtype=float)
    b = np.asarray(beta, dtype=float)
    if np.any(n <= 0) or np.any((r < 0) | (r >= 1)) or np.any(b < 0):
        raise ValueError(
            f"need n_params in (0, inf), rho in [0, 1), beta in [0, inf); got {n_params!r}, {rho!r}, {beta!r}"
        )
    return n * (1.0 - r) ** b


def kaplan_loss(n_params, alpha: float = KAPLAN_ALPHA_N, n_c: float = KAPLAN_N_C):
    """Kaplan et al.'s ``L(N) = (N_c / N)^alpha`` in nats per token, vectorised over ``n_params``."""
    n = np.asarray(n_params, dtype=float)
    if np.any(~(n > 0)):
        raise ValueError(f"n_params must be in (0, inf); got {n_params!r}")
    check_real("alpha", alpha, 0.0, lo_open=True)
    check_real("n_c", n_c, 0.0, lo_open=True)
    return (n_c / n) ** alpha


def breakeven_beta(n_small, rho_small, n_large, rho_large):
    """The ``beta`` at which a larger model (``n_large`` weights, pruned ``rho_large``) and a smaller one
    (``n_small``, ``rho_small``) have the same effective size.

    ``beta* = ln(n_large / n_small) / ln((1 - rho_small) / (1 - rho_large))``; the larger model is
    effectively larger for every ``beta < beta*``. ``inf`` when ``rho_large <= rho_small`` (the larger model
    wins for every ``beta``). Vectorised.
    """
    ns, nl = np.asarray(n_small, dtype=float), np.asarray(n_large, dtype=float)
    rs, rl = np.asarray(rho_small, dtype=float), np.asarray(rho_large, dtype=float)
    if np.any(nl <= ns):
        raise ValueError("n_large must exceed n_small")
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.log(nl / ns) / np.log((1.0 - rs) / (1.0 - rl))
    return np.where(rl <= rs, np.inf, beta)


@dataclass(frozen=True)
class ModelSizeStudy:
    """The joint design's pruning ratio for several models across the values of one parameter.

    Attributes:
        models: built-in model names, in increasing size; ``n_params``: their non-embedding weights.
        param, unit, values: the swept parameter.
        rho: ``(n_values, n_models)`` optimal pruning ratio (``nan`` where infeasible).
        objective: ``(n_values, n_models)`` distortion bound ``Dbar(rho)``.
        feasible: ``(n_values, n_models)``.
    """

    models: tuple
    n_params: np.ndarray
    param: str
    unit: str
    values: tuple
    rho: np.ndarray
    objective: np.ndarray
    feasible: np.ndarray

    def best_model(self, beta: float) -> np.ndarray:
        """Index of the model of largest effective size at each value (``-1`` if none is feasible)."""
        r = np.where(self.feasible, self.rho, 0.0)
        eff = np.where(self.feasible, effective_params(self.n_params[None, :], r, beta), -np.inf)
        return np.where(self.feasible.any(axis=1), np.argmax(eff, axis=1), -1)


def model_size_study(
    scenario: Scenario,
    models: Sequence[str] = ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl", "llama-2-7b"),
    param: str = "latency",
    values: Iterable = (0.1, 0.2, 0.5, 1.0, 2.0),
    *,
    n_jobs: int | None = None,
    progress: bool = False,
    use_cache: bool = True,
) -> ModelSizeStudy:
    """Run the joint design for each model at each value of ``param`` (no fading)."""
    from .profile import builtin_profile

    models, values = tuple(models), tuple(values)
    n_params = np.array([non_embedding_params(builtin_profile(m, scenario.profile.seq_len)) for m in models])
    if np.any(np.diff(n_params) <= 0):
        raise ValueError(f"models must be in increasing size; got {models} with {n_params}")

    def compute():
        runs = [sweep(scenario_with(scenario, param, v), "model", models, ("proposed",), use_cache=False,
                      n_jobs=n_jobs, progress=progress) for v in values]
        return ModelSizeStudy(
            models=models,
            n_params=n_params,
            param=param,
            unit=SWEEP_PARAMETERS[param],
            values=values,
            rho=np.stack([r.rho[0] for r in runs]),
            objective=np.stack([r.objective[0] for r in runs]),
            feasible=np.stack([r.feasible[0] for r in runs]),
        )

    key = {"scenario": scenario, "models": models, "param": param, "values": values}
    return cached("modelsize", key, compute, use_cache=use_cache)


def implied_beta(loss_ratio, rho, alpha: float = KAPLAN_ALPHA_N):
    """The pruning exponent ``beta`` implied by a measured loss ratio ``L_rho / L_0`` at ratio ``rho``.

    Under ``L(N) = (N_c / N)^alpha`` and ``N_eff = N (1 - rho)^beta``,
    ``L_rho / L_0 = (1 - rho)^(-alpha beta)``, so ``beta = ln(L_rho / L_0) / (alpha ln(1 / (1 - rho)))``.
    Vectorised; ``rho`` in ``(0, 1)``, ``loss_ratio > 0``.
    """
    q = np.asarray(loss_ratio, dtype=float)
    r = np.asarray(rho, dtype=float)
    if np.any(~(q > 0)) or np.any((r <= 0) | (r >= 1)):
        raise ValueError(f"need loss_ratio in (0, inf) and rho in (0, 1); got {loss_ratio!r}, {rho!r}")
    check_real("alpha", alpha, 0.0, lo_open=True)
    return np.log(q) / (alpha * -np.log1p(-r))


def pruning_loss(model, input_ids, attention_mask, ratios: Sequence[float]) -> np.ndarray:
    """Next-token loss (nats per token) of a causal LM after global magnitude pruning at each ratio.

    Prunes a copy of ``model`` with :func:`coinfer.pruning.prune` (the pruning of the system model:
    global, unstructured, by magnitude, no reconstruction) and evaluates ``ln`` of
    :func:`coinfer.coinference.logits_perplexity` on the given tokens. ``model`` is not modified.
    Returns an array of the same length as ``ratios``.
    """
    import torch

    from .coinference import full_forward, logits_perplexity
    from .pruning import prune

    out = []
    with torch.no_grad():
        for r in ratios:
            r = check_real("ratio", r, 0.0, 1.0, hi_open=True)
            m = prune(model, r).model if r > 0 else model
            logits = full_forward(m, input_ids, attention_mask)
            out.append(math.log(logits_perplexity(logits, input_ids, attention_mask)))
    return np.array(out)
