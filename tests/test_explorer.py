"""The explorer's logic and its widget callback, exercised without a browser or a kernel."""

from __future__ import annotations

import numpy as np
import pytest

from coinfer.app.explorer import (
    EXPLORER_DEFAULTS,
    EXPLORER_RANGES,
    breakdown_figure,
    explorer_point,
    explorer_scenario,
    explorer_summary,
    explorer_widget,
    explorer_figure,
    figure_png,
    split_curve_figure,
)
from coinfer.system import Scenario, path_gain


def test_scenario_applies_the_five_settings():
    sc = explorer_scenario(model="gpt2", latency=0.4, energy=0.2, bandwidth=2e6, distance=300.0)
    assert sc.profile.name == "gpt2" and sc.profile.seq_len == 128
    assert sc.budget.latency == 0.4 and sc.budget.energy == 0.2
    assert sc.uplink.bandwidth == 2e6
    assert sc.uplink.gain == pytest.approx(float(path_gain(300.0)), rel=1e-12)
    ref = Scenario.default("gpt2")
    assert sc.device == ref.device and sc.server == ref.server and sc.min_split == ref.min_split


def test_defaults_are_inside_the_slider_ranges():
    for key, (lo, hi) in EXPLORER_RANGES.items():
        assert lo <= EXPLORER_DEFAULTS[key] <= hi, key


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"latency": 0.0}, "latency"),
        ({"energy": -1.0}, "energy"),
        ({"bandwidth": float("nan")}, "bandwidth"),
        ({"distance": 0.0}, "distance"),
        ({"model": "gpt5"}, "model"),
        ({"seq_len": 0}, "seq_len"),
    ],
)
def test_bad_settings_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        explorer_scenario(**kwargs)


def test_point_is_the_solver_optimum_and_meets_the_budgets():
    from coinfer.optimize import solve

    settings = dict(model="gpt2-medium", latency=0.6, energy=0.3, bandwidth=5e6, distance=150.0)
    point = explorer_point(**settings)
    ref = solve(explorer_scenario(**settings))
    assert point.feasible and ref.feasible
    assert (point.solution.split, point.solution.rho) == (ref.split, ref.rho)
    b = point.breakdown
    assert float(b.latency) <= 0.6 * (1 + 1e-6) and float(b.energy) <= 0.3 * (1 + 1e-6)
    assert float(b.latency) == pytest.approx(float(b.t_device + b.t_uplink + b.t_server))
    assert float(b.energy) == pytest.approx(float(b.e_device + b.e_uplink))


def test_summary_reports_the_optimum():
    point = explorer_point()
    text = explorer_summary(point)
    sol = point.solution
    assert f"split s = {sol.split} of {point.scenario.profile.n_blocks}" in text
    assert f"rho = {sol.rho:.4f}" in text and f"f = {sol.freq / 1e9:.3f} GHz" in text
    assert "INFEASIBLE" not in text


def test_infeasible_point_says_why():
    point = explorer_point(latency=0.05, energy=0.01, model="llama-2-7b")
    assert not point.feasible and point.breakdown is None
    text = explorer_summary(point)
    assert "INFEASIBLE" in text and str(point.solution.reason) in text
    fig = breakdown_figure(point)  # still draws: the budgets, and the reason in the title
    assert "infeasible" in fig._suptitle.get_text()


def test_figure_bars_are_the_breakdown():
    point = explorer_point(model="gpt2", latency=0.5)
    fig = breakdown_figure(point)
    ax_t, ax_e = fig.axes
    widths_t = [p.get_width() for p in ax_t.patches]
    widths_e = [p.get_width() for p in ax_e.patches]
    b = point.breakdown
    np.testing.assert_allclose(widths_t, [float(b.t_device), float(b.t_uplink), float(b.t_server)])
    np.testing.assert_allclose(widths_e, [float(b.e_device), float(b.e_uplink)])
    assert ax_t.lines[0].get_xdata()[0] == 0.5  # the latency budget line
    assert "(s)" in ax_t.get_xlabel() and "(J)" in ax_e.get_xlabel()
    assert figure_png(fig).startswith(b"\x89PNG")


def test_widget_callback_refreshes_on_slider_moves():
    box = explorer_widget(model="gpt2")
    assert set(box.controls) == set(EXPLORER_DEFAULTS)
    first_text, first_png = box.summary.value, bytes(box.chart.value)
    assert "gpt2," in first_text and first_png.startswith(b"\x89PNG")

    box.controls["latency"].value = 0.5  # seconds: a looser budget than the default
    tight = explorer_point(model="gpt2", latency=box.controls["latency"].value)
    assert f"rho = {tight.solution.rho:.4f}" in box.summary.value or "INFEASIBLE" in box.summary.value
    assert "T_max = 0.500 s" in box.summary.value
    assert bytes(box.chart.value) != first_png

    box.controls["bandwidth"].value = 1.0  # MHz on the slider, Hz in the scenario
    assert "B = 1.00 MHz" in box.summary.value
    box.controls["model"].value = "minilm-l6"
    assert box.summary.value.startswith("<pre>minilm-l6,")


def test_widget_rejects_unknown_settings():
    with pytest.raises(ValueError, match="unknown explorer settings"):
        explorer_widget(colour="red")


def test_split_curve_is_the_solver_per_split_answer():
    point = explorer_point(model="gpt2-medium")
    fig = split_curve_figure(point)
    (ax,) = fig.axes
    curve = ax.lines[0]
    sol = point.solution
    ok = np.asarray(sol.split_feasible)
    np.testing.assert_array_equal(curve.get_xdata(), np.asarray(sol.splits)[ok])
    np.testing.assert_allclose(curve.get_ydata(), np.asarray(sol.split_rho)[ok])
    star = ax.lines[-1]
    assert (star.get_xdata()[0], star.get_ydata()[0]) == (sol.split, sol.rho)
    # the optimum is the least pruning over the feasible splits
    assert sol.rho == pytest.approx(np.min(np.asarray(sol.split_rho)[ok]))
    assert len(explorer_figure(point).axes) == 3
