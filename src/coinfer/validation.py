"""Input checks at the package boundary.

Every public function of :mod:`coinfer` validates what it is given with these helpers, so that a bad
value raises a :class:`ValueError` (or :class:`TypeError`) whose message names the parameter, the value
received and the allowed range, e.g. ``bandwidth must be in (0, inf) Hz; got -5.0``.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

__all__ = [
    "check_real",
    "check_int",
    "check_array",
    "check_reals",
    "check_splits",
]


def _interval(lo: float, hi: float, lo_open: bool, hi_open: bool, unit: str) -> str:
    left = "(" if lo_open or math.isinf(lo) else "["
    right = ")" if hi_open or math.isinf(hi) else "]"
    lo_s = "-inf" if lo == -math.inf else f"{lo:g}"
    hi_s = "inf" if hi == math.inf else f"{hi:g}"
    text = f"{left}{lo_s}, {hi_s}{right}"
    return f"{text} {unit}".rstrip()


def check_real(
    name: str,
    value,
    lo: float = -math.inf,
    hi: float = math.inf,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    unit: str = "",
    allow_inf: bool = False,
) -> float:
    """Return ``value`` as a float after checking it is a finite real number in the interval.

    Raises ``TypeError`` for non-numbers and ``ValueError`` (naming ``name``, the value and the
    interval) for NaN, for values outside the interval, and for infinities unless ``allow_inf``.
    """
    if isinstance(value, bool) or not isinstance(value, (Real, np.floating, np.integer)):
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        else:
            raise TypeError(
                f"{name} must be a real number in {_interval(lo, hi, lo_open, hi_open, unit)}; "
                f"got {value!r} of type {type(value).__name__}"
            )
    v = float(value)
    outside = v < lo or v > hi or (lo_open and v == lo) or (hi_open and v == hi)
    bad = math.isnan(v) or outside or (math.isinf(v) and not allow_inf)
    if bad:
        raise ValueError(
            f"{name} must be in {_interval(lo, hi, lo_open, hi_open, unit)}; got {value!r}"
        )
    return v


def check_int(name: str, value, lo: int | None = None, hi: int | None = None) -> int:
    """Return ``value`` as an int after checking it is an integer in ``[lo, hi]``."""
    if isinstance(value, bool) or not isinstance(value, (Integral, np.integer)):
        raise TypeError(
            f"{name} must be an integer in [{lo if lo is not None else '-inf'}, "
            f"{hi if hi is not None else 'inf'}]; got {value!r} of type {type(value).__name__}"
        )
    v = int(value)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValueError(
            f"{name} must be an integer in [{lo if lo is not None else '-inf'}, "
            f"{hi if hi is not None else 'inf'}]; got {v}"
        )
    return v


def check_array(
    name: str,
    value,
    *,
    ndim: int | None = None,
    shape: tuple[int | None, ...] | None = None,
    lo: float = -math.inf,
    hi: float = math.inf,
    lo_open: bool = False,
    hi_open: bool = False,
    unit: str = "",
    allow_empty: bool = False,
) -> np.ndarray:
    """Return ``value`` as a float64 array after checking shape, finiteness and range.

    ``shape`` may contain ``None`` for a free axis. The returned array is a read-only copy, so frozen
    dataclasses that hold it stay immutable.
    """
    try:
        arr = np.array(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of real numbers; got {value!r}") from exc
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-d array; got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(
            s is not None and s != a for s, a in zip(shape, arr.shape, strict=True)
        ):
            want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {want}; got shape {arr.shape}")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name} must not be empty; got shape {arr.shape}")
    interval = _interval(lo, hi, lo_open, hi_open, unit)
    if arr.size:
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must be finite, with entries in {interval}; got NaN or inf")
        below = arr < lo if not lo_open else arr <= lo
        above = arr > hi if not hi_open else arr >= hi
        if np.any(below | above):
            bad = arr[below | above].flat[0]
            raise ValueError(f"{name} entries must be in {interval}; got {bad:g}")
    arr.setflags(write=False)
    return arr


def check_splits(split, L: int) -> np.ndarray:
    """``split`` as an int array after checking every entry is an integer in ``[0, L]``."""
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


def check_reals(name: str, value, lo: float, hi: float, hi_open: bool, unit: str) -> np.ndarray:
    """``value`` as a float array (any shape, broadcastable) after checking every entry is finite and
    in ``[lo, hi]`` (``[lo, hi)`` with ``hi_open``); the message names ``name`` and the interval."""
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
