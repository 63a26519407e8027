"""Latency and device energy of operating points: the cost model of co-inference.

A device runs blocks ``1..s`` of a pruned model, sends the block-``s`` features over a wireless uplink,
and an edge server runs the rest (book chapter "The co-inference system"). Units are SI throughout:
Hz, W, J, s, bits, FLOPs. The uplink rate and the uplink time, power and energy are written here once
and used by the optimiser, the baselines and the reference solvers.

:func:`evaluate` gives the latency and energy breakdown of operating points; :func:`undominated_splits`
and :func:`deadline_rho` are exact facts of the model that narrow the search (the split points that
can be optimal, and the least pruning the deadline alone demands).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..validation import check_real, check_reals, check_splits
from .scenario import Scenario, Uplink
from .work import WorkCurve

__all__ = [
    "rate",
    "uplink_time",
    "uplink_power",
    "uplink_energy",
    "Breakdown",
    "evaluate",
    "pruning_kinds",
    "work_curve",
    "undominated_splits",
    "deadline_rho",
]

_LN2 = math.log(2.0)


def rate(power, uplink: Uplink, gain=None) -> np.ndarray:
    """Uplink rate ``r = B log2(1 + p g / (N0 B))`` in bit/s, vectorised over ``power`` (W, ``>= 0``).

    ``gain`` (linear, ``> 0``, broadcast against ``power``) replaces ``uplink.gain`` when given, e.g.
    one fading realisation per point.
    """
    if not isinstance(uplink, Uplink):
        raise TypeError(f"uplink must be an Uplink; got {type(uplink).__name__}")
    p = check_reals("power", power, 0.0, math.inf, True, "W")
    g = uplink.gain if gain is None else check_reals("gain", gain, 0.0, math.inf, True, "")
    if gain is not None and g.size and g.min() <= 0:
        raise ValueError(f"gain must be in (0, inf); got {gain!r}")
    snr = p * g / (uplink.noise_psd * uplink.bandwidth)
    return uplink.bandwidth * np.log1p(snr) / math.log(2.0)


def uplink_time(bits, power, uplink: Uplink, gain=None) -> np.ndarray:
    """Seconds ``S / r(p)`` to send ``bits`` at ``power`` W; 0 when nothing is sent, ``inf`` at zero
    power with bits to send. Vectorised (broadcast); ``gain`` as in :func:`rate`."""
    s = np.asarray(bits, dtype=float)
    r = rate(power, uplink, gain)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(s > 0, s / np.where(r > 0, r, 1.0), 0.0)
    return np.where((s > 0) & (r <= 0), np.inf, t)


def uplink_power(t_uplink, bits, uplink: Uplink, gain=None) -> np.ndarray:
    """Power in W that sends ``bits`` in ``t_uplink`` seconds: ``(N0 B / g)(2^(S/(B t)) - 1)``.

    Vectorised; computed as ``expm1(S ln2 / (B t))`` so that it is exact for small exponents and
    ``+inf`` (never an overflow error) for large ones. ``bits = 0`` needs no power; ``t = 0`` with
    ``bits > 0`` needs infinite power. ``gain`` (linear) replaces ``uplink.gain`` when given.
    """
    t = np.asarray(t_uplink, dtype=float)
    s = np.asarray(bits, dtype=float)
    g = uplink.gain if gain is None else np.asarray(gain, dtype=float)
    c = uplink.noise_psd * uplink.bandwidth / g
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        x = s * _LN2 / (uplink.bandwidth * t)
        out = c * np.expm1(np.minimum(x, 1e4))  # exp(1e4) is already inf: cap avoids inf*0 cases
    return np.where(s == 0, 0.0, np.where(t > 0, out, np.inf))


def uplink_energy(t_uplink, bits, uplink: Uplink, gain=None) -> np.ndarray:
    """Uplink energy in J, ``Eu = t (N0 B / g)(2^(S/(B t)) - 1)``, of sending ``bits`` in ``t`` s.

    Convex and decreasing in ``t``; overflow-safe (returns ``+inf`` instead of overflowing).
    """
    t = np.asarray(t_uplink, dtype=float)
    p = uplink_power(t, bits, uplink, gain)
    with np.errstate(invalid="ignore", over="ignore"):
        e = p * t
    return np.where(np.asarray(bits, dtype=float) == 0, 0.0, np.where(np.isfinite(p), e, np.inf))


@dataclass(frozen=True)
class Breakdown:
    """Latency (s) and device energy (J) of operating points, by part, with the constraint checks.

    All fields are numpy arrays broadcast from the inputs of :func:`evaluate`. ``latency_ok`` and
    ``energy_ok`` are the two budget constraints, ``box_ok`` the box limits (``rho <= rho_max``,
    ``power <= p_max``, ``freq <= f_max``, ``split >= min_split``), ``feasible`` all three.
    """

    t_device: np.ndarray
    t_uplink: np.ndarray
    t_server: np.ndarray
    e_device: np.ndarray
    e_uplink: np.ndarray
    latency: np.ndarray
    energy: np.ndarray
    latency_ok: np.ndarray
    energy_ok: np.ndarray
    feasible: np.ndarray
    box_ok: np.ndarray | None = None

    def violations(self, index=()) -> list[str]:
        """Which limits the operating point at ``index`` breaks, as readable strings (empty if feasible)."""
        out = []
        if not bool(np.asarray(self.latency_ok)[index]):
            out.append(f"latency {float(np.asarray(self.latency)[index]):.4g} s over budget")
        if not bool(np.asarray(self.energy_ok)[index]):
            out.append(f"energy {float(np.asarray(self.energy)[index]):.4g} J over budget")
        if self.box_ok is not None and not bool(np.asarray(self.box_ok)[index]):
            out.append("outside the box limits (rho_max, p_max, f_max or min_split)")
        return out


def pruning_kinds(scenario: Scenario) -> tuple[str, ...]:
    """The pruning kinds a scenario can run: its work curves' kinds, or ``("paper",)`` without."""
    return tuple(w.pruning for w in scenario.work) if scenario.work else ("paper",)


