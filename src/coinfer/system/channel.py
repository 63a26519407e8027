"""The wireless channel: power units and the 3GPP path loss (book chapter "The co-inference system")."""

from __future__ import annotations

import numpy as np

from ..validation import check_real
from .defaults import PATH_LOSS_DB_AT_1KM, PATH_LOSS_DB_PER_DECADE

__all__ = ["dbm_to_watt", "path_loss_db", "path_gain", "rayleigh_power"]


def dbm_to_watt(dbm: float) -> float:
    """A power (or a power density) in dBm (dBm/Hz) converted to W (W/Hz)."""
    dbm = check_real("dbm", dbm, unit="dBm")
    return 10.0 ** ((dbm - 30.0) / 10.0)


def path_loss_db(distance: float | np.ndarray) -> np.ndarray:
    """3GPP urban macro path loss ``128.1 + 37.6 log10(d / 1 km)`` in dB, for ``distance`` in metres.

    Vectorised over ``distance``; distances must be positive. Source: 3GPP TR 36.814, Table A.2.1.1.2-3.
    """
    d = np.asarray(distance, dtype=float)
    if np.any(~np.isfinite(d)) or np.any(d <= 0):
        raise ValueError(f"distance must be in (0, inf) m; got {distance!r}")
    return PATH_LOSS_DB_AT_1KM + PATH_LOSS_DB_PER_DECADE * np.log10(d / 1000.0)


def path_gain(distance: float | np.ndarray) -> np.ndarray:
    """Linear channel power gain of the 3GPP path loss at ``distance`` metres (no fading)."""
    return 10.0 ** (-path_loss_db(distance) / 10.0)


def rayleigh_power(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` small-scale fading powers ``|h|^2 ~ Exp(1)`` of a Rayleigh channel (unit mean), from ``rng``.

    Exp(1) can return exactly 0 with probability about 2^-53; a zero gain has no rate, so draws are
    kept at least the smallest positive float.
    """
    return np.maximum(rng.exponential(1.0, size=n), np.finfo(float).tiny)
