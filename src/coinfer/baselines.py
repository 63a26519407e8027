"""The benchmarks the joint design is compared with (DESIGN.md section 5).

Each baseline removes one degree of freedom from the joint problem and returns the same
:class:`coinfer.optimize.Solution` as the optimiser :func:`coinfer.optimize.solve`:

==================  =========================================================================
name                what is fixed (everything else is optimised)
==================  =========================================================================
``on_device``       split ``s = L``: the device runs the whole model and sends nothing
``on_server``       split ``s = 0``: the device sends the raw token ids (privacy floor lifted)
``fixed_split``     a given split ``s``
``fixed_rho``       the pruning ratio ``rho`` (split, power and clock chosen for least energy)
``max_resources``   ``p = p_max`` and ``f = f_max`` (only ``rho`` and the split chosen)
==================  =========================================================================

Every baseline is feasible exactly when its returned ``Solution.feasible`` says so, and the joint
optimiser is never worse than any of them on the same instance (``on_server`` is compared with the
optimiser on the same instance with ``min_split = 0``): the tests check both.

The batch versions (``*_batch``) take an array of channel gains and return a :class:`BatchResult`
of arrays, for Monte Carlo over fading.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .system import Scenario, evaluate
from .validation import check_array, check_int, check_real

__all__ = [
    "LeastEnergy",
    "least_energy",
    "least_rho_at_split",
    "least_rho_at_max_resources",
    "BatchResult",
    "on_device",
    "on_server",
    "fixed_split",
    "fixed_rho",
    "max_resources",
    "on_device_batch",
    "on_server_batch",
    "fixed_split_batch",
    "fixed_rho_batch",
    "max_resources_batch",
    "proposed_batch",
    "run_method",
    "BASELINES",
    "DEFAULT_FIXED_RHO",
]

_LN2 = math.log(2.0)


def _gains(scenario: Scenario, gains) -> np.ndarray:
    if gains is None:
        return np.array([scenario.uplink.gain])
    return check_array("gains", gains, ndim=1, lo=0.0, lo_open=True)


def _split(scenario: Scenario, split, lo: int | None = None) -> int:
    L = scenario.profile.n_blocks
    return check_int("split", split, scenario.min_split if lo is None else lo, L)


def _rate(power, gains, scenario: Scenario):
    """Uplink rate in bit/s at ``power`` W over channel ``gains`` (broadcast)."""
    up = scenario.uplink
    return up.bandwidth * np.log1p(power * gains / (up.noise_psd * up.bandwidth)) / _LN2


@dataclass(frozen=True)
class LeastEnergy:
    """The least device energy at a fixed ``(split, rho)`` under the latency limit, per channel gain.

    Attributes (arrays over the gains):
        energy: least ``Ed + Eu`` in J (``inf`` where the latency limit cannot be met).
        power: transmit power ``p`` in W that attains it.
        freq: device clock ``f`` in Hz that attains it.
        t_device, t_uplink: the time shares in s.
        latency_feasible: the latency limit can be met within ``f_max`` and ``p_max``.
        feasible: ``latency_feasible`` and ``energy <= E_max``.
    """

    energy: np.ndarray
    power: np.ndarray
    freq: np.ndarray
    t_device: np.ndarray
    t_uplink: np.ndarray
    latency_feasible: np.ndarray
    feasible: np.ndarray


def least_energy(
    scenario: Scenario, split: int, rho: float, gains=None, *, iters: int = 100
) -> LeastEnergy:
    """Least device energy at fixed ``(split, rho)`` over ``(p, f)``, vectorised over channel ``gains``.

    With the work fixed, the device energy ``kappa C^3 / Td^2`` (``C = Wd / phi_d`` cycles) and the uplink
    energy ``Tu (N0 B / g)(2^(S/(B Tu)) - 1)`` are convex and decreasing in their time shares, so the
    optimum uses the whole latency budget left by the server, ``Td + Tu = T_max - Ws / Phi_s``, and
    equalises the two marginal energies (or sits at a box limit ``Td = C / f_max``,
    ``Tu = S / r(p_max)``). The marginal condition is monotone in ``Td`` and is solved by bisection.

    Args:
        scenario: the instance (its own gain is used when ``gains`` is None).
        split: split point ``s`` in ``[0, L]`` (the privacy floor is not enforced here).
        rho: pruning ratio in ``[0, rho_max]``.
        gains: channel power gains, 1-d array (linear), or None.
        iters: bisection steps (100 reach float precision).
    """
    L = scenario.profile.n_blocks
    s = check_int("split", split, 0, L)
    rho = check_real("rho", rho, 0.0, scenario.rho_max)
    return _least_energy(scenario, s, np.array(rho), _gains(scenario, gains), iters)


def _least_energy(scenario: Scenario, s: int, rho: np.ndarray, g: np.ndarray, iters: int = 100):
    """:func:`least_energy` without input checks; ``rho`` and ``g`` broadcast against each other."""
    prof, dev, up, bud = scenario.profile, scenario.device, scenario.uplink, scenario.budget
    rho, g = np.broadcast_arrays(np.asarray(rho, dtype=float), np.asarray(g, dtype=float))
    cycles = prof.device_flops(rho, s) / dev.flops_per_cycle
    bits = float(prof.bits(s))
    t_avail = bud.latency - prof.server_flops(rho, s) / scenario.server.flops
    a = up.noise_psd * up.bandwidth / g  # W: power for unit SNR
    t_dev_min = cycles / dev.f_max
    t_up_min = bits / _rate(dev.p_max, g, scenario) if bits > 0 else np.zeros_like(g)
    lat_ok = t_dev_min + t_up_min <= t_avail * (1 + 1e-12)
    lo = t_dev_min
    hi = np.maximum(t_avail - t_up_min, lo)

    def d_up(tu):  # dEu/dTu, <= 0
        x = bits / (up.bandwidth * tu)
        return a * (np.exp2(x) * (1.0 - x * _LN2) - 1.0)

    if s == 0:  # nothing computed on the device
        t_dev = np.zeros_like(g)
    elif bits == 0.0:  # s = L: nothing sent, all the time goes to the device
        t_dev = hi.copy()
    else:
        # h(Td) = dEd/dTd - dEu/dTu at Tu = t_avail - Td is increasing in Td; find its root in [lo, hi].
        kc3 = dev.kappa * cycles**3
        left, right = lo.copy(), hi.copy()
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for _ in range(iters):
                mid = 0.5 * (left + right)
                h = -2.0 * kc3 / mid**3 - d_up(t_avail - mid)
                pos = h > 0
                right = np.where(pos, mid, right)
                left = np.where(pos, left, mid)
        t_dev = np.clip(0.5 * (left + right), lo, hi)
    t_up = t_avail - t_dev if bits > 0 else np.zeros_like(g)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        freq = cycles / t_dev if s > 0 else np.full_like(g, dev.f_max)
        power = a * np.expm1(bits / (up.bandwidth * t_up) * _LN2) if bits > 0 else np.zeros_like(g)
    freq = np.minimum(freq, dev.f_max)
    power = np.minimum(power, dev.p_max)
    energy = dev.kappa * cycles * freq**2 + (power * t_up if bits > 0 else 0.0)
    energy = np.where(lat_ok, energy, np.inf)
    freq = np.where(lat_ok, freq, dev.f_max)
    power = np.where(lat_ok, power, dev.p_max if bits > 0 else 0.0)
    return LeastEnergy(
        energy=energy,
        power=power,
        freq=freq,
        t_device=np.where(lat_ok, t_dev, t_dev_min),
        t_uplink=np.where(lat_ok, t_up, t_up_min),
        latency_feasible=lat_ok,
        feasible=lat_ok & (energy <= bud.energy * (1 + 1e-9)),
    )


def least_rho_at_split(scenario: Scenario, split: int, gains=None, *, iters: int = 60) -> np.ndarray:
    """Smallest feasible ``rho`` at a fixed ``split`` with ``(p, f)`` optimised; ``nan`` where none is.

    The least energy at fixed ``(split, rho)`` does not increase with ``rho`` (pruning only removes work),
    so feasibility is monotone in ``rho`` and bisection finds the threshold to ``rho_max 2^-iters``.
    Vectorised over ``gains``. This is an independent re-implementation used to cross-check
    :func:`coinfer.optimize.solve` in the tests.
    """
    L = scenario.profile.n_blocks
    s = check_int("split", split, 0, L)
    g = _gains(scenario, gains)
    ok0 = _least_energy(scenario, s, np.zeros_like(g), g).feasible
    okmax = _least_energy(scenario, s, np.full_like(g, scenario.rho_max), g).feasible
    left, right = np.zeros_like(g), np.full_like(g, scenario.rho_max)
    for _ in range(iters):
        mid = 0.5 * (left + right)
        ok = _least_energy(scenario, s, mid, g, iters=60).feasible
        right = np.where(ok, mid, right)
        left = np.where(ok, left, mid)
    return np.where(ok0, 0.0, np.where(okmax, right, np.nan))


def least_rho_at_max_resources(scenario: Scenario, split: int, gains=None) -> np.ndarray:
    """Smallest ``rho`` meeting both limits at ``p = p_max``, ``f = f_max``; ``nan`` where none does.

    At full power and clock, latency and energy are affine and non-increasing in ``rho`` (pruning only
    shrinks weight FLOPs; the uplink term does not depend on ``rho``), so the least feasible ratio is the
    largest of the two crossing points, clipped at 0. Vectorised over ``gains``.
    """
    L = scenario.profile.n_blocks
    s = check_int("split", split, 0, L)
    g = _gains(scenario, gains)
    dev, bud = scenario.device, scenario.budget
    bits = float(scenario.profile.bits(s))
    t_up = bits / _rate(dev.p_max, g, scenario) if bits > 0 else np.zeros_like(g)
    e_up = dev.p_max * t_up
    # The compute parts at rho = 0 and their slopes in rho, from the system model itself.
    b0 = evaluate(scenario, s, 0.0, dev.p_max, dev.f_max)
    b1 = evaluate(scenario, s, 0.5, dev.p_max, dev.f_max)
    t0 = float(b0.t_device + b0.t_server)
    e0 = float(b0.e_device)
    t_slope = 2.0 * (t0 - float(b1.t_device + b1.t_server))
    e_slope = 2.0 * (e0 - float(b1.e_device))
    with np.errstate(divide="ignore", invalid="ignore"):
        need_t = np.where(
            t0 + t_up <= bud.latency, 0.0, (t0 + t_up - bud.latency) / max(t_slope, 0.0)
        )
        need_e = np.where(e0 + e_up <= bud.energy, 0.0, (e0 + e_up - bud.energy) / max(e_slope, 0.0))
    rho = np.maximum(need_t, need_e)
    # 1e-12 relative slack: the affine crossing is computed, not searched, so it sits on the boundary.
    rho = np.minimum(rho * (1 + 1e-12), np.nextafter(1.0, 0.0))
    return np.where(np.isfinite(rho) & (rho <= scenario.rho_max), rho, np.nan)


@dataclass(frozen=True)
class BatchResult:
    """One method over an array of channel gains (Monte Carlo). Arrays have the gains' shape.

    Attributes:
        method: the method's name (see :func:`run_method`).
        objective: distortion bound ``Dbar(rho)`` (``nan`` where infeasible).
        rho: pruning ratio (``nan`` where infeasible).
        split: split point (``-1`` where infeasible).
        power: transmit power in W; ``freq``: device clock in Hz (``nan`` where infeasible).
        energy: device energy in J; ``latency``: end-to-end latency in s (``nan`` where infeasible).
        feasible: whether the method meets both limits.
    """

    method: str
    objective: np.ndarray
    rho: np.ndarray
    split: np.ndarray
    power: np.ndarray
    freq: np.ndarray
    energy: np.ndarray
    latency: np.ndarray
    feasible: np.ndarray


def _batch(method, scenario, feasible, rho, split, power, freq, energy, latency) -> BatchResult:
    feasible = np.asarray(feasible, dtype=bool)

    def mask(x):
        return np.where(feasible, np.asarray(x, dtype=float), np.nan)

    rho = mask(rho)
    objective = np.full(rho.shape, np.nan)
    objective[feasible] = scenario.bound(rho[feasible])
    return BatchResult(
        method=method,
        objective=objective,
        rho=rho,
        split=np.where(feasible, np.asarray(split), -1).astype(int),
        power=mask(power),
        freq=mask(freq),
        energy=mask(energy),
        latency=mask(latency),
        feasible=feasible,
    )


def _t_server(scenario: Scenario, rho, split):
    return scenario.profile.server_flops(rho, split) / scenario.server.flops


def fixed_rho_batch(scenario: Scenario, rho: float = 0.5, gains=None) -> BatchResult:
    """Fixed pruning ratio ``rho``; per gain, the split and ``(p, f)`` of least device energy.

    Feasible where some split in ``[min_split, L]`` meets the latency limit with energy at most
    ``E_max``.
    """
    rho = check_real("rho", rho, 0.0, scenario.rho_max)
    g = _gains(scenario, gains)
    splits = range(scenario.min_split, scenario.profile.n_blocks + 1)
    points = [_least_energy(scenario, s, np.full_like(g, rho), g) for s in splits]
    energy = np.stack([le.energy for le in points])  # (n_splits, n_gains), inf where latency fails
    k = np.argmin(energy, axis=0)
    cols = np.arange(g.shape[0])

    def pick(field):
        return np.stack([getattr(le, field) for le in points])[k, cols]

    best_s = np.where(np.isfinite(energy[k, cols]), np.asarray(splits)[k], -1)
    s_safe = np.maximum(best_s, 0)
    latency = pick("t_device") + pick("t_uplink") + _t_server(scenario, rho, s_safe)
    return _batch(
        "fixed-rho", scenario, pick("feasible"), np.full_like(g, rho), best_s,
        pick("power"), pick("freq"), pick("energy"), latency,
    )


def max_resources_batch(scenario: Scenario, gains=None) -> BatchResult:
    """Transmit at ``p_max`` and compute at ``f_max``; per gain, the split with the least feasible ``rho``
    (ties: the least energy)."""
    g = _gains(scenario, gains)
    dev = scenario.device
    best_rho = np.full(g.shape, np.inf)
    best_e = np.full(g.shape, np.inf)
    best_s = np.full(g.shape, -1)
    for s in range(scenario.min_split, scenario.profile.n_blocks + 1):
        r = least_rho_at_max_resources(scenario, s, g)
        ok = np.isfinite(r)
        rr = np.where(ok, r, 0.0)
        bits = float(scenario.profile.bits(s))
        e_up = dev.p_max * bits / _rate(dev.p_max, g, scenario) if bits > 0 else 0.0
        cycles = scenario.profile.device_flops(rr, s) / dev.flops_per_cycle
        e = dev.kappa * cycles * dev.f_max**2 + e_up
        better = ok & ((rr < best_rho) | ((rr == best_rho) & (e < best_e)))
        best_rho = np.where(better, rr, best_rho)
        best_e = np.where(better, e, best_e)
        best_s = np.where(better, s, best_s)
    feasible = best_s >= 0
    rho = np.where(feasible, best_rho, 0.0)
    s = np.maximum(best_s, 0)
    bits = scenario.profile.bits(s)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_up = np.where(bits > 0, bits / _rate(dev.p_max, g, scenario), 0.0)
    t_dev = scenario.profile.device_flops(rho, s) / (dev.flops_per_cycle * dev.f_max)
    latency = t_dev + t_up + _t_server(scenario, rho, s)
    power = np.where(bits > 0, dev.p_max, 0.0)
    freq = np.full(g.shape, dev.f_max)
    return _batch("max-resources", scenario, feasible, rho, best_s, power, freq, best_e, latency)


def _from_optimizer(method: str, scenario: Scenario, res) -> BatchResult:
    return _batch(
        method, scenario, res.feasible, res.rho, res.split, res.power, res.freq, res.energy, res.latency
    )


def fixed_split_batch(scenario: Scenario, split: int, gains=None) -> BatchResult:
    """The joint optimiser with the split fixed at ``split`` (in ``[min_split, L]``), over ``gains``."""
    from .optimize import solve_batch

    s = _split(scenario, split)
    res = solve_batch(scenario, _gains(scenario, gains), split=s)
    return _from_optimizer(f"split-{s}", scenario, res)


def on_device_batch(scenario: Scenario, gains=None) -> BatchResult:
    """Fully on-device inference (``s = L``: nothing is sent), ``rho`` and ``f`` optimised."""
    from .optimize import solve_batch

    L = scenario.profile.n_blocks
    res = solve_batch(scenario, _gains(scenario, gains), split=L)
    return _from_optimizer("on-device", scenario, res)


def on_server_batch(scenario: Scenario, gains=None) -> BatchResult:
    """Fully on-server inference (``s = 0``: the raw token ids are sent; the privacy floor is lifted),
    ``rho`` and ``p`` optimised."""
    from .optimize import solve_batch

    sc = scenario.replace(min_split=0)
    return _from_optimizer("on-server", sc, solve_batch(sc, _gains(scenario, gains), split=0))


def proposed_batch(scenario: Scenario, gains=None) -> BatchResult:
    """The joint design (:func:`coinfer.optimize.solve_batch` over all splits), over ``gains``."""
    from .optimize import solve_batch

    return _from_optimizer("proposed", scenario, solve_batch(scenario, _gains(scenario, gains)))


#: Method names accepted by :func:`run_method` (plus ``"split-<s>"`` and ``"fixed-rho-<rho>"``).
BASELINES = ("proposed", "on-device", "on-server", "fixed-rho", "max-resources")

#: The pruning ratio of the ``"fixed-rho"`` baseline when none is given in its name.
DEFAULT_FIXED_RHO = 0.5


def run_method(name: str, scenario: Scenario, gains=None) -> BatchResult:
    """Run a method by name over channel ``gains`` (None: the scenario's own gain).

    Names: ``"proposed"``, ``"on-device"``, ``"on-server"``, ``"max-resources"``, ``"fixed-rho"``
    (at :data:`DEFAULT_FIXED_RHO`), ``"fixed-rho-<rho>"`` (e.g. ``"fixed-rho-0.3"``), ``"split-<s>"``.
    """
    if name == "proposed":
        return proposed_batch(scenario, gains)
    if name == "on-device":
        return on_device_batch(scenario, gains)
    if name == "on-server":
        return on_server_batch(scenario, gains)
    if name == "max-resources":
        return max_resources_batch(scenario, gains)
    if name == "fixed-rho":
        return fixed_rho_batch(scenario, DEFAULT_FIXED_RHO, gains)
    if name.startswith("fixed-rho-"):
        res = fixed_rho_batch(scenario, float(name[len("fixed-rho-"):]), gains)
        return BatchResult(**{**res.__dict__, "method": name})
    if name.startswith("split-") and name[len("split-"):].isdigit():
        return fixed_split_batch(scenario, int(name[len("split-"):]), gains)
    raise ValueError(
        f"name must be one of {', '.join(BASELINES)}, 'fixed-rho-<rho>' or 'split-<s>'; got {name!r}"
    )


# --------------------------------------------------------------------------------------------------
# Single instances: the same Solution type as coinfer.optimize.solve
# --------------------------------------------------------------------------------------------------


def _solution(scenario: Scenario, res: BatchResult, reason: str):
    """The first entry of ``res`` as a :class:`coinfer.optimize.Solution`, re-checked with
    :func:`coinfer.system.evaluate` so that ``feasible`` is the system model's own verdict."""
    from .optimize import Solution, infeasible_solution

    if not bool(res.feasible[0]):
        return infeasible_solution(scenario, None, reason, method=res.method)
    s, rho, p, f = int(res.split[0]), float(res.rho[0]), float(res.power[0]), float(res.freq[0])
    bd = evaluate(scenario, s, rho, p, f)
    ok = bool(bd.feasible)
    return Solution(
        split=s,
        rho=rho,
        power=p,
        freq=f,
        latency=float(bd.latency),
        energy=float(bd.energy),
        objective=float(scenario.bound(rho)),
        feasible=ok,
        reason="" if ok else "the baseline's point violates a limit of the system model",
        t_device=float(bd.t_device),
        t_uplink=float(bd.t_uplink),
        t_server=float(bd.t_server),
        e_device=float(bd.e_device),
        e_uplink=float(bd.e_uplink),
        method=res.method,
    )


def on_device(scenario: Scenario):
    """Fully on-device inference (``s = L``): :func:`coinfer.optimize.solve` with the split fixed."""
    import dataclasses

    from .optimize import solve

    return dataclasses.replace(solve(scenario, split=scenario.profile.n_blocks), method="on-device")


def on_server(scenario: Scenario):
    """Fully on-server inference (``s = 0``), the privacy floor lifted for this baseline only."""
    import dataclasses

    from .optimize import solve

    return dataclasses.replace(solve(scenario.replace(min_split=0), split=0), method="on-server")


def fixed_split(scenario: Scenario, split: int):
    """The joint optimiser with the split fixed at ``split`` in ``[min_split, L]``."""
    import dataclasses

    from .optimize import solve

    s = _split(scenario, split)
    return dataclasses.replace(solve(scenario, split=s), method=f"split-{s}")


def fixed_rho(scenario: Scenario, rho: float = DEFAULT_FIXED_RHO):
    """A fixed pruning ratio ``rho``: the split, power and clock of least device energy at that ratio.

    Infeasible when no split meets both limits at ``rho``.
    """
    rho = check_real("rho", rho, 0.0, scenario.rho_max)
    res = fixed_rho_batch(scenario, rho)
    reason = (
        f"no split meets T_max = {scenario.budget.latency:.6g} s and E_max = "
        f"{scenario.budget.energy:.6g} J at the fixed rho = {rho:.6g}"
    )
    return _solution(scenario, res, reason)


def max_resources(scenario: Scenario):
    """Full power ``p_max`` and full clock ``f_max``; the least feasible ``rho`` and its split."""
    reason = (
        f"no split meets T_max = {scenario.budget.latency:.6g} s and E_max = "
        f"{scenario.budget.energy:.6g} J at p_max and f_max with rho <= rho_max = {scenario.rho_max:.6g}"
    )
    return _solution(scenario, max_resources_batch(scenario), reason)
