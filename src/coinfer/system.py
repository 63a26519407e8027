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
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

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
    "rate",
    "path_loss_db",
    "path_gain",
    "dbm_to_watt",
]


def dbm_to_watt(dbm: float) -> float:
    """Convert a power in dBm to watts."""
    return 10.0 ** ((float(dbm) - 30.0) / 10.0)


def path_loss_db(distance):
    """3GPP urban macro path loss ``128.1 + 37.6 log10(d / 1 km)`` in dB, for ``distance`` in metres.

    Vectorised over ``distance``; distances must be positive. Source: 3GPP TR 36.814, Table A.2.1.1.2-3.
    """
    d = np.asarray(distance, dtype=float)
    if np.any(~np.isfinite(d)) or np.any(d <= 0):
        raise ValueError(f"distance must be in (0, inf) m; got {distance!r}")
    return 128.1 + 37.6 * np.log10(d / 1000.0)


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
        s = np.asarray(split, dtype=int)
        r = np.asarray(rho, dtype=float)
        head = np.where(s == self.n_blocks, self.head_flops, 0.0)
        return (1.0 - r) * (cw[s] + head) + ca[s]

    def total_flops(self, rho):
        """Work of the whole model at pruning ratio ``rho``, in FLOPs."""
        r = np.asarray(rho, dtype=float)
        return (1.0 - r) * (float(np.sum(self.weight_flops)) + self.head_flops) + float(
            np.sum(self.attn_flops)
        )

    def server_flops(self, rho, split):
        """Server work ``Ws(rho, s)`` in FLOPs: blocks ``s+1..L`` and the head (if ``s < L``)."""
        return self.total_flops(rho) - self.device_flops(rho, split)

    def bits(self, split):
        """Feature size ``S(s)`` in bits, vectorised over ``split``."""
        return self.feature_bits[np.asarray(split, dtype=int)]


@dataclass(frozen=True)
class Device:
    """The user device: a DVFS processor and a radio.

    Attributes:
        f_max: maximum clock ``f_max`` in Hz.
        flops_per_cycle: ``phi_d``, FLOPs per clock cycle.
        kappa: effective switched capacitance, J/(cycle Hz^2): energy per cycle is ``kappa f^2``.
        p_max: maximum transmit power in W.
    """

    f_max: float = 2.0e9
    flops_per_cycle: float = 32.0
    kappa: float = 2.0e-29
    p_max: float = 0.2

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

    bandwidth: float = 5.0e6
    noise_psd: float = 10.0 ** ((-174.0 - 30.0) / 10.0)
    gain: float = float(path_gain(100.0))

    def __post_init__(self):
        check_real("bandwidth", self.bandwidth, 0.0, lo_open=True, unit="Hz")
        check_real("noise_psd", self.noise_psd, 0.0, lo_open=True, unit="W/Hz")
        check_real("gain", self.gain, 0.0, lo_open=True)


@dataclass(frozen=True)
class EdgeServer:
    """The edge server: ``flops`` is its throughput ``Phi_s`` in FLOP/s."""

    flops: float = 10.0e9 * 128.0

    def __post_init__(self):
        check_real("flops", self.flops, 0.0, lo_open=True, unit="FLOP/s")


@dataclass(frozen=True)
class Budget:
    """Per-inference limits: ``latency`` ``T_max`` in s and device ``energy`` ``E_max`` in J."""

    latency: float = 1.0
    energy: float = 0.5

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
    rho_max: float = 0.95
    min_split: int = 1
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
    def default(cls, model: str = "gpt2-large", seq_len: int = 128, **overrides) -> "Scenario":
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


def rate(power, uplink: Uplink):
    """Uplink rate ``r = B log2(1 + p g / (N0 B))`` in bit/s, vectorised over ``power`` (W)."""
    p = np.asarray(power, dtype=float)
    snr = p * uplink.gain / (uplink.noise_psd * uplink.bandwidth)
    return uplink.bandwidth * np.log1p(snr) / math.log(2.0)


@dataclass(frozen=True)
class Breakdown:
    """Latency (s) and device energy (J) of an operating point, by part, with the constraint checks.

    All fields are numpy arrays broadcast from the inputs of :func:`evaluate`.
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


def evaluate(scenario: Scenario, split, rho, power, freq, rtol: float = 1e-9) -> Breakdown:
    """Latency and energy breakdown of operating points ``(split, rho, power, freq)``.

    Vectorised: the four arguments broadcast against each other. Conventions at the corners:
    ``split = L`` sends nothing, so ``t_uplink = e_uplink = 0`` whatever the power; ``split = 0``
    computes nothing on the device; a split below ``L`` with zero power has infinite uplink latency
    (and zero uplink energy only if nothing is sent). ``latency_ok`` and ``energy_ok`` allow a
    relative slack ``rtol``. ``feasible`` also checks the box limits (``rho`` in ``[0, rho_max]``,
    ``power`` in ``[0, p_max]``, ``freq`` in ``(0, f_max]``, ``split`` in ``[min_split, L]``).

    Args:
        scenario: the instance.
        split: split point(s) ``s``, integers in ``[0, L]``.
        rho: pruning ratio(s) in ``[0, 1)``.
        power: transmit power(s) in W, ``>= 0``.
        freq: device clock(s) in Hz, ``> 0``.
    """
    prof, dev, up, srv, bud = (
        scenario.profile,
        scenario.device,
        scenario.uplink,
        scenario.server,
        scenario.budget,
    )
    s = np.asarray(split)
    if s.size and (not np.issubdtype(s.dtype, np.integer) and not np.all(s == np.round(s))):
        raise ValueError(f"split must be integers in [0, {prof.n_blocks}]; got {split!r}")
    s = s.astype(int)
    if s.size and (s.min() < 0 or s.max() > prof.n_blocks):
        raise ValueError(f"split must be in [0, {prof.n_blocks}]; got {split!r}")
    r = np.asarray(rho, dtype=float)
    if r.size and (np.any(~np.isfinite(r)) or r.min() < 0 or r.max() >= 1):
        raise ValueError(f"rho must be in [0, 1); got {rho!r}")
    p = np.asarray(power, dtype=float)
    if p.size and (np.any(np.isnan(p)) or p.min() < 0):
        raise ValueError(f"power must be in [0, inf) W; got {power!r}")
    f = np.asarray(freq, dtype=float)
    if f.size and (np.any(~np.isfinite(f)) or f.min() <= 0):
        raise ValueError(f"freq must be in (0, inf) Hz; got {freq!r}")
    s, r, p, f = np.broadcast_arrays(s, r, p, f)

    wd = prof.device_flops(r, s)
    ws = prof.server_flops(r, s)
    bits = prof.bits(s)
    cycles = wd / dev.flops_per_cycle
    t_dev = cycles / f
    e_dev = dev.kappa * cycles * f**2
    rr = rate(p, up)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_up = np.where(bits > 0, bits / rr, 0.0)
        e_up = np.where(bits > 0, p * t_up, 0.0)
    e_up = np.where((bits > 0) & (p == 0), np.inf, e_up)
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
    )
