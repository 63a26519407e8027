"""Work as it runs: device and server compute per split as non-increasing curves of the pruning ratio.

The paper's model charges block ``l`` the FLOPs ``(1 - rho) F^w_l + F^a_l`` (what structured
sparsity would give). A :class:`WorkCurve` replaces that by a piecewise-linear curve per split point
and pruning kind, measured on a real device (``coinfer calibrate``) or built from a profile:

* ``device_cycles[s, j]``: the device's compute for blocks ``1..s`` (and the embedding, and the head
  at ``s = L``) at pruning ratio ``rho[j]``, in cycles. A curve measured as seconds ``t_ref`` at a
  reference clock ``f_ref`` is stored as ``t_ref * f_ref`` cycles: compute time at clock ``f`` is then
  ``cycles / f = t_ref f_ref / f`` and device energy ``kappa cycles f^2``. That is an assumption:
  compute time scales as ``f_ref / f`` (memory-bound phases do not), and energy follows the
  switched-capacitance model of the paper.
* ``server_seconds[s, j]``: the server's time for the rest of the model, in s.

Both are non-increasing in ``rho`` (more pruning never costs more work): the solver's certificate
rests on exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..validation import check_array, check_real, check_reals, check_splits
from .profiles import ModelProfile

if TYPE_CHECKING:  # scenario.py imports this module: no runtime import back
    from .scenario import Device, EdgeServer

__all__ = ["PRUNING_KINDS", "WorkCurve"]

#: Pruning kinds a work curve (and a measured quality curve) can describe.
PRUNING_KINDS = ("paper", "unstructured", "structured")


@dataclass(frozen=True)
class WorkCurve:
    """Device cycles and server seconds per split as piecewise-linear curves of ``rho``.

    Attributes:
        pruning: the pruning kind, one of :data:`PRUNING_KINDS`.
        rho: ``(G,)`` grid of pruning ratios, strictly increasing, starting at 0, below 1.
        device_cycles: ``(L + 1, G)`` device compute at split ``s = 0..L`` in cycles
            (``device_cycles[0] = 0``: nothing runs on the device at ``s = 0``).
        server_seconds: ``(L + 1, G)`` server compute at split ``s`` in s (``server_seconds[L] = 0``).

    Between grid points the curves are linear; beyond the last grid point they are held constant
    (no more gain is assumed than was measured).
    """

    pruning: str
    rho: np.ndarray
    device_cycles: np.ndarray
    server_seconds: np.ndarray

    def __post_init__(self) -> None:
        if self.pruning not in PRUNING_KINDS:
            raise ValueError(f"pruning must be one of {PRUNING_KINDS}; got {self.pruning!r}")
        r = check_array("rho", self.rho, ndim=1, lo=0.0, hi=1.0, hi_open=True)
        if r[0] != 0.0 or np.any(np.diff(r) <= 0):
            raise ValueError(f"rho must start at 0 and increase strictly; got {r.tolist()}")
        g = r.shape[0]
        dc = check_array(
            "device_cycles", self.device_cycles, ndim=2, shape=(None, g), lo=0.0, unit="cycles"
        )
        ss = check_array("server_seconds", self.server_seconds, shape=dc.shape, lo=0.0, unit="s")
        if dc.shape[0] < 2:
            raise ValueError(f"device_cycles must have L + 1 >= 2 rows; got {dc.shape[0]}")
        for name, a in (("device_cycles", dc), ("server_seconds", ss)):
            rising = np.diff(a, axis=1) > 1e-12 * np.maximum(np.abs(a[:, :-1]), 1e-300)
            if np.any(rising):
                s, j = np.argwhere(rising)[0]
                raise ValueError(
                    f"{name} must be non-increasing in rho; row {s} rises from rho = {r[j]:g} "
                    f"to {r[j + 1]:g}"
                )
        object.__setattr__(self, "rho", r)
        object.__setattr__(self, "device_cycles", dc)
        object.__setattr__(self, "server_seconds", ss)

    @classmethod
    def from_profile(
        cls,
        profile: ModelProfile,
        device: Device,
        server: EdgeServer,
        rho=(0.0, 0.99),
        pruning: str = "paper",
    ) -> WorkCurve:
        """The paper's work model as a curve: ``Wd(rho, s) / phi_d`` cycles and ``Ws(rho, s) / Phi_s``
        seconds at the grid ``rho`` (from :meth:`ModelProfile.device_flops` and
        :meth:`ModelProfile.server_flops`, the one place the work is split).

        The paper's work is affine in ``rho``, so on ``[0, rho[-1]]`` the curve equals the model
        exactly with any grid; beyond ``rho[-1]`` the curve is held constant.
        """
        if not isinstance(profile, ModelProfile):
            raise TypeError(f"profile must be a ModelProfile; got {type(profile).__name__}")
        r = check_array("rho", rho, ndim=1, lo=0.0, hi=1.0, hi_open=True)
        s = np.arange(profile.n_blocks + 1)[:, None]
        cycles = profile.device_flops(r[None, :], s) / device.flops_per_cycle
        seconds = profile.server_flops(r[None, :], s) / server.flops
        return cls(pruning=pruning, rho=r, device_cycles=cycles, server_seconds=seconds)

    def pieces(self, rho_max: float) -> dict:
        """The linear pieces of the curves on ``[0, rho_max]``, written in ``u = 1 - rho``.

        Piece ``j`` covers ``rho`` in ``[rho_lo[j], rho_hi[j]]`` (the grid cut at ``rho_max``, plus a
        flat piece from the last grid point to ``rho_max`` when the grid ends before it). On it,
        device cycles are ``dev_slope[s, j] * u + dev_icpt[s, j]`` and server seconds
        ``srv_slope[s, j] * u + srv_icpt[s, j]``: slopes ``>= 0`` (the curves do not increase in
        ``rho``), intercepts of any sign (the value at ``u = 0`` of the extended line). Returns a
        dict of those arrays (``rho_lo``, ``rho_hi``: ``(J,)``; the rest ``(L + 1, J)``).
        """
        rho_max = check_real("rho_max", rho_max, 0.0, 1.0, hi_open=True)
        r = self.rho
        lo = r[r < rho_max] if rho_max > 0 else r[:1]
        # each piece ends at the next grid point, cut at rho_max (flat past the last grid point)
        hi = np.minimum(np.concatenate([r[1:], [rho_max]])[: lo.shape[0]], rho_max)
        out = dict(rho_lo=lo, rho_hi=hi)
        for name, table in (("dev", self.device_cycles), ("srv", self.server_seconds)):
            a = self._interp(table, lo[None, :], np.arange(table.shape[0])[:, None])
            b = self._interp(table, hi[None, :], np.arange(table.shape[0])[:, None])
            span = hi - lo
            slope = np.where(span > 0, (a - b) / np.where(span > 0, span, 1.0), 0.0)
            slope = np.maximum(slope, 0.0)
            out[f"{name}_slope"] = slope
            out[f"{name}_icpt"] = a - slope * (1.0 - lo)
        return out

    @property
    def n_blocks(self) -> int:
        """Number of blocks ``L``."""
        return int(self.device_cycles.shape[0] - 1)

    def _interp(self, table: np.ndarray, rho, split) -> np.ndarray:
        r = check_reals("rho", rho, 0.0, 1.0, True, "")
        s = check_splits(split, self.n_blocks)
        r, s = np.broadcast_arrays(r, s)
        # piecewise-linear in rho along each row, held constant beyond the grid
        j = np.clip(np.searchsorted(self.rho, r, side="right") - 1, 0, self.rho.shape[0] - 1)
        k = np.minimum(j + 1, self.rho.shape[0] - 1)
        span = self.rho[k] - self.rho[j]
        safe = np.where(span > 0, span, 1.0)
        t = np.where(span > 0, (np.minimum(r, self.rho[-1]) - self.rho[j]) / safe, 0.0)
        return table[s, j] + t * (table[s, k] - table[s, j])

    def cycles(self, rho, split) -> np.ndarray:
        """Device compute in cycles at ``rho`` and ``split`` (broadcast)."""
        return self._interp(self.device_cycles, rho, split)

    def server_time(self, rho, split) -> np.ndarray:
        """Server compute in s at ``rho`` and ``split`` (broadcast)."""
        return self._interp(self.server_seconds, rho, split)
