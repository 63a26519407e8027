"""The interactive explorer: the joint optimum and its latency/energy breakdown, live, under sliders.

The logic is split from the widgets so that it can be tested without a browser or a kernel:

* :func:`explorer_scenario` builds the scenario for the slider values;
* :func:`explorer_point` solves it and evaluates the breakdown of the optimum;
* :func:`explorer_summary` renders the result as text, :func:`breakdown_figure` (latency and energy by
  part) and :func:`split_curve_figure` (least pruning ratio at each split) as figures, and
  :func:`explorer_figure` puts the two figures together;
* :func:`explorer_widget` wires ipywidgets sliders to the three, refreshing an HTML and an Image widget
  in a callback (so the widget's state after a slider move is checkable in plain Python).

The settings: the latency and energy budgets, the bandwidth, the distance, the model, the privacy floor
(``min_split``, the fewest blocks that must run on the device), the largest pruning ratio ``rho_max``
and the server load (``users`` sharing the edge server equally, each getting ``flops / users``).
For a page without a kernel, :mod:`coinfer.app.explorer_grid` precomputes a grid of the same optima.
"""

from __future__ import annotations

import io
import math
import textwrap
from dataclasses import dataclass

import numpy as np

from ..system import Breakdown, Budget, Scenario, Uplink, evaluate, path_gain
from ..validation import check_int, check_real
from .report import split_words as _split_words

__all__ = [
    "EXPLORER_DEFAULTS",
    "EXPLORER_RANGES",
    "ExplorerPoint",
    "explorer_scenario",
    "explorer_point",
    "explorer_summary",
    "breakdown_figure",
    "split_curve_figure",
    "explorer_figure",
    "figure_png",
    "explorer_widget",
]

#: Slider start values: the documented default scenario (:mod:`coinfer.system.defaults`; its channel gain
#: is the 3GPP path gain at 100 m).
EXPLORER_DEFAULTS = {
    "model": "gpt2-large",
    "latency": Budget().latency,  # s
    "energy": Budget().energy,  # J
    "bandwidth": Uplink().bandwidth,  # Hz
    "distance": 100.0,  # m
    "min_split": Scenario.__dataclass_fields__["min_split"].default,  # blocks
    "rho_max": Scenario.__dataclass_fields__["rho_max"].default,
    "users": 1,  # sharing the edge server
}

#: Slider ranges ``(lo, hi)`` in SI units (latency s, energy J, bandwidth Hz, distance m; the privacy
#: floor in blocks, capped at the model's number of blocks; users sharing the server).
EXPLORER_RANGES = {
    "latency": (0.02, 5.0),
    "energy": (0.001, 1.0),
    "bandwidth": (0.2e6, 100.0e6),
    "distance": (10.0, 1000.0),
    "min_split": (0, 48),
    "rho_max": (0.5, 0.99),
    "users": (1, 64),
}


@dataclass(frozen=True)
class ExplorerPoint:
    """What the explorer shows for one setting of the sliders.

    Attributes:
        scenario: the instance solved.
        solution: the optimiser's :class:`~coinfer.optimize.Solution`.
        breakdown: the latency (s) and energy (J) breakdown at the optimum, or ``None`` if infeasible.
    """

    scenario: Scenario
    solution: object
    breakdown: Breakdown | None

    @property
    def feasible(self) -> bool:
        """Whether the budgets can be met at all."""
        return bool(self.solution.feasible)


