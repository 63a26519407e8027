"""Tests of coinfer.optimize.references: each reference agrees with (or is no better than) the solver."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinfer.optimize import least_energy, solve
from coinfer.optimize.references import (
    REFERENCES,
    compare_solvers,
    cvxpy_least_energy,
    cvxpy_solve,
    grid_solve,
    random_scenario,
    random_work_curves,
    sca_solve,
    slsqp_solve,
)
from coinfer.system import Budget, Scenario, evaluate

# Seeds of random_scenario covering rho* = 0, 0 < rho* < rho_max, and infeasible instances.
SEEDS = [0, 2, 5, 7, 16, 19]


def _checked(sc, sol):
    if sol.feasible:
        assert bool(evaluate(sc, sol.split, sol.rho, sol.power, sol.freq, rtol=1e-9).feasible)
    return sol


@pytest.mark.parametrize("seed", SEEDS)
def test_cvxpy_joint_matches_solver(seed):
    sc = random_scenario(seed)
    ours, ref = solve(sc), _checked(sc, cvxpy_solve(sc))
    assert ours.feasible == ref.feasible
    if ours.feasible:
        assert ref.rho == pytest.approx(ours.rho, abs=1e-6)
        assert ref.rho >= ours.rho - 1e-9  # never better than the certified optimum


@pytest.mark.parametrize("rho", [0.0, 0.3, 0.6])
def test_cvxpy_least_energy_matches(rho):
    sc = Scenario.default(model="gpt2", budget=Budget(latency=0.6, energy=1.0))
    for s in (1, 6, sc.profile.n_blocks):
        a, b = least_energy(sc, s, rho), cvxpy_least_energy(sc, s, rho)
        assert a.feasible and b.feasible
        assert b.energy == pytest.approx(a.energy, rel=1e-6)
        assert a.energy <= b.energy * (1 + 1e-9)


def test_cvxpy_least_energy_fully_on_server():
    sc = Scenario.default(model="gpt2", min_split=0, budget=Budget(latency=0.3, energy=1.0))
    a, b = least_energy(sc, 0, 0.2), cvxpy_least_energy(sc, 0, 0.2)
    assert b.energy == pytest.approx(a.energy, rel=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
def test_grid_is_never_better_and_within_resolution(seed):
    sc = random_scenario(seed)
    n = 33
    ours, ref = solve(sc), _checked(sc, grid_solve(sc, n_rho=n, n_power=n, n_freq=n))
    if ref.feasible:
        assert ours.feasible and ref.rho >= ours.rho - 1e-9
    if not ours.feasible:
        assert not ref.feasible


@pytest.mark.parametrize("seed", SEEDS[:4])
def test_local_methods_are_never_better(seed):
    sc = random_scenario(seed)
    ours = solve(sc)
    for ref in (slsqp_solve(sc, n_starts=3, seed=1), sca_solve(sc)):
        _checked(sc, ref)
        if ref.feasible:
            assert ours.feasible and ref.rho >= ours.rho - 1e-9


def test_reference_solutions_carry_method_and_split_table():
    sc = random_scenario(2)
    sol = grid_solve(sc, n_rho=9, n_power=9, n_freq=9)
    assert sol.method == "grid"
    assert sol.splits.shape == sol.split_rho.shape == sol.split_feasible.shape
    assert set(REFERENCES) == {"cvxpy", "grid", "slsqp", "sca"}


def test_compare_solvers_shapes_and_agreement():
    out = compare_solvers(3, seed=0, references=("grid",), grid_points=9)
    assert out["coinfer"]["rho"].shape == (3,) and out["grid"]["time"].shape == (3,)
    both = out["coinfer"]["feasible"] & out["grid"]["feasible"]
    assert np.all(out["grid"]["rho"][both] >= out["coinfer"]["rho"][both] - 1e-9)


def test_random_scenario_is_seeded_and_valid():
    a, b = random_scenario(11), random_scenario(11)
    assert np.array_equal(a.profile.weight_flops, b.profile.weight_flops)
    assert a.budget == b.budget and math.isfinite(a.budget.latency)
    with pytest.raises(ValueError, match="seed"):
        random_scenario(-1)
    c, d = random_work_curves(a, 3), random_work_curves(a, 3)
    assert [w.pruning for w in c] == ["unstructured", "structured"]
    assert all(np.array_equal(x.device_cycles, y.device_cycles) for x, y in zip(c, d, strict=True))
    assert all(np.all(np.diff(w.device_cycles, axis=1) <= 0) for w in c)  # non-increasing in rho


def test_invalid_input():
    sc = random_scenario(0)
    with pytest.raises(ValueError, match="n_rho"):
        grid_solve(sc, n_rho=1)
    with pytest.raises(ValueError, match="rho"):
        cvxpy_least_energy(sc, sc.min_split, 1.5)
    with pytest.raises(ValueError, match="references"):
        compare_solvers(1, references=("nope",))


@pytest.mark.parametrize("seed", [1, 3, 4, 8])
def test_cvxpy_per_piece_matches_solver_on_measured_curves(seed):
    """With piecewise-linear measured work, cvxpy solves one convex program per piece."""
    sc = random_scenario(seed)
    sc = sc.replace(work=random_work_curves(sc, seed + 1))
    ours, ref = solve(sc), cvxpy_solve(sc)
    if ref.feasible:
        assert bool(
            evaluate(sc, ref.split, ref.rho, ref.power, ref.freq, pruning=ref.pruning).feasible
        )
    assert ours.feasible == ref.feasible
    if ours.feasible:
        assert ref.rho == pytest.approx(ours.rho, abs=1e-6)
        assert ref.rho >= ours.rho - 1e-9


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 10**6))
def test_cvxpy_agrees_on_random_instances(seed):
    sc = random_scenario(seed)
    ours, ref = solve(sc), _checked(sc, cvxpy_solve(sc))
    if ref.feasible:  # never better than the certified optimum
        assert ours.feasible and ref.rho >= ours.rho - 1e-9
    if ours.feasible and ref.feasible:
        assert ref.rho == pytest.approx(ours.rho, abs=1e-6)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10**6), st.booleans())
def test_grid_is_never_better_on_random_instances(seed, curves):
    sc = random_scenario(seed)
    if curves:
        sc = sc.replace(work=random_work_curves(sc, seed))
    ours, ref = solve(sc), grid_solve(sc, n_rho=17, n_power=17, n_freq=17)
    if ref.feasible:
        assert bool(
            evaluate(sc, ref.split, ref.rho, ref.power, ref.freq, pruning=ref.pruning).feasible
        )
        assert ours.feasible and ref.rho >= ours.rho - 1e-9