def work_curve(scenario: Scenario, pruning: str | None = None) -> WorkCurve | None:
    """The work curve of ``pruning`` in ``scenario``, or ``None`` for the paper's work model.

    ``pruning=None`` means the only kind there is (the paper's model without curves, the one curve
    with one); with several curves it must be given.
    """
    kinds = pruning_kinds(scenario)
    if pruning is None:
        if len(kinds) > 1:
            raise ValueError(
                f"pruning must be one of {kinds} (the scenario has several work curves)"
            )
        pruning = kinds[0]
    if pruning not in kinds:
        raise ValueError(f"pruning must be one of {kinds}; got {pruning!r}")
    for w in scenario.work:
        if w.pruning == pruning:
            return w
    return None


def evaluate(
    scenario: Scenario,
    split,
    rho,
    power,
    freq,
    rtol: float = 1e-9,
    gain=None,
    pruning: str | None = None,
) -> Breakdown:
    """Latency and energy breakdown of operating points ``(split, rho, power, freq)``.

    Paper's work model (no work curves): ``t_device = Wd / (phi_d f)``,
    ``e_device = kappa (Wd / phi_d) f^2``, ``t_server = Ws / Phi_s``. With a work curve
    (:class:`~coinfer.system.work.WorkCurve`, chosen by ``pruning``): ``w = curve.cycles(rho, s)``
    device cycles, ``t_device = w / f``, ``e_device = kappa w f^2`` and
    ``t_server = curve.server_time(rho, s)``. The uplink is the same in both:
    ``t_uplink = S(s) / r(p)``, ``e_uplink = p t_uplink``. Units: s and J.

    Vectorised: the four arguments broadcast against each other. Conventions at the corners:
    ``split = L`` sends nothing, so ``t_uplink = e_uplink = 0`` whatever the power; ``split = 0``
    computes nothing on the device (paper's model). A split below ``L`` at zero power is treated as
    "the features never arrive": ``t_uplink = e_uplink = inf``, so the point is infeasible. The
    energy is a convention, not a limit: as ``p -> 0`` the uplink time ``S ln2 / (B ln(1 + p g /
    (N0 B)))`` tends to infinity while ``p t_uplink`` tends to the finite ``N0 S ln2 / g``. It is
    harmless: a point at ``p = 0`` misses every finite latency limit whatever its energy, and the
    optimiser needs a finite latency limit. ``latency_ok`` and ``energy_ok`` allow a relative slack
    ``rtol``. ``feasible`` also checks the box limits (``rho`` in ``[0, rho_max]``, ``power`` in
    ``[0, p_max]``, ``freq`` in ``(0, f_max]``, ``split`` in ``[min_split, L]``): values outside
    them are evaluated, and flagged in ``box_ok``.

    Args:
        scenario: the instance.
        split: split point(s) ``s``, integers in ``[0, L]``.
        rho: pruning ratio(s) in ``[0, 1)``.
        power: transmit power(s) in W, finite and ``>= 0``.
        freq: device clock(s) in Hz, finite and ``> 0``.
        rtol: relative slack of the constraint checks, in ``[0, 1)``.
        gain: channel power gain(s), linear, broadcast with the points; default ``uplink.gain``.
        pruning: the pruning kind whose work curve applies (see :func:`work_curve`); ``None`` for
            the only kind there is.
    """
    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a Scenario; got {type(scenario).__name__}")
    rtol = check_real("rtol", rtol, 0.0, 1.0, hi_open=True)
    curve = work_curve(scenario, pruning)
    prof, dev, up, srv, bud = (
        scenario.profile,
        scenario.device,
        scenario.uplink,
        scenario.server,
        scenario.budget,
    )
    s = check_splits(split, prof.n_blocks)
    r = check_reals("rho", rho, 0.0, 1.0, True, "")
    p = check_reals("power", power, 0.0, math.inf, True, "W")
    f = check_reals("freq", freq, 0.0, math.inf, True, "Hz")
    if f.size and f.min() <= 0:
        raise ValueError(f"freq must be in (0, inf) Hz; got {freq!r}")
    g = up.gain if gain is None else gain
    s, r, p, f, g = np.broadcast_arrays(s, r, p, f, g)

    if curve is None:
        cycles = prof.device_flops(r, s) / dev.flops_per_cycle
        t_srv = prof.server_flops(r, s) / srv.flops
    else:
        cycles = curve.cycles(r, s)
        t_srv = curve.server_time(r, s)
    bits = prof.bits(s)
    t_dev = cycles / f
    e_dev = dev.kappa * cycles * f**2
    t_up = uplink_time(bits, p, up, g)  # inf where features are sent at zero power: never arrive
    with np.errstate(invalid="ignore"):
        e_up = np.where(bits > 0, np.where(np.isfinite(t_up), p * t_up, np.inf), 0.0)
    latency = t_dev + t_up + t_srv
    energy = e_dev + e_up
    lat_ok = latency <= bud.latency * (1.0 + rtol)
    en_ok = energy <= bud.energy * (1.0 + rtol)
    box = (
        (r <= scenario.rho_max * (1.0 + rtol))
        & (p <= dev.p_max * (1.0 + rtol))
        & (f <= dev.f_max * (1.0 + rtol))
        & (s >= scenario.min_split)
    )
    return Breakdown(
        t_device=t_dev,
        t_uplink=t_up,
        t_server=t_srv,
        e_device=e_dev,
        e_uplink=e_up,
        latency=latency,
        energy=energy,
        latency_ok=lat_ok,
        energy_ok=en_ok,
        feasible=lat_ok & en_ok & box,
        box_ok=box,
    )


