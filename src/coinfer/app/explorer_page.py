"""The explorer's static page: sliders over the precomputed grid, a summary and a plotly figure.

:func:`explorer_html` renders an :class:`~coinfer.app.explorer_grid.ExplorerGrid` as one
self-contained HTML fragment: six sliders (latency budget, energy budget, distance, model, privacy
floor, users sharing the server), a text summary of the optimum (split, pruning ratio, power, clock,
latency and energy by part, or why the budgets cannot be met) and a plotly figure (the breakdown bars
against the budgets, and the optimal pruning ratio and split point against the distance). plotly's
JavaScript is embedded from the installed ``plotly`` package: the page needs no network and no kernel.
"""

from __future__ import annotations

import json
import math

import numpy as np

from ..system import Scenario
from .explorer_grid import ExplorerGrid, explorer_grid

__all__ = ["grid_json", "explorer_html"]

#: Significant digits kept in the page (four: every number the page prints uses at most that).
_DIGITS = 4


def _rounded(values: np.ndarray) -> list:
    flat = np.asarray(values, dtype=float).ravel()
    return [None if not math.isfinite(v) else float(f"{v:.{_DIGITS}g}") for v in flat]


def grid_json(grid: ExplorerGrid) -> str:
    """The grid as compact JSON for the page (arrays flattened in C order over the axes)."""
    data = {
        "axes": {k: list(v) for k, v in grid.axes.items()},
        "shape": list(grid.shape),
        "n_blocks": grid.n_blocks,
        "split": grid.split.ravel().tolist(),
        "reason": grid.reason.ravel().tolist(),
        "reasons": list(grid.reasons),
        "server_flops": grid.server_flops,
        "rho_max": grid.rho_max,
        **{k: _rounded(v) for k, v in grid.values.items()},
    }
    return json.dumps(data, separators=(",", ":"), allow_nan=False)


_STYLE = """
<style>
#{uid} {{ font-family: system-ui, sans-serif; font-size: 14px; max-width: 900px; }}
#{uid} .cx-controls {{ display: grid; grid-template-columns: 13em 1fr 9em; gap: 4px 12px;
  align-items: center; margin-bottom: 8px; }}
#{uid} .cx-controls input {{ width: 100%; }}
#{uid} .cx-value {{ font-variant-numeric: tabular-nums; font-weight: 600; }}
#{uid} .cx-summary {{ white-space: pre-wrap; font-family: ui-monospace, monospace; font-size: 13px;
  padding: 6px 10px; border-left: 4px solid #2a7ab0; background: rgba(127, 127, 127, 0.08); }}
#{uid} .cx-summary.cx-infeasible {{ border-left-color: #c0392b; }}
#{uid} .cx-plot {{ overflow: hidden; }}
</style>
"""

_SLIDERS = (
    ("latency", "latency budget T_max"),
    ("energy", "energy budget E_max"),
    ("distance", "distance to the server"),
    ("model", "model"),
    ("min_split", "privacy floor (blocks kept on the device)"),
    ("users", "users sharing the server"),
)

