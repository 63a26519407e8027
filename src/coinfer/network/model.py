"""The network: K devices, each a :class:`~coinfer.system.Scenario`, sharing one band and one server.

Device ``k`` gets a bandwidth share ``b_k >= 0`` Hz (FDMA: its noise power is ``N0_k b_k``) and a
server share ``Phi_k >= 0`` FLOP/s (processor sharing), with ``sum b_k <= B`` and
``sum Phi_k <= Phi``. With its shares, device ``k`` is the single-device problem
``scenario.replace(bandwidth=b_k, flops=Phi_k)``. A zero share leaves only the fully on-device
split ``s = L``, whose cost depends on neither share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..system import Scenario
from ..validation import check_real

__all__ = ["Network", "OBJECTIVES"]

#: Network objectives: ``"max"`` (fairness: the largest per-device objective) and ``"sum"``
#: (efficiency: the sum of the per-device objectives).
OBJECTIVES = ("max", "sum")


@dataclass(frozen=True, repr=False)
class Network:
    """K devices sharing an uplink band and an edge server.

    Attributes:
        devices: the devices' scenarios (their own ``bandwidth`` and ``flops`` are ignored: the
            shares replace them).
        bandwidth: total uplink bandwidth ``B`` in Hz, shared by FDMA.
        server_flops: total server throughput ``Phi`` in FLOP/s, shared by processor sharing.
        objective: ``"max"`` (minimise the largest ``Dbar_k(rho_k)``) or ``"sum"`` (their sum).
    """

    devices: Sequence[Scenario]
    bandwidth: float
    server_flops: float
    objective: str = "max"

    def __post_init__(self) -> None:
        devices = self.devices
        if isinstance(devices, Scenario) or not hasattr(devices, "__iter__"):
            raise ValueError(f"devices must be a non-empty list of Scenario; got {devices!r}")
        devices = tuple(devices)
        if not devices:
            raise ValueError("devices must be a non-empty list of Scenario; got an empty list")
        for k, sc in enumerate(devices):
            if not isinstance(sc, Scenario):
                raise ValueError(f"devices[{k}] must be a Scenario; got {type(sc).__name__}")
            if not math.isfinite(sc.budget.latency):
                raise ValueError(f"devices[{k}].latency must be finite, in (0, inf) s; got inf")
        object.__setattr__(self, "devices", devices)
        object.__setattr__(
            self, "bandwidth", check_real("bandwidth", self.bandwidth, 0.0, lo_open=True, unit="Hz")
        )
        object.__setattr__(
            self,
            "server_flops",
            check_real("server_flops", self.server_flops, 0.0, lo_open=True, unit="FLOP/s"),
        )
        if self.objective not in OBJECTIVES:
            raise ValueError(
                f"objective must be one of {', '.join(OBJECTIVES)}; got {self.objective!r}"
            )

    @property
    def size(self) -> int:
        """The number of devices ``K``."""
        return len(self.devices)

    def replace(self, **changes: Any) -> Network:
        """A copy with ``devices``, ``bandwidth``, ``server_flops`` or ``objective`` changed."""
        allowed = ("devices", "bandwidth", "server_flops", "objective")
        unknown = sorted(set(changes) - set(allowed))
        if unknown:
            raise ValueError(f"{unknown[0]} is not a network field; allowed: {', '.join(allowed)}")
        values = {k: getattr(self, k) for k in allowed}
        values.update(changes)
        return Network(**values)

    def __repr__(self) -> str:
        return (
            f"Network(K={self.size}, B={self.bandwidth:.4g} Hz, Phi={self.server_flops:.4g} FLOP/s, "
            f"objective={self.objective!r})"
        )
