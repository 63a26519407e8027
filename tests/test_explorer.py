"""The explorer's logic and its widget callback, exercised without a browser or a kernel."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from coinfer.app.explorer import (
    EXPLORER_DEFAULTS,
    EXPLORER_RANGES,
    breakdown_figure,
    explorer_figure,
    explorer_point,
    explorer_scenario,
    explorer_summary,
    explorer_widget,
    figure_png,
    split_curve_figure,
)
from coinfer.app.explorer_grid import explorer_grid, grid_point
from coinfer.app.explorer_page import explorer_html, grid_json
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
    assert "INFEASIBLE" in text
    assert " ".join(str(point.solution.reason).split()) in " ".join(text.split())  # wrapped
    assert max(len(line) for line in text.splitlines()) <= 88
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
    assert (
        f"rho = {tight.solution.rho:.4f}" in box.summary.value or "INFEASIBLE" in box.summary.value
    )
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


# ---------------------------------------------------------------- privacy floor, rho_max, server load


def test_scenario_applies_floor_rho_max_and_server_load():
    sc = explorer_scenario(model="gpt2", min_split=3, rho_max=0.8, users=4)
    ref = Scenario.default("gpt2")
    assert sc.min_split == 3 and sc.rho_max == 0.8
    assert sc.server.flops == pytest.approx(ref.server.flops / 4, rel=1e-15)
    for kwargs, name in [
        ({"min_split": 13, "model": "gpt2"}, "min_split"),
        ({"rho_max": 1.0}, "rho_max"),
        ({"users": 0}, "users"),
        ({"users": 1.5}, "users"),
    ]:
        with pytest.raises((ValueError, TypeError), match=f"^{name}"):
            explorer_scenario(**kwargs)


def test_more_users_and_a_higher_floor_never_need_less_pruning():
    rho = {}
    for key, kwargs in {"base": {}, "users": {"users": 4}, "floor": {"min_split": 4}}.items():
        point = explorer_point(model="gpt2-large", latency=0.3, **kwargs)
        assert point.feasible, key
        rho[key] = point.solution.rho
    assert rho["base"] <= rho["users"] and rho["base"] <= rho["floor"]


def test_widget_floor_follows_the_model():
    box = explorer_widget(model="gpt2-large", min_split=20)
    floor = box.controls["min_split"]
    assert floor.max == 36 and floor.value == 20
    box.controls["model"].value = "gpt2"  # 12 blocks: the floor is capped
    assert floor.max == 12 and floor.value == 12
    assert "min_split = 12" in box.summary.value and box.summary.value.startswith("<pre>gpt2,")
    box.controls["users"].value = 8
    assert "server 0.16 TFLOP/s" in box.summary.value


# ---------------------------------------------------------------- the precomputed grid of the page

SMALL_AXES = {
    "model": ("gpt2", "gpt2-large"),
    "users": (1, 8),
    "min_split": (0, 2),
    "latency": (0.05, 0.3),
    "energy": (0.005, 0.05),
    "distance": (50.0, 300.0, 1000.0),
}


@pytest.fixture(scope="module")
def small_grid():
    return explorer_grid(SMALL_AXES, use_cache=False)


def test_grid_points_are_the_solver_optimum(small_grid):
    from coinfer.optimize import solve

    assert small_grid.shape == (2, 2, 2, 2, 2, 3)
    assert 0 < np.mean(small_grid.reason < 0) < 1  # some feasible, some not: both are checked
    for setting in itertools.product(*SMALL_AXES.values()):
        s = dict(zip(SMALL_AXES, setting, strict=True))
        base = Scenario.default(s["model"])
        sc = base.replace(
            latency=s["latency"],
            energy=s["energy"],
            distance=s["distance"],
            min_split=s["min_split"],
            flops=base.server.flops / s["users"],
        )
        ref, got = solve(sc), grid_point(small_grid, **s)
        assert got["feasible"] == ref.feasible, s
        if ref.feasible:
            assert got["split"] == ref.split and got["rho"] == pytest.approx(ref.rho, abs=1e-9)
            assert got["latency"] == pytest.approx(ref.latency, rel=1e-9)
            assert got["energy"] == pytest.approx(ref.energy, rel=1e-9)
        else:
            assert got["reason"] == ref.reason and got["split"] == -1 and np.isnan(got["rho"])


def test_grid_point_refuses_settings_off_the_grid(small_grid):
    setting = {k: v[0] for k, v in SMALL_AXES.items()}
    with pytest.raises(ValueError, match="^latency must be one of"):
        grid_point(small_grid, **{**setting, "latency": 0.2})
    with pytest.raises(ValueError, match="^users must be given"):
        grid_point(small_grid, **{k: v for k, v in setting.items() if k != "users"})
    with pytest.raises(ValueError, match="^axes must have the keys"):
        explorer_grid({"latency": (1.0,)}, use_cache=False)


def test_grid_json_round_trips(small_grid):
    data = json.loads(grid_json(small_grid))
    assert data["shape"] == list(small_grid.shape)
    flat = np.ravel_multi_index((1, 0, 1, 1, 0, 2), small_grid.shape)  # C order, as the page reads
    assert data["split"][flat] == small_grid.split[1, 0, 1, 1, 0, 2]
    rho = small_grid.values["rho"][1, 0, 1, 1, 0, 2]
    assert data["rho"][flat] == (None if np.isnan(rho) else pytest.approx(rho, rel=1e-3))
    assert len(data["reasons"]) == len(small_grid.reasons)


def test_page_html_is_self_contained(small_grid):
    page = explorer_html(small_grid, uid="cx-test")
    assert page.count('type="range"') == len(SMALL_AXES)
    assert 'id="cx-test-plot"' in page and 'id="cx-test-data"' in page
    assert "<script src" not in page  # nothing is loaded from elsewhere
    assert len(page) > 1_000_000  # plotly's JavaScript is inside: the page needs no network
    lean = explorer_html(small_grid, uid="cx-test", include_plotlyjs=False)
    assert len(lean) < 50_000 and "Plotly.react" in lean
    data = lean.split('id="cx-test-data">', 1)[1].split("</script>", 1)[0]
    assert json.loads(data.replace("<\\/", "</"))["shape"] == list(small_grid.shape)
    with pytest.raises(ValueError, match="^uid"):
        explorer_html(small_grid, uid="bad id")


def test_default_grid_is_small():
    grid = explorer_grid()
    assert len(grid_json(grid)) < 2_000_000
    default = Scenario.default()
    # the default scenario is a grid point, and the page starts there
    point = grid_point(
        grid,
        model=default.profile.name,
        users=1,
        min_split=default.min_split,
        latency=default.budget.latency,
        energy=default.budget.energy,
        distance=100.0,
    )
    assert point["feasible"]
