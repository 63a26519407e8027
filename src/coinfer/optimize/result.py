"""The one result type of the optimiser, its baselines and its references: :class:`Solution`.

A :class:`Solution` holds one operating point (scalar fields) or a batch of them, one per channel
gain (array fields of shape ``(N,)``); ``batch[i]`` is the ``i``-th single solution. Every solution
is built by :func:`assemble`, which re-evaluates the points with :func:`coinfer.system.evaluate`, so
``feasible`` is always the system model's own verdict.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..system import Scenario, evaluate
from ..system.costs import pruning_kinds

__all__ = ["Solution", "assemble"]

_POINT = ("split", "rho", "power", "freq")
_COSTS = ("latency", "energy", "t_device", "t_uplink", "t_server", "e_device", "e_uplink")


@dataclass(frozen=True, repr=False)
class Solution:
    """An operating point (or a batch of them) with its latency and energy breakdown.

    Infeasible instances have ``feasible=False``, a ``reason`` naming the binding limit, ``split=-1``
    when the split was free (else the fixed split) and NaN for ``rho``, ``power``, ``freq`` and every
    derived number: an infeasible result never carries a point that could be mistaken for a solution.

    Attributes:
        split: split point ``s``.
        rho: pruning ratio.
        power: transmit power ``p`` in W.
        freq: device clock ``f`` in Hz.
        latency: ``Td + Tu + Ts`` in s.
        energy: device energy ``Ed + Eu`` in J.
        objective: the surrogate ``Dbar(rho)`` (see :class:`coinfer.theory.SurrogateObjective`).
        feasible: whether the point satisfies every constraint (checked with
            :func:`coinfer.system.evaluate`, relative tolerance 1e-9).
        reason: why the instance is infeasible; empty when feasible (a tuple of strings in a batch).
        t_device, t_uplink, t_server: latency parts in s.
        e_device, e_uplink: energy parts in J.
        rho_gap: certified bound on ``rho - rho*`` (``rho*``: the least feasible ratio over the searched
            splits, of the chosen pruning kind), covering the search bracket and the split tie slack
            (0 for a closed-form answer with no tie; NaN if not certified).
        gain: the channel power gain the point was solved for (linear).
        splits: the split points searched, ``(K,)``.
        split_rho: ``rho*(s)`` for each searched split (NaN where infeasible), ``(K,)`` (``(N, K)``).
        split_energy: device energy in J of each split's best point (NaN where infeasible).
        split_feasible: whether each split admits a feasible point.
        method: which solver or baseline produced the point.
        pruning: the pruning kind whose work the point runs (``"paper"``: the paper's work model,
            no work curves); a tuple of strings in a batch.
        iterations: crossing-search iterations (each one vectorised pass over all splits).
    """

    split: Any
    rho: Any
    power: Any
    freq: Any
    latency: Any
    energy: Any
    objective: Any
    feasible: Any
    reason: Any
    t_device: Any = math.nan
    t_uplink: Any = math.nan
    t_server: Any = math.nan
    e_device: Any = math.nan
    e_uplink: Any = math.nan
    rho_gap: Any = math.nan
    gain: Any = math.nan
    splits: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    split_rho: np.ndarray = field(default_factory=lambda: np.zeros(0))
    split_energy: np.ndarray = field(default_factory=lambda: np.zeros(0))
    split_feasible: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    method: str = "coinfer"
    iterations: int = 0
    pruning: Any = "paper"

    # -- batches -------------------------------------------------------------------------------

    @property
    def batched(self) -> bool:
        """Whether this holds a batch of solutions (array fields) rather than one."""
        return np.ndim(self.rho) > 0

    def __len__(self) -> int:
        if not self.batched:
            raise TypeError("a single Solution has no length; solve_batch returns a batch")
        return int(np.shape(self.rho)[0])

    def __getitem__(self, i: int) -> Solution:
        """The ``i``-th solution of a batch, as a single :class:`Solution`."""
        if not self.batched:
            raise TypeError("a single Solution cannot be indexed; solve_batch returns a batch")
        values = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name in ("splits", "method", "iterations"):
                values[f.name] = v
            elif f.name in ("reason", "pruning"):
                values[f.name] = v[i] if isinstance(v, tuple) else v
            elif f.name in ("split_rho", "split_energy", "split_feasible"):
                values[f.name] = np.asarray(v)[i] if np.ndim(v) == 2 else np.asarray(v)
            elif f.name == "split":
                values[f.name] = int(np.asarray(v)[i])
            elif f.name == "feasible":
                values[f.name] = bool(np.asarray(v)[i])
            else:
                values[f.name] = float(np.asarray(v)[i])
        return Solution(**values)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    # -- reading it ------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """Every field as plain Python data (lists for arrays), e.g. for JSON."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, np.ndarray):
                v = v.tolist()
            elif isinstance(v, np.generic):
                v = v.item()
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out

    def summary(self) -> str:
        """A short human-readable account: the point, the latency and energy shares, feasibility."""
        if self.batched:
            n = len(self)
            ok = np.asarray(self.feasible, dtype=bool)
            if not ok.any():
                return f"{self.method}: {n} instances, none feasible"
            rho = np.asarray(self.rho)[ok]
            return (
                f"{self.method}: {n} instances, {int(ok.sum())} feasible "
                f"({ok.mean():.1%}); rho median {np.median(rho):.4f}, "
                f"range {rho.min():.4f}-{rho.max():.4f}"
            )
        if not self.feasible:
            return f"{self.method}: infeasible: {self.reason}"
        parts = [("device", self.t_device), ("uplink", self.t_uplink), ("server", self.t_server)]
        shares = ", ".join(f"{k} {v:.4g} s" for k, v in parts)
        e_parts = f"device {self.e_device:.4g} J, uplink {self.e_uplink:.4g} J"
        return "\n".join(
            [
                f"{self.method}: feasible; split s = {self.split}, rho = {self.rho:.6f} "
                f"(certified within {self.rho_gap:.1e})",
                f"power p = {self.power:.4g} W, clock f = {self.freq / 1e9:.4g} GHz, "
                f"objective {self.objective:.4g}, pruning {self.pruning}",
                f"latency {self.latency:.4g} s ({shares})",
                f"energy {self.energy:.4g} J ({e_parts})",
            ]
        )

    def __repr__(self) -> str:
        if self.batched:
            ok = np.asarray(self.feasible, dtype=bool)
            return (
                f"Solution(batch of {len(self)}, feasible {int(ok.sum())}, method={self.method!r})"
            )
        if not self.feasible:
            return f"Solution(infeasible, split={self.split}, reason={self.reason!r})"
        return (
            f"Solution(split={self.split}, rho={self.rho:.6g}, power={self.power:.4g} W, "
            f"freq={self.freq:.4g} Hz, latency={self.latency:.4g} s, energy={self.energy:.4g} J, "
            f"method={self.method!r})"
        )


