"""A measured compute model of one device: per-block times against the pruning ratio, per pruning kind.

:func:`coinfer.real.calibration.calibrate` times the embedding, every block and the head of a real
model on the machine it runs on, for each pruning kind on a grid of pruning ratios, and stores the
result as a :class:`DeviceProfile`: medians, spreads, 90th percentiles and a non-increasing (isotonic) fit of
each block's 90th-percentile time in ``rho``. This module is numpy only, so ``coinfer solve`` can load a profile without torch.

How the clock enters. The host's clock cannot be set, so a profile records a *reference clock*
``f_ref`` (Hz): by default the host's nominal clock as the operating system reports it. A measured
time ``t`` becomes ``t f_ref`` cycles; the scenario's device at clock ``f`` then needs ``t f_ref / f``
seconds and ``kappa t f_ref f^2`` joules. This assumes compute time scales as ``1 / f`` (memory-bound
phases do not) and the switched-capacitance energy model of the paper.

The server. It runs the rest of the model at ``Phi_s`` FLOP/s: its time is the FLOPs the pruned model
*executes* divided by ``Phi_s``. Structured pruning executes fewer FLOPs (smaller dense matrices);
unstructured pruning leaves the dense matrices' shapes and the server uses dense kernels, so its FLOPs
(and time) do not fall with ``rho``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..cache import atomic_write
from ..theory.quality import isotonic
from ..validation import check_array, check_real
from .scenario import EdgeServer
from .work import PRUNING_KINDS, WorkCurve

__all__ = ["DeviceProfile", "STEP_WIDTH"]

#: Width in ``rho`` of the drop between two grid points of a staircase work curve.
STEP_WIDTH = 1e-4

#: The tables a calibration measures per pruning kind (ratio grid by block, or by ratio).
MEASURED_TABLES = ("block_median", "block_spread", "block_upper", "block_flops", "achieved", "csr")
_ARRAYS = ("block_seconds", *MEASURED_TABLES)


@dataclass(frozen=True)
class DeviceProfile:
    """Measured per-block compute times of one model on one machine.

    Attributes:
        model: the real model's key (``"minilm"``, ``"smollm2"``).
        profile: the matching built-in profile name (``"minilm-l6"``, ``"smollm2-135m"``).
        machine: a description of the host (processor, threads, torch version...).
        f_ref: reference clock in Hz (see the module docstring).
        seq_len: tokens ``n`` per inference that were timed.
        threads: torch threads used.
        repeats: timed repetitions per measurement (medians are over these).
        rho: ``(G,)`` requested pruning ratios, starting at 0, strictly increasing, below 1.
        embed_seconds, head_seconds: 90th percentiles of the times of the embedding (with the
            attention mask and positions every block needs) and of the head (neither is pruned), in s.
        block_seconds: kind -> ``(G, L)`` fitted block times in s (non-increasing in ``rho``): the
            isotonic fit of ``block_upper``.
        block_median: kind -> ``(G, L)`` measured median block times in s.
        block_spread: kind -> ``(G, L)`` interquartile range of the block times in s.
        block_upper: kind -> ``(G, L)`` 90th percentile of the block times in s.
        block_flops: kind -> ``(G, L)`` FLOPs each block executes (weights and attention).
        achieved: kind -> ``(G,)`` pruning ratio actually reached at each grid point.
        csr: kind -> ``(G, L)`` 1 where the CSR (sparse) kernels were the faster, else 0.
        head_flops: FLOPs of the head (not pruned).
        seconds: wall-clock cost of the calibration in s.
    """

    model: str
    profile: str
    machine: dict
    f_ref: float
    seq_len: int
    threads: int
    repeats: int
    rho: np.ndarray
    embed_seconds: float
    head_seconds: float
    block_seconds: dict = field(repr=False)
    block_median: dict = field(repr=False)
    block_spread: dict = field(repr=False)
    block_upper: dict = field(repr=False)
    block_flops: dict = field(repr=False)
    achieved: dict = field(repr=False)
    csr: dict = field(repr=False)
    head_flops: float = 0.0
    seconds: float = 0.0

    def __post_init__(self) -> None:
        check_real("f_ref", self.f_ref, 0.0, lo_open=True, unit="Hz")
        r = check_array("rho", self.rho, ndim=1, lo=0.0, hi=1.0, hi_open=True)
        if r[0] != 0.0 or np.any(np.diff(r) <= 0):
            raise ValueError(f"rho must start at 0 and increase strictly; got {r.tolist()}")
        object.__setattr__(self, "rho", r)
        kinds = tuple(self.block_seconds)
        for kind in kinds:
            if kind not in PRUNING_KINDS:
                raise ValueError(f"pruning kind must be one of {PRUNING_KINDS}; got {kind!r}")
        for name in _ARRAYS:
            table = getattr(self, name)
            if tuple(table) != kinds:
                raise ValueError(f"{name} must have the kinds {kinds}; got {tuple(table)}")
            for kind in kinds:
                a = np.asarray(table[kind], float)
                want = (r.shape[0],) if name == "achieved" else (r.shape[0], None)
                table[kind] = check_array(f"{name}[{kind!r}]", a, shape=want, lo=0.0)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The pruning kinds measured."""
        return tuple(self.block_seconds)

    @property
    def n_blocks(self) -> int:
        """Number of blocks ``L``."""
        return int(np.asarray(next(iter(self.block_seconds.values()))).shape[1])

    @staticmethod
    def fit(times) -> np.ndarray:
        """Per block, the non-increasing least-squares (isotonic) fit of ``(G, L)`` times in s."""
        m = check_array("times", times, ndim=2, lo=0.0)
        return np.stack([isotonic(m[:, j], increasing=False) for j in range(m.shape[1])], axis=1)

    def device_seconds(self, kind: str, split: int | None = None) -> np.ndarray:
        """``(L + 1, G)`` device time in s at the reference clock for splits ``0..L`` (or one row).

        Split ``s >= 1``: the embedding, the fitted times of blocks ``1..s`` and, at ``s = L``, the
        head; split 0 runs nothing on the device.
        """
        t = np.asarray(self.block_seconds[self._kind(kind)], float)  # (G, L)
        L = t.shape[1]
        rows = np.zeros((L + 1, t.shape[0]))
        rows[1:] = self.embed_seconds + np.cumsum(t, axis=1).T
        rows[L] += self.head_seconds
        return rows if split is None else rows[split]

    def server_flops(self, kind: str) -> np.ndarray:
        """``(L + 1, G)`` FLOPs the server executes at split ``s``: blocks ``s+1..L`` and the head."""
        fl = np.asarray(self.block_flops[self._kind(kind)], float)  # (G, L)
        L = fl.shape[1]
        after = np.concatenate(
            [np.cumsum(fl[:, ::-1], axis=1)[:, ::-1], np.zeros((fl.shape[0], 1))], axis=1
        ).T  # (L + 1, G): sum over blocks s+1..L
        after[:L] += self.head_flops
        return after

    def work_curve(
        self, kind: str, server: EdgeServer, margin: float = 1.0, steps: bool = True
    ) -> WorkCurve:
        """The :class:`~coinfer.system.work.WorkCurve` of ``kind`` for a scenario's ``server``.

        ``device_cycles = margin * f_ref * device_seconds`` and ``server_seconds = server_flops /
        Phi_s``, on the grid of achieved ratios (strictly increasing by construction). ``margin``
        (at least 1) budgets for a device slower than at calibration, e.g. a shared machine.

        ``steps=True`` (default) makes the curves staircases: between two grid points the work is
        that of the lower one, and it drops to the next grid point's over the last
        :data:`STEP_WIDTH` before it. The time of a pruned model depends on its matrices' shapes,
        not smoothly on ``rho`` (kernels are faster at some sizes than others), so only measured
        ratios are trusted: the solver's smallest feasible ratio then lies at (or within
        :data:`STEP_WIDTH` below) a measured grid point. ``steps=False`` interpolates linearly.
        """
        if not isinstance(server, EdgeServer):
            raise TypeError(f"server must be an EdgeServer; got {type(server).__name__}")
        margin = check_real("margin", margin, 1.0)
        kind = self._kind(kind)
        rho = np.asarray(self.achieved[kind], float)
        if rho[0] != 0.0 or np.any(np.diff(rho) <= 0):
            rho = self.rho  # fall back to the requested grid if the achieved one is not usable
        cycles = margin * self.f_ref * self.device_seconds(kind)
        seconds = self.server_flops(kind) / server.flops
        if steps and rho.size > 1:
            width = min(STEP_WIDTH, 0.5 * float(np.min(np.diff(rho))))
            knees = rho[1:] - width
            rho = np.sort(np.concatenate([rho, knees]))
            cycles = np.repeat(cycles, 2, axis=1)[:, :-1]  # value j held until the knee of j+1
            seconds = np.repeat(seconds, 2, axis=1)[:, :-1]
        return WorkCurve(pruning=kind, rho=rho, device_cycles=cycles, server_seconds=seconds)

    def work_curves(
        self, server: EdgeServer, margin: float = 1.0, steps: bool = True
    ) -> tuple[WorkCurve, ...]:
        """One :class:`~coinfer.system.work.WorkCurve` per measured kind (for ``Scenario.work``)."""
        return tuple(self.work_curve(kind, server, margin, steps) for kind in self.kinds)

    def flops_per_cycle(self, dense_flops: float, margin: float = 1.0) -> float:
        """The ``phi_d`` (FLOPs/cycle) at which the paper's model matches the dense measurement.

        ``dense_flops`` is the whole model's FLOPs at ``rho = 0`` (e.g. from the built-in profile); the
        result is ``dense_flops / (margin * f_ref * fitted dense time of the whole model)``: both models then
        agree at ``rho = 0`` and differ only in how the work falls with ``rho``.
        """
        check_real("dense_flops", dense_flops, 0.0, lo_open=True, unit="FLOPs")
        margin = check_real("margin", margin, 1.0)
        kind = self.kinds[0]
        return dense_flops / (margin * self.f_ref * float(self.device_seconds(kind)[-1, 0]))

    def _kind(self, kind: str) -> str:
        if kind not in self.block_seconds:
            raise ValueError(f"kind must be one of {self.kinds}; got {kind!r}")
        return kind

    # JSON

    def to_dict(self) -> dict:
        """A JSON-ready dict (arrays as nested lists)."""
        out = {
            "format": "coinfer-device-profile/1",
            "model": self.model,
            "profile": self.profile,
            "machine": dict(self.machine),
            "f_ref": self.f_ref,
            "seq_len": self.seq_len,
            "threads": self.threads,
            "repeats": self.repeats,
            "rho": self.rho.tolist(),
            "embed_seconds": self.embed_seconds,
            "head_seconds": self.head_seconds,
            "head_flops": self.head_flops,
            "seconds": self.seconds,
        }
        for name in _ARRAYS:
            out[name] = {k: np.asarray(v, float).tolist() for k, v in getattr(self, name).items()}
        return out

    @classmethod
    def from_dict(cls, data: dict) -> DeviceProfile:
        """The inverse of :meth:`to_dict`; raises ``ValueError`` naming a missing or unknown key."""
        if not isinstance(data, dict) or data.get("format") != "coinfer-device-profile/1":
            raise ValueError(
                "not a coinfer device profile (format must be 'coinfer-device-profile/1')"
            )
        names = {f for f in cls.__dataclass_fields__}
        body = {k: v for k, v in data.items() if k != "format"}
        missing = sorted(names - set(body))
        unknown = sorted(set(body) - names)
        if missing or unknown:
            raise ValueError(f"device profile: missing keys {missing}, unknown keys {unknown}")
        for name in _ARRAYS:
            body[name] = {k: np.asarray(v, float) for k, v in body[name].items()}
        body["rho"] = np.asarray(body["rho"], float)
        return cls(**body)

    def save(self, path) -> Path:
        """Write the profile as JSON to ``path`` (atomically); returns the path."""
        p = Path(path)
        text = json.dumps(self.to_dict(), indent=1)
        atomic_write(p, lambda tmp: tmp.write_text(text))
        return p

    @classmethod
    def load(cls, path) -> DeviceProfile:
        """Read a profile written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text()))