def explorer_scenario(
    model: str = EXPLORER_DEFAULTS["model"],
    latency: float = EXPLORER_DEFAULTS["latency"],
    energy: float = EXPLORER_DEFAULTS["energy"],
    bandwidth: float = EXPLORER_DEFAULTS["bandwidth"],
    distance: float = EXPLORER_DEFAULTS["distance"],
    min_split: int = EXPLORER_DEFAULTS["min_split"],
    rho_max: float = EXPLORER_DEFAULTS["rho_max"],
    users: int = EXPLORER_DEFAULTS["users"],
    seq_len: int = 128,
) -> Scenario:
    """The default scenario with the explorer's settings applied.

    Args:
        model: a name in :data:`coinfer.system.BUILTIN_MODELS`.
        latency: latency budget ``T_max`` in s.
        energy: device energy budget ``E_max`` in J.
        bandwidth: uplink bandwidth ``B`` in Hz.
        distance: device-server distance in m (3GPP path loss, no fading).
        min_split: privacy floor: the fewest blocks run on the device, in ``[0, L]``.
        rho_max: the largest pruning ratio, in ``[0, 1)``.
        users: number of users sharing the edge server equally (each gets ``flops / users``
            FLOP/s), in ``[1, inf)``.
        seq_len: input tokens ``n``.
    """
    from ..system import BUILTIN_MODELS

    if model not in BUILTIN_MODELS:
        raise ValueError(f"model must be one of {', '.join(BUILTIN_MODELS)}; got {model!r}")
    check_real("latency", latency, 0.0, lo_open=True, unit="s")
    check_real("energy", energy, 0.0, lo_open=True, unit="J")
    check_real("bandwidth", bandwidth, 0.0, lo_open=True, unit="Hz")
    check_real("distance", distance, 0.0, lo_open=True, unit="m")
    check_int("seq_len", seq_len, 1)
    check_real("rho_max", rho_max, 0.0, 1.0, hi_open=True)
    check_int("users", users, 1)
    base = Scenario.default(model, seq_len)
    check_int("min_split", min_split, 0, base.profile.n_blocks)
    return base.replace(
        budget=Budget(latency=float(latency), energy=float(energy)),
        uplink=Uplink(bandwidth=float(bandwidth), gain=float(path_gain(distance))),
        flops=base.server.flops / users,
        min_split=int(min_split),
        rho_max=float(rho_max),
    )


def _n_blocks(model: str) -> int:
    return Scenario.default(model).profile.n_blocks


def explorer_point(**settings) -> ExplorerPoint:
    """Solve the explorer's scenario (keyword arguments as :func:`explorer_scenario`)."""
    from ..optimize import solve

    scenario = explorer_scenario(**settings)
    solution = solve(scenario)
    breakdown = None
    if solution.feasible:
        breakdown = evaluate(scenario, solution.split, solution.rho, solution.power, solution.freq)
    return ExplorerPoint(scenario=scenario, solution=solution, breakdown=breakdown)


def explorer_summary(point: ExplorerPoint) -> str:
    """A plain-text summary of the optimum (fixed formats, SI units; a few lines)."""
    sc, sol = point.scenario, point.solution
    L = sc.profile.n_blocks
    head = (
        f"{sc.profile.name}, {sc.profile.seq_len} tokens; T_max = {sc.budget.latency:.3f} s, "
        f"E_max = {sc.budget.energy:.3f} J, B = {sc.uplink.bandwidth / 1e6:.2f} MHz, "
        f"g = {10 * math.log10(sc.uplink.gain):.1f} dB\n"
        f"privacy floor min_split = {sc.min_split}, rho_max = {sc.rho_max:.2f}, "
        f"server {sc.server.flops / 1e12:.3g} TFLOP/s"
    )
    if not sol.feasible:
        return f"{head}\n" + textwrap.fill(f"INFEASIBLE: {sol.reason}", 80)
    b = point.breakdown
    power_dbm = 10 * math.log10(sol.power * 1e3) if sol.power > 0 else -math.inf
    return "\n".join(
        [
            head,
            f"split s = {sol.split} of {L} ({_split_words(sol.split, L)})",
            f"pruning ratio rho = {sol.rho:.4f}; surrogate objective Dbar = {sol.objective:.4g}",
            f"transmit power p = {sol.power:.4f} W ({power_dbm:.1f} dBm); "
            f"clock f = {sol.freq / 1e9:.3f} GHz",
            f"latency {float(b.latency):.4f} s = device {float(b.t_device):.4f} + uplink "
            f"{float(b.t_uplink):.4f} + server {float(b.t_server):.4f}",
            f"energy {float(b.energy):.4f} J = device {float(b.e_device):.4f} + uplink "
            f"{float(b.e_uplink):.4f}",
        ]
    )


