"""The co-inference system model (DESIGN.md section 2), with its symbols.

A device runs blocks ``1..s`` of a pruned model, sends the block-``s`` features over a wireless uplink,
and an edge server runs the rest. Units are SI throughout: Hz, W, J, s, bits, FLOPs.

Symbols, as in the book chapter "The co-inference system":

===============  ======================  ====================================================
code             symbol                  meaning
===============  ======================  ====================================================
``split``        :math:`s`               split point in ``{min_split, ..., L}``
``rho``          :math:`\\rho`            pruning ratio in ``[0, rho_max]``
``power``        :math:`p`               transmit power, W
``freq``         :math:`f`               device clock, Hz
``weight_flops`` :math:`F^w_l`           weight-matmul FLOPs of block ``l`` (prunable)
``attn_flops``   :math:`F^a_l`           activation-only FLOPs of block ``l`` (not prunable)
``head_flops``   :math:`F_h`             output-head FLOPs (prunable)
``feature_bits`` :math:`S(s)`            bits sent at split ``s``
===============  ======================  ====================================================

Default values of every dataclass field come from :data:`coinfer.defaults.DEFAULTS`, the documented
parameter table. :func:`evaluate` gives the latency and energy breakdown of operating points;
:func:`undominated_splits` and :func:`deadline_rho` are exact facts of the model that narrow the search
(the split points that can be optimal, and the least pruning the deadline alone demands).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from .defaults import PATH_LOSS_DB_AT_1KM, PATH_LOSS_DB_PER_DECADE
from .defaults import default as _default
from .ratedistortion import DistortionBound
from .validation import check_array, check_int, check_real

__all__ = [
    "ModelProfile",
    "Device",
    "Uplink",
    "EdgeServer",
    "Budget",
    "Scenario",
    "Breakdown",
    "evaluate",
    "undominated_splits",
    "deadline_rho",
    "rate",
    "path_loss_db",
    "path_gain",
    "dbm_to_watt",
]


def dbm_to_watt(dbm: float) -> float:
    """Convert a power in dBm to watts."""
    dbm = check_real("dbm", dbm, unit="dBm")
    return 10.0 ** ((dbm - 30.0) / 10.0)


def path_loss_db(distance):
    """3GPP urban macro path loss ``128.1 + 37.6 log10(d / 1 km)`` in dB, for ``distance`` in metres.

    Vectorised over ``distance``; distances must be positive. Source: 3GPP TR 36.814, Table A.2.1.1.2-3.
    """
    d = np.asarray(distance, dtype=float)
    if np.any(~np.isfinite(d)) or np.any(d <= 0):
        raise ValueError(f"distance must be in (0, inf) m; got {distance!r}")
    return PATH_LOSS_DB_AT_1KM + PATH_LOSS_DB_PER_DECADE * np.log10(d / 1000.0)


def path_gain(distance):
    """Linear channel power gain of the 3GPP path loss at ``distance`` metres (no fading)."""
    return 10.0 ** (-path_loss_db(distance) / 10.0)


@dataclass(frozen=True)
class ModelProfile:
    """Per-block compute and feature sizes of one inference of a model on ``seq_len`` tokens.

    Attributes:
        weight_flops: ``(L,)`` weight-matmul FLOPs ``F^w_l`` of each block; scale by ``1 - rho``.
        attn_flops: ``(L,)`` activation-only FLOPs ``F^a_l`` (attention scores and weighted sums).
        head_flops: FLOPs ``F_h`` of the output head (weight FLOPs, prunable).
        feature_bits: ``(L + 1,)`` bits ``S(s)`` sent at split ``s = 0..L``; ``S(L) = 0``.
        name: a label, e.g. ``"gpt2-large"``.
        seq_len: number of input tokens ``n`` the profile is for (informational).
        n_params: number of prunable weights (informational; 0 if unknown).
    """

    weight_flops: np.ndarray
    attn_flops: np.ndarray
    head_flops: float
    feature_bits: np.ndarray
    name: str = ""
    seq_len: int = 0
    n_params: int = 0

    def __post_init__(self):
        wf = check_array("weight_flops", self.weight_flops, ndim=1, lo=0.0, unit="FLOPs")
        L = wf.shape[0]
        af = check_array("attn_flops", self.attn_flops, shape=(L,), lo=0.0, unit="FLOPs")
        hf = check_real("head_flops", self.head_flops, 0.0, unit="FLOPs")
        fb = check_array("feature_bits", self.feature_bits, shape=(L + 1,), lo=0.0, unit="bits")
        if fb[L] != 0.0:
            raise ValueError(
                f"feature_bits[L] (fully on-device, nothing sent) must be 0 bits; got {fb[L]:g}"
            )
        object.__setattr__(self, "weight_flops", wf)
        object.__setattr__(self, "attn_flops", af)
        object.__setattr__(self, "head_flops", hf)
        object.__setattr__(self, "feature_bits", fb)
        check_int("seq_len", self.seq_len, 0)
        check_int("n_params", self.n_params, 0)

    @property
    def n_blocks(self) -> int:
        """Number of blocks ``L``."""
        return int(self.weight_flops.shape[0])

    def _cumulative(self):
        zero = np.zeros(1)
        return (
            np.concatenate([zero, np.cumsum(self.weight_flops)]),
            np.concatenate([zero, np.cumsum(self.attn_flops)]),
        )

    def device_flops(self, rho, split):
        """Device work ``Wd(rho, s)`` in FLOPs, vectorised (broadcast) over ``rho`` and ``split``.

        ``Wd = sum_{l<=s} ((1-rho) F^w_l + F^a_l)``, plus ``(1-rho) F_h`` when ``s = L``.
        """
        cw, ca = self._cumulative()
        s = _as_splits(split, self.n_blocks)
        r = _as_reals("rho", rho, 0.0, 1.0, False, "")
        head = np.where(s == self.n_blocks, self.head_flops, 0.0)
        return (1.0 - r) * (cw[s] + head) + ca[s]

    def total_flops(self, rho):
        """Work of the whole model at pruning ratio ``rho``, in FLOPs."""
        r = _as_reals("rho", rho, 0.0, 1.0, False, "")
        return (1.0 - r) * (float(np.sum(self.weight_flops)) + self.head_flops) + float(
            np.sum(self.attn_flops)
        )

    def server_flops(self, rho, split):
        """Server work ``Ws(rho, s)`` in FLOPs: blocks ``s+1..L`` and the head (if ``s < L``)."""
        return self.total_flops(rho) - self.device_flops(rho, split)

    def bits(self, split):
        """Feature size ``S(s)`` in bits, vectorised over ``split``."""
        return self.feature_bits[_as_splits(split, self.n_blocks)]


@dataclass(frozen=True)
class Device:
    """The user device: a DVFS processor and a radio.

    Attributes:
        f_max: maximum clock ``f_max`` in Hz.
        flops_per_cycle: ``phi_d``, FLOPs per clock cycle.
        kappa: effective switched capacitance, J/(cycle Hz^2): energy per cycle is ``kappa f^2``.
        p_max: maximum transmit power in W.
    """

    f_max: float = _default("Device.f_max")
    flops_per_cycle: float = _default("Device.flops_per_cycle")
    kappa: float = _default("Device.kappa")
    p_max: float = _default("Device.p_max")

    def __post_init__(self):
        check_real("f_max", self.f_max, 0.0, lo_open=True, unit="Hz")
        check_real("flops_per_cycle", self.flops_per_cycle, 0.0, lo_open=True, unit="FLOPs/cycle")
        check_real("kappa", self.kappa, 0.0, lo_open=True, unit="J/(cycle Hz^2)")
        check_real("p_max", self.p_max, 0.0, lo_open=True, unit="W")


@dataclass(frozen=True)
class Uplink:
    """The wireless uplink from device to server.

    Attributes:
        bandwidth: ``B`` in Hz.
        noise_psd: ``N0`` in W/Hz.
        gain: channel power gain ``g`` (path loss times fading), linear.
    """

    bandwidth: float = _default("Uplink.bandwidth")
    noise_psd: float = _default("Uplink.noise_psd")
    gain: float = float(path_gain(_default("Uplink.distance")))

    def __post_init__(self):
        check_real("bandwidth", self.bandwidth, 0.0, lo_open=True, unit="Hz")
        check_real("noise_psd", self.noise_psd, 0.0, lo_open=True, unit="W/Hz")
        check_real("gain", self.gain, 0.0, lo_open=True)


@dataclass(frozen=True)
class EdgeServer:
    """The edge server: ``flops`` is its throughput ``Phi_s`` in FLOP/s."""

    flops: float = _default("EdgeServer.flops")

    def __post_init__(self):
        check_real("flops", self.flops, 0.0, lo_open=True, unit="FLOP/s")


@dataclass(frozen=True)
class Budget:
    """Per-inference limits: ``latency`` ``T_max`` in s and device ``energy`` ``E_max`` in J."""

    latency: float = _default("Budget.latency")
    energy: float = _default("Budget.energy")

    def __post_init__(self):
        check_real("latency", self.latency, 0.0, lo_open=True, unit="s", allow_inf=True)
        check_real("energy", self.energy, 0.0, lo_open=True, unit="J", allow_inf=True)


@dataclass(frozen=True)
class Scenario:
    """One co-inference problem instance.

    Attributes:
        profile: the model's :class:`ModelProfile`.
        device, uplink, server, budget: resources and limits.
        rho_max: largest allowed pruning ratio, in ``[0, 1)``.
        min_split: privacy floor on the split point, in ``[0, L]``; ``0`` allows sending raw input.
        bound: the distortion bound ``Dbar(rho)`` that is minimised (increasing in ``rho``).
    """

    profile: ModelProfile
    device: Device = field(default_factory=Device)
    uplink: Uplink = field(default_factory=Uplink)
    server: EdgeServer = field(default_factory=EdgeServer)
    budget: Budget = field(default_factory=Budget)
    rho_max: float = _default("Scenario.rho_max")
    min_split: int = _default("Scenario.min_split")
    bound: DistortionBound = field(default_factory=DistortionBound)

    def __post_init__(self):
        for name, cls in [
            ("profile", ModelProfile),
            ("device", Device),
            ("uplink", Uplink),
            ("server", EdgeServer),
            ("budget", Budget),
            ("bound", DistortionBound),
        ]:
            if not isinstance(getattr(self, name), cls):
                raise TypeError(
                    f"{name} must be a {cls.__name__}; got {type(getattr(self, name)).__name__}"
                )
        check_real("rho_max", self.rho_max, 0.0, 1.0, hi_open=True)
        check_int("min_split", self.min_split, 0, self.profile.n_blocks)

    @classmethod
    def default(
        cls, model: str = _default("model"), seq_len: int = _default("seq_len"), **overrides
    ) -> "Scenario":
        """The documented default scenario (see :data:`coinfer.defaults.DEFAULTS`).

        ``model`` names a built-in profile (:func:`coinfer.profile.builtin_profile`); keyword
        ``overrides`` replace any field (``budget=Budget(...)``, ``min_split=0``, ...).
        """
        from .profile import builtin_profile

        fields = {"profile": builtin_profile(model, seq_len)}
        fields.update(overrides)
        return cls(**fields)

    def replace(self, **changes) -> "Scenario":
        """A copy with some fields replaced (validated again)."""
        return dataclasses.replace(self, **changes)

    def with_gain(self, gain: float) -> "Scenario":
        """A copy with the channel gain replaced."""
        return self.replace(uplink=dataclasses.replace(self.uplink, gain=gain))


def rate(power, uplink: Uplink, gain=None):
    """Uplink rate ``r = B log2(1 + p g / (N0 B))`` in bit/s, vectorised over ``power`` (W, ``>= 0``).

    ``gain`` (linear, ``> 0``, broadcast against ``power``) replaces ``uplink.gain`` when given, e.g.
    one fading realisation per point.
    """
    if not isinstance(uplink, Uplink):
        raise TypeError(f"uplink must be an Uplink; got {type(uplink).__name__}")
    p = _as_reals("power", power, 0.0, math.inf, True, "W")
    g = uplink.gain if gain is None else _as_reals("gain", gain, 0.0, math.inf, True, "")
    if gain is not None and g.size and g.min() <= 0:
        raise ValueError(f"gain must be in (0, inf); got {gain!r}")
    snr = p * g / (uplink.noise_psd * uplink.bandwidth)
    return uplink.bandwidth * np.log1p(snr) / math.log(2.0)


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


def _as_splits(split, L: int) -> np.ndarray:
    s = np.asarray(split)
    numeric = np.issubdtype(s.dtype, np.integer) or np.issubdtype(s.dtype, np.floating)
    if s.dtype == bool or not numeric:
        raise TypeError(f"split must be integers in [0, {L}]; got {split!r}")
    if s.size and np.issubdtype(s.dtype, np.floating):
        if not np.all(np.isfinite(s)) or not np.all(s == np.round(s)):
            raise ValueError(f"split must be integers in [0, {L}]; got {split!r}")
    s = s.astype(int)
    if s.size and (s.min() < 0 or s.max() > L):
        raise ValueError(f"split must be integers in [0, {L}]; got {split!r}")
    return s


def _as_reals(name: str, value, lo: float, hi: float, hi_open: bool, unit: str) -> np.ndarray:
    try:
        a = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be real numbers; got {value!r}") from exc
    right = ")" if hi_open else "]"
    interval = f"[{lo:g}, {'inf' if math.isinf(hi) else f'{hi:g}'}{right} {unit}".rstrip()
    if a.size:
        over = a >= hi if hi_open else a > hi
        if np.any(~np.isfinite(a)) or np.any(a < lo) or np.any(over):
            raise ValueError(f"{name} must be in {interval}; got {value!r}")
    return a


def evaluate(
    scenario: Scenario, split, rho, power, freq, rtol: float = 1e-9, gain=None
) -> Breakdown:
    """Latency and energy breakdown of operating points ``(split, rho, power, freq)``.

    ``t_device = Wd / (phi_d f)``, ``e_device = kappa (Wd / phi_d) f^2``, ``t_uplink = S(s) / r(p)``,
    ``e_uplink = p t_uplink``, ``t_server = Ws / Phi_s`` (all in s and J).

    Vectorised: the four arguments broadcast against each other. Conventions at the corners:
    ``split = L`` sends nothing, so ``t_uplink = e_uplink = 0`` whatever the power; ``split = 0``
    computes nothing on the device; a split below ``L`` with zero power never delivers its features,
    so its uplink latency and energy are infinite (infeasible). ``latency_ok`` and ``energy_ok``
    allow a relative slack ``rtol``. ``feasible`` also checks the box limits (``rho`` in
    ``[0, rho_max]``, ``power`` in ``[0, p_max]``, ``freq`` in ``(0, f_max]``, ``split`` in
    ``[min_split, L]``): values outside them are evaluated, and flagged in ``box_ok``.

    Args:
        scenario: the instance.
        split: split point(s) ``s``, integers in ``[0, L]``.
        rho: pruning ratio(s) in ``[0, 1)``.
        power: transmit power(s) in W, finite and ``>= 0``.
        freq: device clock(s) in Hz, finite and ``> 0``.
        rtol: relative slack of the constraint checks, in ``[0, 1)``.
        gain: channel power gain(s), linear, broadcast with the points; default ``uplink.gain``.
    """
    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a Scenario; got {type(scenario).__name__}")
    rtol = check_real("rtol", rtol, 0.0, 1.0, hi_open=True)
    prof, dev, up, srv, bud = (
        scenario.profile,
        scenario.device,
        scenario.uplink,
        scenario.server,
        scenario.budget,
    )
    s = _as_splits(split, prof.n_blocks)
    r = _as_reals("rho", rho, 0.0, 1.0, True, "")
    p = _as_reals("power", power, 0.0, math.inf, True, "W")
    f = _as_reals("freq", freq, 0.0, math.inf, True, "Hz")
    if f.size and f.min() <= 0:
        raise ValueError(f"freq must be in (0, inf) Hz; got {freq!r}")
    g = up.gain if gain is None else gain
    s, r, p, f, g = np.broadcast_arrays(s, r, p, f, g)

    wd = prof.device_flops(r, s)
    ws = prof.server_flops(r, s)
    bits = prof.bits(s)
    cycles = wd / dev.flops_per_cycle
    t_dev = cycles / f
    e_dev = dev.kappa * cycles * f**2
    rr = rate(p, up, g)
    sending = bits > 0
    silent = sending & (p == 0)  # features never arrive
    with np.errstate(divide="ignore", invalid="ignore"):
        t_up = np.where(sending, bits / np.where(silent, 1.0, rr), 0.0)
        e_up = np.where(sending, p * t_up, 0.0)
    t_up = np.where(silent, np.inf, t_up)
    e_up = np.where(silent, np.inf, e_up)
    t_srv = ws / srv.flops
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


def deadline_rho(scenario: Scenario, split):
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
    s = _as_splits(split, prof.n_blocks)
    # (1 - rho) is the only rho-dependence: split the latency at rho = 0 and rho -> 1
    at0 = evaluate(scenario, s, 0.0, dev.p_max, dev.f_max)
    fixed = (prof.device_flops(1.0, s) / (dev.flops_per_cycle * dev.f_max)
             + prof.server_flops(1.0, s) / srv.flops + at0.t_uplink)
    pruned = at0.latency - fixed
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where(pruned > 0, 1.0 - (scenario.budget.latency - fixed) / pruned, -np.inf)
    rho = np.where(fixed >= scenario.budget.latency, np.inf, np.maximum(rho, 0.0))
    return rho