_SCRIPT = r"""
(function () {
  const G = JSON.parse(document.getElementById("UID-data").textContent);
  const root = document.getElementById("UID");
  const names = Object.keys(G.axes);
  const unit = {latency: " s", energy: " J", distance: " m", model: "", min_split: "", users: ""};
  function fmt(v, d) { return Number(v).toPrecision(d === undefined ? 4 : d).replace(/\.?0+$/, ""); }
  function show(name, v) {
    if (name === "energy") return fmt(1e3 * v) + " mJ";
    if (name === "latency") return fmt(1e3 * v) + " ms";
    return String(v) + unit[name];
  }
  function index(pos) {
    let i = 0;
    names.forEach(function (n, k) { i = i * G.shape[k] + pos[n]; });
    return i;
  }
  function current() {
    const pos = {};
    names.forEach(function (n) {
      pos[n] = Number(root.querySelector('input[data-axis="' + n + '"]').value);
    });
    return pos;
  }
  function point(pos) {
    const i = index(pos), p = {split: G.split[i], reason: G.reason[i]};
    ["rho", "power", "freq", "t_device", "t_uplink", "t_server", "e_device", "e_uplink"].forEach(
      function (k) { p[k] = G[k][i]; });
    p.feasible = p.reason < 0;
    return p;
  }
  function pct(a, b) { return b > 0 ? Math.round(100 * a / b) + "%" : "-"; }
  function summary(pos, p) {
    const model = G.axes.model[pos.model], L = G.n_blocks[model];
    const T = G.axes.latency[pos.latency], E = G.axes.energy[pos.energy];
    const head = model + " (L = " + L + " blocks), T_max = " + show("latency", T) +
      ", E_max = " + show("energy", E) + ", distance " + G.axes.distance[pos.distance] +
      " m, privacy floor " + G.axes.min_split[pos.min_split] + ", server shared by " +
      G.axes.users[pos.users] + " (" + fmt(G.server_flops / G.axes.users[pos.users] / 1e12, 3) +
      " TFLOP/s each)";
    if (!p.feasible) return head + "\nINFEASIBLE: " + G.reasons[p.reason];
    const t = p.t_device + p.t_uplink + p.t_server, e = p.e_device + p.e_uplink;
    const where = p.split === 0 ? "fully on the server" : (p.split === L ? "fully on the device" :
      "device runs " + (p.split === 1 ? "block 1" : "blocks 1-" + p.split) + ", server the rest");
    const dbm = p.power > 0 ? fmt(10 * Math.log10(p.power * 1e3), 3) + " dBm" : "nothing sent";
    return head +
      "\nsplit s = " + p.split + " of " + L + " (" + where + ")" +
      "\npruning ratio rho = " + fmt(p.rho) +
      "\npower p = " + fmt(1e3 * p.power) + " mW (" + dbm + "), clock f = " + fmt(p.freq / 1e9) + " GHz" +
      "\nlatency " + fmt(1e3 * t) + " ms: device " + pct(p.t_device, t) + ", uplink " +
      pct(p.t_uplink, t) + ", server " + pct(p.t_server, t) +
      "\nenergy " + fmt(1e3 * e) + " mJ: device " + pct(p.e_device, e) + ", uplink " + pct(p.e_uplink, e);
  }
  const colours = {device: "#1f77b4", uplink: "#ff7f0e", server: "#2ca02c"};
  function figure(pos, p) {
    const T = G.axes.latency[pos.latency], E = G.axes.energy[pos.energy];
    const ok = p.feasible, data = [];
    [["device", p.t_device, p.e_device], ["uplink", p.t_uplink, p.e_uplink],
     ["server", p.t_server, null]].forEach(function (row) {
      data.push({type: "bar", orientation: "h", name: row[0], legendgroup: row[0],
        x: [ok ? 1e3 * row[1] : 0], y: ["latency"], marker: {color: colours[row[0]]},
        xaxis: "x", yaxis: "y", hovertemplate: row[0] + " %{x:.4g} ms<extra></extra>"});
      if (row[2] !== null) data.push({type: "bar", orientation: "h", name: row[0],
        legendgroup: row[0], showlegend: false, x: [ok ? 1e3 * row[2] : 0], y: ["energy"],
        marker: {color: colours[row[0]]}, xaxis: "x2", yaxis: "y2",
        hovertemplate: row[0] + " %{x:.4g} mJ<extra></extra>"});
    });
    const dist = G.axes.distance, rho = [], split = [];
    dist.forEach(function (d, k) {
      const q = point(Object.assign({}, pos, {distance: k}));
      rho.push(q.feasible ? q.rho : null);
      split.push(q.feasible ? q.split : null);
    });
    data.push({type: "scatter", mode: "lines+markers", x: dist, y: rho, name: "rho*",
      showlegend: false, xaxis: "x3", yaxis: "y3", line: {color: "#444"},
      hovertemplate: "%{x} m: rho = %{y:.4f}<extra></extra>"});
    data.push({type: "scatter", mode: "lines+markers", x: dist, y: split, name: "s*",
      showlegend: false, xaxis: "x4", yaxis: "y4", line: {color: "#444", shape: "hv"},
      hovertemplate: "%{x} m: s = %{y}<extra></extra>"});
    const here = dist[pos.distance];
    data.push({type: "scatter", mode: "markers", x: [here], y: [ok ? p.rho : null],
      showlegend: false, xaxis: "x3", yaxis: "y3", marker: {color: "#c0392b", size: 12},
      hoverinfo: "skip"});
    data.push({type: "scatter", mode: "markers", x: [here], y: [ok ? p.split : null],
      showlegend: false, xaxis: "x4", yaxis: "y4", marker: {color: "#c0392b", size: 12},
      hoverinfo: "skip"});
    const L = G.n_blocks[G.axes.model[pos.model]];
    function budget(xref, v) {
      return {type: "line", xref: xref, yref: "paper", x0: v, x1: v, y0: 0.62, y1: 1.0,
        line: {dash: "dash", color: "black"}};
    }
    const layout = {
      barmode: "stack", height: 560, margin: {l: 70, r: 20, t: 40, b: 60},
      legend: {orientation: "h", x: 0, y: 1.1},
      xaxis: {domain: [0, 0.45], anchor: "y", title: {text: "latency per inference (ms)"},
        range: [0, 1.15e3 * T]},
      yaxis: {domain: [0.62, 1], anchor: "x", showticklabels: false},
      xaxis2: {domain: [0.55, 1], anchor: "y2", title: {text: "device energy per inference (mJ)"},
        range: [0, 1.15e3 * E]},
      yaxis2: {domain: [0.62, 1], anchor: "x2", showticklabels: false},
      xaxis3: {domain: [0, 0.45], anchor: "y3", type: "log", title: {text: "distance (m)"},
        tickvals: dist, ticktext: dist.map(String)},
      yaxis3: {domain: [0, 0.42], anchor: "x3", range: [-0.03, 1], title: {text: "pruning ratio rho*"}},
      xaxis4: {domain: [0.55, 1], anchor: "y4", type: "log", title: {text: "distance (m)"},
        tickvals: dist, ticktext: dist.map(String)},
      yaxis4: {domain: [0, 0.42], anchor: "x4", range: [-0.5, L + 0.5],
        title: {text: "split point s* (of " + L + ")"}},
      shapes: [budget("x", 1e3 * T), budget("x2", 1e3 * E)],
      annotations: ok ? [] : [{xref: "paper", yref: "paper", x: 0.5, y: 0.8, showarrow: false,
        text: "infeasible: no operating point meets both budgets", font: {color: "#c0392b", size: 15}}]
    };
    return {data: data, layout: layout};
  }
  const plot = document.getElementById("UID-plot");
  function update() {
    const pos = current(), p = point(pos);
    names.forEach(function (n) {
      root.querySelector('[data-readout="' + n + '"]').textContent = show(n, G.axes[n][pos[n]]);
    });
    const box = root.querySelector(".cx-summary");
    box.textContent = summary(pos, p);
    box.classList.toggle("cx-infeasible", !p.feasible);
    const f = figure(pos, p);
    Plotly.react(plot, f.data, f.layout, {responsive: true, displaylogo: false});
    root.dataset.state = JSON.stringify(pos);
  }
  root.querySelectorAll("input[data-axis]").forEach(function (el) {
    el.addEventListener("input", update);
  });
  update();
  // The page may lay out again after this script ran (fonts, side bars): follow the width.
  if (window.ResizeObserver) {
    new ResizeObserver(function () { Plotly.Plots.resize(plot); }).observe(root);
  }
})();
"""


