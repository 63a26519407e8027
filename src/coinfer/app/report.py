"""Plain-text accounts of an operating point, shared by the command line and the explorer.

* :func:`split_words` says in words where a split point puts the model;
* :func:`solution_table` is the short table that ``coinfer solve --format text`` prints: the point
  (split, pruning ratio, power, clock), the latency and energy by part with their shares, and
  whether the budgets can be met and, if not, why.
"""

from __future__ import annotations

import math
import textwrap

from ..optimize import Solution
from ..system import Scenario

__all__ = ["split_words", "scenario_rows", "solution_table"]


def split_words(split: int, n_blocks: int) -> str:
    """Where split point ``split`` (blocks on the device, of ``n_blocks``) runs the model, in words."""
    if split == 0:
        return "fully on the server"
    if split == n_blocks:
        return "fully on the device"
    device = "block 1" if split == 1 else f"blocks 1-{split}"
    server = f"block {n_blocks}" if split == n_blocks - 1 else f"blocks {split + 1}-{n_blocks}"
    return f"device runs {device}, server {server} and the head"


def scenario_rows(scenario: Scenario, distance: float | None = None) -> list[tuple[str, str]]:
    """Rows naming the model, the budgets, the channel and the server (``distance`` in m, if given)."""
    p = scenario.profile
    gain_db = 10 * math.log10(scenario.uplink.gain)
    channel = f"B = {scenario.uplink.bandwidth / 1e6:.4g} MHz, gain {gain_db:.1f} dB"
    if distance is not None:
        channel += f" (distance {distance:g} m)"
    return [
        (
            "model",
            f"{p.name or 'model'}, {p.seq_len} tokens, L = {p.n_blocks} blocks; "
            f"min_split = {scenario.min_split}, rho_max = {scenario.rho_max:g}",
        ),
        (
            "budgets",
            f"T_max = {scenario.budget.latency:.4g} s, E_max = {scenario.budget.energy:.4g} J",
        ),
        ("uplink", channel),
        ("server", f"{scenario.server.flops / 1e12:.4g} TFLOP/s"),
    ]


def _share(part: float, total: float) -> str:
    return f"{part / total:.0%}" if total > 0 else "-"


def solution_table(solution: Solution, scenario: Scenario, distance: float | None = None) -> str:
    """A short table of one :class:`~coinfer.optimize.Solution` (SI units, fixed formats).

    Rows: feasibility (and the reason when infeasible), split point, pruning ratio ``rho``, power
    ``p`` (W and dBm), clock ``f`` (GHz), latency (s) and device energy (J) by part with their shares
    of the total, and the objective. ``distance`` (m) is echoed in the heading when given.
    """
    if solution.batched:
        raise ValueError("solution must be a single Solution; got a batch (index it first)")
    sol, L = solution, scenario.profile.n_blocks
    rows = scenario_rows(scenario, distance)
    if not sol.feasible:
        rows.append(("feasible", f"no: {sol.reason}"))
        return _table(rows)
    dbm = f"{10 * math.log10(sol.power * 1e3):.1f} dBm" if sol.power > 0 else "nothing sent"
    T, E = sol.latency, sol.energy
    rows += [
        ("feasible", "yes"),
        ("split s", f"{sol.split} of {L} ({split_words(sol.split, L)})"),
        ("rho", f"{sol.rho:.6f} (pruned share of the weights)"),
        ("power p", f"{sol.power:.4g} W ({dbm}; p_max {scenario.device.p_max:.4g} W)"),
        ("clock f", f"{sol.freq / 1e9:.4g} GHz (f_max {scenario.device.f_max / 1e9:.4g} GHz)"),
        (
            "latency",
            f"{T:.4g} s: device {sol.t_device:.4g} s ({_share(sol.t_device, T)}), "
            f"uplink {sol.t_uplink:.4g} s ({_share(sol.t_uplink, T)}), "
            f"server {sol.t_server:.4g} s ({_share(sol.t_server, T)})",
        ),
        (
            "energy",
            f"{E:.4g} J: device {sol.e_device:.4g} J ({_share(sol.e_device, E)}), "
            f"uplink {sol.e_uplink:.4g} J ({_share(sol.e_uplink, E)})",
        ),
        ("objective", f"{sol.objective:.6g}"),
    ]
    return _table(rows)


def _table(rows: list[tuple[str, str]], width: int = 80) -> str:
    """Two columns, the values wrapped at ``width`` characters under their own column."""
    key = max(len(k) for k, _ in rows)
    lines = []
    for k, v in rows:
        wrapped = textwrap.wrap(v, width - key - 2) or [""]
        lines.append(f"{k:<{key}}  {wrapped[0]}")
        lines += [" " * (key + 2) + w for w in wrapped[1:]]
    return "\n".join(lines) + "\n"