def undominated_splits(scenario: Scenario) -> np.ndarray:
    """The split points in ``[min_split, L]`` that can be optimal, by a dominance argument.

    When the device at full clock is no faster than the server (``phi_d f_max <= Phi_s``), moving a
    block from the server to the device never lowers latency and always raises device energy, for
    every ``(rho, p, f)``. So split ``s`` is dominated by any ``s' in [min_split, s)`` that sends no
    more bits (``S(s') <= S(s)``): the same ``(rho, p, f)`` at ``s'`` is no slower and costs no more
    device energy. With constant width this leaves ``{min_split, L}`` (split ``0`` sends token ids,
    fewer bits than features, so it dominates every interior split when allowed). When the device
    can be faster than the server, every split is returned.

    Returns:
        the undominated splits, increasing, as an int array.
    """
    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a Scenario; got {type(scenario).__name__}")
    L = scenario.profile.n_blocks
    splits = np.arange(scenario.min_split, L + 1)
    if scenario.device.flops_per_cycle * scenario.device.f_max > scenario.server.flops:
        return splits
    bits = scenario.profile.bits(splits)
    # least bits sent by any earlier allowed split; the first split has no earlier one
    earlier = np.concatenate([[np.inf], np.minimum.accumulate(bits)[:-1]])
    return splits[bits < earlier]


def deadline_rho(scenario: Scenario, split: int | np.ndarray) -> np.ndarray:
    """The least pruning ratio that meets the latency limit alone at split ``s``, vectorised over ``split``.

    Latency falls with the clock and the power, so the deadline is easiest at ``(p_max, f_max)``,
    where it is affine in ``rho``: ``T(rho) = (1 - rho) A_s + B_s`` with ``A_s`` the weight-FLOP
    time and ``B_s`` the activation-FLOP and uplink time. The result is
    ``max(0, 1 - (T_max - B_s) / A_s)``, a lower bound on the optimal ``rho`` at that split (the
    energy limit can only raise it). It may exceed ``rho_max``; it is ``inf`` when even ``rho -> 1``
    misses the deadline. Dimensionless.
    """
    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a Scenario; got {type(scenario).__name__}")
    prof, dev, srv = scenario.profile, scenario.device, scenario.server
    s = check_splits(split, prof.n_blocks)
    # (1 - rho) is the only rho-dependence: split the latency at rho = 0 and rho -> 1
    at0 = evaluate(scenario, s, 0.0, dev.p_max, dev.f_max)
    fixed = (
        prof.device_flops(1.0, s) / (dev.flops_per_cycle * dev.f_max)
        + prof.server_flops(1.0, s) / srv.flops
        + at0.t_uplink
    )
    pruned = at0.latency - fixed
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where(pruned > 0, 1.0 - (scenario.budget.latency - fixed) / pruned, -np.inf)
    rho = np.where(fixed >= scenario.budget.latency, np.inf, np.maximum(rho, 0.0))
    return rho