def explorer_html(
    grid: ExplorerGrid | None = None,
    *,
    uid: str = "coinfer-explorer",
    start: dict | None = None,
    include_plotlyjs: bool = True,
) -> str:
    """A self-contained HTML fragment: sliders over the grid, a summary and a plotly figure.

    Args:
        grid: the grid to show (default :func:`explorer_grid`).
        uid: the element id (letters, digits and ``-``), so two explorers can share a page.
        start: starting slider values by axis (default: the default scenario's values).
        include_plotlyjs: embed plotly's JavaScript (from the installed ``plotly`` package); set
            False when the page already loads it.
    """
    import html

    if not uid.replace("-", "").isalnum():
        raise ValueError(f"uid must hold only letters, digits and '-'; got {uid!r}")
    grid = explorer_grid() if grid is None else grid
    default = Scenario.default()
    start = {
        "model": default.profile.name,
        "users": 1,
        "min_split": default.min_split,
        "latency": default.budget.latency,
        "energy": default.budget.energy,
        "distance": 100.0,
        **(start or {}),
    }
    controls = []
    for name, label in _SLIDERS:
        values = grid.axes[name]
        at = values.index(start[name]) if start[name] in values else 0
        controls.append(
            f'<label for="{uid}-{name}">{html.escape(label)}</label>'
            f'<input type="range" id="{uid}-{name}" data-axis="{name}" min="0" '
            f'max="{len(values) - 1}" step="1" value="{at}">'
            f'<span class="cx-value" data-readout="{name}"></span>'
        )
    parts = [_STYLE.format(uid=uid)]
    if include_plotlyjs:
        from plotly.offline import get_plotlyjs

        parts.append(f'<script type="text/javascript">{get_plotlyjs()}</script>')
    data = grid_json(grid).replace("</", "<\\/")
    parts += [
        f'<div id="{uid}" class="coinfer-explorer">',
        f'<div class="cx-controls">{"".join(controls)}</div>',
        '<div class="cx-summary"></div>',
        f'<div id="{uid}-plot" class="cx-plot"></div>',
        "</div>",
        f'<script type="application/json" id="{uid}-data">{data}</script>',
        f'<script type="text/javascript">{_SCRIPT.replace("UID", uid)}</script>',
    ]
    return "\n".join(parts)
