"""Random device drops in a cell: positions uniform in a disc around the server, 3GPP path gain
times Rayleigh fading, mixed device classes and mixed built-in models."""

from __future__ import annotations

import numpy as np

from ..system import BUILTIN_MODELS, DEVICE_CLASSES, Scenario, path_gain
from ..system.channel import rayleigh_power
from ..validation import check_int, check_real
from .model import OBJECTIVES, Network

__all__ = ["random_network", "DROP_MODELS", "DROP_DEVICES"]

#: Built-in models drawn by default (mixed sizes whose single-device problem is usually feasible).
DROP_MODELS = ("gpt2", "gpt2-medium", "gpt2-large")
#: Device classes drawn by default: every class of :data:`coinfer.system.DEVICE_CLASSES`.
DROP_DEVICES = tuple(DEVICE_CLASSES)


def random_network(
    n_devices: int,
    seed: int,
    *,
    bandwidth: float | None = None,
    server_flops: float | None = None,
    objective: str = "max",
    radius: float = 250.0,
    min_distance: float = 10.0,
    models: tuple = DROP_MODELS,
    device_classes: tuple = DROP_DEVICES,
    base: Scenario | None = None,
) -> Network:
    """A random drop of ``n_devices`` devices in a disc of ``radius`` m around the edge server.

    Distances are uniform over the disc area (``r = radius sqrt(U)``, at least ``min_distance`` m);
    each gain is the 3GPP path gain at that distance times an ``Exp(1)`` Rayleigh power fade; the
    model and the device class of each device are drawn uniformly from ``models`` and
    ``device_classes``. Budgets, ``rho_max``, ``min_split`` and the objective come from ``base``
    (default :meth:`Scenario.default`).

    Args:
        n_devices: ``K >= 1``.
        seed: seed of :func:`numpy.random.default_rng` (the drop is a function of it).
        bandwidth: total band ``B`` in Hz (default: the single-device default band).
        server_flops: total server throughput ``Phi`` in FLOP/s (default: the single-device server).
        objective: ``"max"`` or ``"sum"``.
        radius, min_distance: cell radius and least distance, m.
        models: built-in model names; device_classes: keys of ``DEVICE_CLASSES``.
    """
    n = check_int("n_devices", n_devices, 1, 10_000_000)
    seed = check_int("seed", seed, 0)
    radius = check_real("radius", radius, 0.0, lo_open=True, unit="m")
    min_distance = check_real("min_distance", min_distance, 0.0, radius, lo_open=True, unit="m")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}; got {objective!r}")
    models, device_classes = tuple(models), tuple(device_classes)
    if not models or any(m not in BUILTIN_MODELS for m in models):
        raise ValueError(f"models must be names from {', '.join(BUILTIN_MODELS)}; got {models!r}")
    if not device_classes or any(d not in DEVICE_CLASSES for d in device_classes):
        raise ValueError(
            f"device_classes must be keys of {', '.join(DEVICE_CLASSES)}; got {device_classes!r}"
        )
    base = Scenario.default() if base is None else base
    if not isinstance(base, Scenario):
        raise ValueError(f"base must be a Scenario; got {type(base).__name__}")
    B = base.uplink.bandwidth if bandwidth is None else bandwidth
    Phi = base.server.flops if server_flops is None else server_flops
    rng = np.random.default_rng(seed)
    distance = np.maximum(radius * np.sqrt(rng.uniform(size=n)), min_distance)
    fade = rayleigh_power(rng, n)  # |h|^2 ~ Exp(1)
    gains = path_gain(distance) * fade
    which_model = rng.integers(len(models), size=n)
    which_device = rng.integers(len(device_classes), size=n)
    templates = {
        (m, d): base.replace(model=models[m], device=device_classes[d])
        for m in range(len(models))
        for d in range(len(device_classes))
    }
    devices = [
        templates[(int(m), int(d))].replace(gain=float(g))
        for m, d, g in zip(which_model, which_device, gains, strict=True)
    ]
    return Network(devices, B, Phi, objective)