def breakdown_figure(point: ExplorerPoint, axes=None):
    """Two stacked bars: latency (s) and device energy (J) at the optimum, by part, with the budgets.

    ``axes`` is a pair of matplotlib axes to draw on; by default a new pyplot-free
    :class:`matplotlib.figure.Figure` is made (no global state). Returns the figure.
    """
    from matplotlib.figure import Figure

    if axes is None:
        fig = Figure(figsize=(8.0, 3.2), layout="constrained")
        axes = fig.subplots(1, 2)
    ax_t, ax_e = axes
    fig = ax_t.figure
    sc, sol, b = point.scenario, point.solution, point.breakdown
    colours = {"device": "tab:blue", "uplink": "tab:orange", "server": "tab:green"}
    parts_t = (
        [
            ("device", float(b.t_device)),
            ("uplink", float(b.t_uplink)),
            ("server", float(b.t_server)),
        ]
        if b is not None
        else []
    )
    parts_e = (
        [("device", float(b.e_device)), ("uplink", float(b.e_uplink))] if b is not None else []
    )
    for ax, parts, limit, unit, what in (
        (ax_t, parts_t, sc.budget.latency, "s", "latency"),
        (ax_e, parts_e, sc.budget.energy, "J", "device energy"),
    ):
        left = 0.0
        for name, value in parts:
            ax.barh(
                [0], [value], left=left, color=colours[name], label=f"{name} ({value:.3g} {unit})"
            )
            left += value
        ax.axvline(limit, color="black", linestyle="--", label=f"budget ({limit:.3g} {unit})")
        ax.set_xlim(0.0, 1.15 * max(limit, left))
        ax.set_yticks([])
        ax.set_xlabel(f"{what} per inference ({unit})")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=2, fontsize="small")
    if b is None:
        title = textwrap.fill(f"{sc.profile.name} infeasible: {sol.reason}", 110)
    else:
        title = (
            f"{sc.profile.name}: s = {sol.split}/{sc.profile.n_blocks}, rho = {sol.rho:.3f}, "
            f"p = {sol.power:.3f} W, f = {sol.freq / 1e9:.2f} GHz"
        )
    fig.suptitle(title, fontsize="medium")
    return fig


def split_curve_figure(point: ExplorerPoint, ax=None):
    """The least feasible pruning ratio ``rho*(s)`` at each split point, with the optimum marked.

    Splits where the budgets cannot be met at any ``rho <= rho_max`` are marked at the top of the
    axis. ``ax`` is a matplotlib axis to draw on; by default a new pyplot-free figure is made.
    Returns the figure.
    """
    from matplotlib.figure import Figure

    if ax is None:
        ax = Figure(figsize=(8.0, 3.0), layout="constrained").subplots()
    sc, sol = point.scenario, point.solution
    splits = np.asarray(sol.splits, dtype=int)
    rho = np.asarray(sol.split_rho, dtype=float)
    ok = np.asarray(sol.split_feasible, dtype=bool)
    ax.plot(
        splits[ok],
        rho[ok],
        "o-",
        color="tab:blue",
        markersize=3,
        label=r"least feasible $\rho^*(s)$",
    )
    if np.any(~ok):
        ax.plot(
            splits[~ok],
            np.full(int(np.sum(~ok)), sc.rho_max),
            "x",
            color="tab:red",
            label=r"infeasible at every $\rho \leq \rho_{\max}$",
        )
    if sol.feasible:
        ax.plot(
            [sol.split],
            [sol.rho],
            "*",
            color="black",
            markersize=12,
            label=f"optimum: s = {sol.split}, rho = {sol.rho:.3f}",
        )
    ax.set_xlim(-0.5, sc.profile.n_blocks + 0.5)
    ax.set_ylim(-0.03, 1.0)
    ax.set_xlabel(f"split point s (blocks on the device, of L = {sc.profile.n_blocks})")
    ax.set_ylabel(r"pruning ratio $\rho$")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    return ax.figure