def assemble(
    scenario: Scenario,
    gains: np.ndarray,
    split: np.ndarray,
    rho: np.ndarray,
    power: np.ndarray,
    freq: np.ndarray,
    ok: np.ndarray,
    reasons: list[str],
    *,
    method: str,
    rho_gap: np.ndarray | None = None,
    fixed_split: int | None = None,
    pruning: tuple[str, ...] | None = None,
    **extra: Any,
) -> Solution:
    """A batched :class:`Solution` from points, one per gain, checked with :func:`evaluate`.

    Where ``ok`` is false the point is discarded (NaN numbers, ``split = -1`` unless the split was
    fixed) and ``reasons`` says why. Where ``ok`` is true but the system model finds a violated
    limit, the point is kept, ``feasible`` is false and the reason names the violation.
    ``pruning`` gives each point's pruning kind (default: the scenario's only kind), which selects
    its work curve in :func:`evaluate` and is passed to the objective.
    """
    n = gains.shape[0]
    if pruning is None:
        pruning = (pruning_kinds(scenario)[0],) * n
    ok = np.asarray(ok, dtype=bool).copy()
    nan = np.full(n, np.nan)
    point = {
        "split": np.where(ok, split, -1 if fixed_split is None else fixed_split).astype(int),
        "rho": np.where(ok, rho, np.nan),
        "power": np.where(ok, power, np.nan),
        "freq": np.where(ok, freq, np.nan),
    }
    costs = {k: nan.copy() for k in _COSTS}
    objective = nan.copy()
    reasons = list(reasons)
    feasible = np.zeros(n, dtype=bool)
    idx = np.flatnonzero(ok)
    kinds = np.asarray(pruning, dtype=object)
    for kind in sorted(set(kinds[idx].tolist())):
        sel = idx[kinds[idx] == kind]
        bd = evaluate(
            scenario,
            point["split"][sel],
            point["rho"][sel],
            point["power"][sel],
            point["freq"][sel],
            gain=gains[sel],
            pruning=kind,
        )
        for k in _COSTS:
            costs[k][sel] = getattr(bd, k)
        objective[sel] = scenario.objective(point["rho"][sel], pruning=kind)
        feasible[sel] = bd.feasible
        for j, i in enumerate(sel):
            if not bd.feasible[j]:
                reasons[i] = "the returned point violates: " + "; ".join(bd.violations(j))
    gap = nan.copy() if rho_gap is None else np.where(feasible, rho_gap, np.nan)
    return Solution(
        **point,
        **costs,
        objective=objective,
        feasible=feasible,
        reason=tuple(reasons),
        rho_gap=gap,
        gain=np.asarray(gains, dtype=float),
        method=method,
        pruning=tuple(str(k) for k in kinds),
        **extra,
    )
