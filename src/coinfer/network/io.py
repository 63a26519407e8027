"""Network files: TOML or JSON with the totals and a list of device scenarios.

Layout (TOML)::

    bandwidth = 5e6          # Hz, total band B
    server_flops = 1.28e12   # FLOP/s, total server throughput Phi
    objective = "max"        # or "sum"

    [[devices]]              # one table per device, read by coinfer.system.io.scenario_from_mapping
    model = "gpt2"
    [devices.uplink]
    gain = 1e-10
"""

from __future__ import annotations

from pathlib import Path

from ..system.io import read_mapping, scenario_from_mapping
from .model import Network

__all__ = ["network_from_mapping", "read_network"]

_KEYS = ("bandwidth", "server_flops", "objective", "devices")


def network_from_mapping(data: dict, base_dir=None) -> Network:
    """A :class:`Network` from a dict: ``bandwidth``, ``server_flops``, ``objective``, ``devices``."""
    if not isinstance(data, dict):
        raise ValueError(f"a network must be a table/object; got {type(data).__name__}")
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise ValueError(f"{unknown[0]} is not a network field; allowed: {', '.join(_KEYS)}")
    for key in ("bandwidth", "server_flops", "devices"):
        if key not in data:
            raise ValueError(
                f"{key} is missing: a network file needs {', '.join(_KEYS[:2])} and devices"
            )
    devices = data["devices"]
    if not isinstance(devices, list) or not devices:
        raise ValueError(f"devices must be a non-empty list of scenario tables; got {devices!r}")
    scenarios = []
    for k, d in enumerate(devices):
        try:
            scenarios.append(scenario_from_mapping(d, base_dir))
        except ValueError as err:
            raise ValueError(f"devices[{k}].{err}") from None
    for key in ("bandwidth", "server_flops"):
        v = data[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"{key} must be a number; got {v!r}")
    return Network(
        scenarios,
        float(data["bandwidth"]),
        float(data["server_flops"]),
        data.get("objective", "max"),
    )


def read_network(path) -> Network:
    """A :class:`Network` from a ``.toml`` or ``.json`` file (see the module docstring)."""
    p = Path(path)
    return network_from_mapping(read_mapping(p), base_dir=p.parent)