def explorer_figure(point: ExplorerPoint):
    """What the explorer draws: the breakdown bars on top, the split curve below (a new figure)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.5, 5.6), layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=[1.0, 1.3])
    breakdown_figure(point, (fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])))
    split_curve_figure(point, fig.add_subplot(grid[1, :]))
    return fig


def figure_png(fig) -> bytes:
    """The figure rendered to PNG bytes (for an ipywidgets ``Image``)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def explorer_widget(**defaults):
    """An ipywidgets box: sliders for the budgets, bandwidth, distance and model, and live output.

    Moving a slider re-solves the problem (:func:`explorer_point`) and refreshes the summary (an HTML
    widget) and the chart of :func:`explorer_figure` (an Image widget). The returned box has attributes ``controls``
    (dict of the input widgets by setting name), ``summary``, ``chart`` and ``refresh()``.
    Keyword ``defaults`` override :data:`EXPLORER_DEFAULTS`.
    """
    import html

    import ipywidgets as w

    from ..system import BUILTIN_MODELS

    unknown = set(defaults) - set(EXPLORER_DEFAULTS)
    if unknown:
        raise ValueError(
            f"unknown explorer settings {sorted(unknown)}; allowed: {sorted(EXPLORER_DEFAULTS)}"
        )
    start = {**EXPLORER_DEFAULTS, **defaults}
    style = {"description_width": "150px"}
    layout = w.Layout(width="520px")

    def log_slider(key, label, scale, fmt):
        lo, hi = EXPLORER_RANGES[key]
        return w.FloatLogSlider(
            value=start[key] / scale,
            base=10,
            min=np.log10(lo / scale),
            max=np.log10(hi / scale),
            step=0.02,
            description=label,
            readout_format=fmt,
            continuous_update=False,
            style=style,
            layout=layout,
        )

    controls = {
        "model": w.Dropdown(
            options=list(BUILTIN_MODELS),
            value=start["model"],
            description="model",
            style=style,
            layout=layout,
        ),
        "latency": log_slider("latency", "latency budget (s)", 1.0, ".3f"),
        "energy": log_slider("energy", "energy budget (J)", 1.0, ".3f"),
        "bandwidth": log_slider("bandwidth", "bandwidth (MHz)", 1e6, ".2f"),
        "distance": log_slider("distance", "distance (m)", 1.0, ".0f"),
        "min_split": w.IntSlider(
            value=start["min_split"],
            min=0,
            max=_n_blocks(start["model"]),
            description="privacy floor (blocks)",
            continuous_update=False,
            style=style,
            layout=layout,
        ),
        "rho_max": w.FloatSlider(
            value=start["rho_max"],
            min=EXPLORER_RANGES["rho_max"][0],
            max=EXPLORER_RANGES["rho_max"][1],
            step=0.01,
            description="largest pruning rho_max",
            readout_format=".2f",
            continuous_update=False,
            style=style,
            layout=layout,
        ),
        "users": w.IntSlider(
            value=start["users"],
            min=EXPLORER_RANGES["users"][0],
            max=EXPLORER_RANGES["users"][1],
            description="users sharing the server",
            continuous_update=False,
            style=style,
            layout=layout,
        ),
    }
    scale = {"bandwidth": 1e6}
    summary = w.HTML()
    chart = w.Image(format="png")

    def refresh(_change=None):
        settings = {k: c.value * scale[k] if k in scale else c.value for k, c in controls.items()}
        point = explorer_point(**settings)
        summary.value = f"<pre>{html.escape(explorer_summary(point))}</pre>"
        chart.value = figure_png(explorer_figure(point))
        return point

    def new_model(change):
        # the privacy floor cannot exceed the new model's number of blocks
        floor = controls["min_split"]
        L = _n_blocks(change["new"])
        if floor.value > L:
            floor.value = L  # triggers a refresh with the old model, then the model's own follows
        floor.max = L

    controls["model"].observe(new_model, names="value")
    for control in controls.values():
        control.observe(refresh, names="value")
    box = w.VBox([*controls.values(), summary, chart])
    box.controls, box.summary, box.chart, box.refresh = controls, summary, chart, refresh
    refresh()
    return box
