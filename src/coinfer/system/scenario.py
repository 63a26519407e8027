"""The scenario of one co-inference problem: the device, the uplink, the edge server, the budget.

Symbols, as in the book chapter "The co-inference system" and its notation page:

===============  ======================  ====================================================
code             symbol                  meaning
===============  ======================  ====================================================
``split``        :math:`s`               split point in ``{min_split, ..., L}``
``rho``          :math:`\\rho`            pruning ratio in ``[0, rho_max]``
``power``        :math:`p`               transmit power, W
``freq``         :math:`f`               device clock, Hz
===============  ======================  ====================================================

Default values of every dataclass field come from :data:`coinfer.system.defaults.DEFAULTS`, the
documented parameter table. Change any parameter with one call, :meth:`Scenario.replace`, e.g.
``scenario.replace(latency=0.5, distance=200.0)``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from ..theory.objective import Objective, SurrogateObjective
from ..validation import check_int, check_real
from .channel import path_gain
from .defaults import default as _default
from .profiles import BUILTIN_MODELS, ModelProfile, builtin_profile
from .work import WorkCurve

__all__ = [
    "Device",
    "Uplink",
    "EdgeServer",
    "Budget",
    "Scenario",
    "DEVICE_CLASSES",
    "REPLACEABLE",
]


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

    def __post_init__(self) -> None:
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

    def __post_init__(self) -> None:
        check_real("bandwidth", self.bandwidth, 0.0, lo_open=True, unit="Hz")
        check_real("noise_psd", self.noise_psd, 0.0, lo_open=True, unit="W/Hz")
        check_real("gain", self.gain, 0.0, lo_open=True)


@dataclass(frozen=True)
class EdgeServer:
    """The edge server: ``flops`` is its throughput ``Phi_s`` in FLOP/s."""

    flops: float = _default("EdgeServer.flops")

    def __post_init__(self) -> None:
        check_real("flops", self.flops, 0.0, lo_open=True, unit="FLOP/s")


@dataclass(frozen=True)
class Budget:
    """Per-inference limits: ``latency`` ``T_max`` in s and device ``energy`` ``E_max`` in J."""

    latency: float = _default("Budget.latency")
    energy: float = _default("Budget.energy")

    def __post_init__(self) -> None:
        check_real("latency", self.latency, 0.0, lo_open=True, unit="s", allow_inf=True)
        check_real("energy", self.energy, 0.0, lo_open=True, unit="J", allow_inf=True)


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

_PARTS = {
    "device": Device,
    "uplink": Uplink,
    "server": EdgeServer,
    "budget": Budget,
    "objective": Objective,
}
# leaf name -> the part that owns it (every leaf name is unique across the parts)
_LEAVES = {
    f.name: part
    for part, cls in {**_PARTS, "objective": SurrogateObjective}.items()
    for f in dataclasses.fields(cls)
}

#: The keywords :meth:`Scenario.replace` accepts, with their units.
REPLACEABLE: dict[str, str] = {
    "profile": "a ModelProfile",
    "model": "a built-in model name (same sequence length)",
    "device": "a Device or a key of DEVICE_CLASSES",
    "uplink": "an Uplink",
    "server": "an EdgeServer",
    "budget": "a Budget",
    "objective": "a SurrogateObjective",
    "work": "a tuple of WorkCurve (measured work per pruning kind)",
    "rho_max": "",
    "min_split": "",
    "distance": "m (3GPP path loss, no fading; sets gain)",
    "f_max": "Hz",
    "flops_per_cycle": "FLOPs/cycle",
    "kappa": "J/(cycle Hz^2)",
    "p_max": "W",
    "bandwidth": "Hz",
    "noise_psd": "W/Hz",
    "gain": "linear",
    "flops": "FLOP/s (server throughput)",
    "latency": "s (T_max)",
    "energy": "J (E_max)",
    "lam": "1/weight unit",
    "gamma": "",
    "kind": "floor | rate | combined",
    "bits": "bits per kept weight",
    "measure": "abs | squared",
}


@dataclass(frozen=True, repr=False)
class Scenario:
    """One co-inference problem instance.

    Attributes:
        profile: the model's :class:`~coinfer.system.profiles.ModelProfile`.
        device, uplink, server, budget: resources and limits.
        rho_max: largest allowed pruning ratio, in ``[0, 1)``.
        min_split: privacy floor on the split point, in ``[0, L]``; ``0`` allows sending raw input.
        objective: the surrogate ``Dbar(rho)`` that is minimised (increasing in ``rho``; not a bound on
            output distortion, see :class:`~coinfer.theory.objective.SurrogateObjective`).
        work: measured work curves, one per pruning kind (:class:`~coinfer.system.work.WorkCurve`);
            empty (the default) means the paper's model, ``(1 - rho)`` times the profile's weight
            FLOPs at the device's and the server's FLOP rates.
    """

    profile: ModelProfile
    device: Device = field(default_factory=Device)
    uplink: Uplink = field(default_factory=Uplink)
    server: EdgeServer = field(default_factory=EdgeServer)
    budget: Budget = field(default_factory=Budget)
    rho_max: float = _default("Scenario.rho_max")
    min_split: int = _default("Scenario.min_split")
    objective: SurrogateObjective = field(default_factory=SurrogateObjective)
    work: tuple[WorkCurve, ...] = ()

    def __post_init__(self) -> None:
        for name, cls in [("profile", ModelProfile), *_PARTS.items()]:
            if not isinstance(getattr(self, name), cls):
                raise TypeError(
                    f"{name} must be a {cls.__name__}; got {type(getattr(self, name)).__name__}"
                )
        check_real("rho_max", self.rho_max, 0.0, 1.0, hi_open=True)
        check_int("min_split", self.min_split, 0, self.profile.n_blocks)
        work = tuple(self.work)
        kinds = [w.pruning for w in work if isinstance(w, WorkCurve)]
        if len(kinds) != len(work):
            raise TypeError("work must be a tuple of WorkCurve")
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"work must hold one curve per pruning kind; got {kinds}")
        for w in work:
            if w.n_blocks != self.profile.n_blocks:
                raise ValueError(
                    f"work curve {w.pruning!r} has {w.n_blocks} blocks; the profile has "
                    f"{self.profile.n_blocks}"
                )
        object.__setattr__(self, "work", work)

    @classmethod
    def default(
        cls, model: str = _default("model"), seq_len: int = _default("seq_len"), **changes: Any
    ) -> Scenario:
        """The documented default scenario (see :data:`coinfer.system.defaults.DEFAULTS`).

        ``model`` names a built-in profile (:data:`coinfer.system.profiles.BUILTIN_MODELS`);
        ``changes`` are applied with :meth:`replace` (``latency=0.5``, ``budget=Budget(...)``...).
        """
        base = cls(profile=builtin_profile(model, seq_len))
        return base.replace(**changes) if changes else base

    def replace(self, **changes: Any) -> Scenario:
        """A copy with some parameters changed, validated again: the one way to change a scenario.

        Keywords (see :data:`REPLACEABLE`): any field of the scenario (``budget=Budget(...)``,
        ``min_split=0``...), any field of its parts by its own name (``latency=0.5``,
        ``bandwidth=1e6``, ``p_max=0.1``, ``flops=1e11``, ``kind="rate"``...), ``distance`` in m
        (sets ``gain`` to the 3GPP path gain), ``model`` (a built-in profile at the same sequence
        length) and ``device`` as a key of :data:`DEVICE_CLASSES`.
        """
        unknown = sorted(set(changes) - set(REPLACEABLE))
        if unknown:
            raise ValueError(
                f"{unknown[0]} is not a scenario parameter; allowed: {', '.join(REPLACEABLE)}"
            )
        top: dict[str, Any] = {}
        leaves: dict[str, dict[str, Any]] = {}
        for key, value in changes.items():
            if key == "distance":
                if "gain" in changes:
                    raise ValueError("distance and gain both set the channel gain: give one")
                check_real("distance", value, 0.0, lo_open=True, unit="m")
                leaves.setdefault("uplink", {})["gain"] = float(path_gain(value))
            elif key == "model":
                if "profile" in changes:
                    raise ValueError("model and profile both set the model: give one")
                if value not in BUILTIN_MODELS:
                    raise ValueError(
                        f"model must be one of {', '.join(BUILTIN_MODELS)}; got {value!r}"
                    )
                top["profile"] = builtin_profile(value, self.profile.seq_len or _default("seq_len"))
            elif key == "device" and isinstance(value, str):
                if value not in DEVICE_CLASSES:
                    raise ValueError(
                        f"device must be one of {', '.join(DEVICE_CLASSES)}; got {value!r}"
                    )
                top["device"] = DEVICE_CLASSES[value]
            elif key in _LEAVES:
                leaves.setdefault(_LEAVES[key], {})[key] = value
            else:
                top[key] = value
        for part, values in leaves.items():
            if part in top:
                raise ValueError(f"{part} and {', '.join(values)} both change the {part}: give one")
            top[part] = dataclasses.replace(getattr(self, part), **values)
        return dataclasses.replace(self, **top)

    def __repr__(self) -> str:
        p = self.profile
        gain_db = 10 * math.log10(self.uplink.gain)
        return (
            f"Scenario({p.name or 'model'}, n={p.seq_len}, L={p.n_blocks}; "
            f"T_max={self.budget.latency:.4g} s, E_max={self.budget.energy:.4g} J; "
            f"B={self.uplink.bandwidth:.4g} Hz, g={gain_db:.1f} dB; "
            f"f_max={self.device.f_max:.4g} Hz, p_max={self.device.p_max:.4g} W; "
            f"Phi_s={self.server.flops:.4g} FLOP/s; rho_max={self.rho_max:g}, "
            f"min_split={self.min_split})"
        )
