"""Tests of coinfer.studies: parallel map, fading draws, sweeps, Monte Carlo, split and model-size studies."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinfer import studies as ex
from coinfer.system import DEVICE_CLASSES, REPLACEABLE, Budget, Scenario, path_gain


def _square(x):
    return x * x


def test_parallel_map_keeps_order_and_honours_the_backend():
    from joblib import parallel_config

    assert ex.parallel_map(_square, range(6), progress=False) == [0, 1, 4, 9, 16, 25]
    with parallel_config(backend="threading", n_jobs=2):
        assert ex.parallel_map(_square, range(6), progress=False) == [0, 1, 4, 9, 16, 25]


@settings(max_examples=20, deadline=None)
@given(mean=st.floats(1e-14, 1e-6), seed=st.integers(0, 2**31))
def test_rayleigh_gains_are_seeded_and_scaled(mean, seed):
    g = ex.rayleigh_gains(mean, 50, seed)
    np.testing.assert_array_equal(g, ex.rayleigh_gains(mean, 50, seed))
    assert np.all(g > 0)
    np.testing.assert_allclose(
        g / mean, np.random.default_rng(seed).exponential(1.0, 50), rtol=1e-12
    )


def test_rayleigh_gains_mean_and_distribution():
    g = ex.rayleigh_gains(2.0, 200_000, 1)
    assert abs(g.mean() - 2.0) < 0.02
    # |h|^2 ~ Exp(1): P(g < mean * t) = 1 - exp(-t)
    assert abs(np.mean(g < 2.0) - (1 - np.exp(-1))) < 0.005


@pytest.mark.parametrize(
    "bad, match",
    [(dict(mean_gain=0.0), "mean_gain"), (dict(n=0), "n must"), (dict(seed=-1), "seed must")],
)
def test_rayleigh_gains_rejects_bad_input(bad, match):
    args = dict(mean_gain=1.0, n=10, seed=0) | bad
    with pytest.raises(ValueError, match=match):
        ex.rayleigh_gains(**args)


def test_every_sweep_parameter_is_one_replace_keyword(scenario):
    assert scenario.replace(latency=2.0).budget.latency == 2.0
    assert scenario.replace(energy=0.7).budget.energy == 0.7
    assert scenario.replace(bandwidth=1e6).uplink.bandwidth == 1e6
    assert scenario.replace(distance=300.0).uplink.gain == pytest.approx(float(path_gain(300.0)))
    assert scenario.replace(flops=1e11).server.flops == 1e11
    assert scenario.replace(model="gpt2-medium").profile.n_blocks == 24
    assert scenario.replace(model="gpt2-medium").profile.seq_len == 64
    assert scenario.replace(device="laptop").device == DEVICE_CLASSES["laptop"]
    assert scenario.replace(min_split=0).min_split == 0
    # a sweep changes its parameter through Scenario.replace: every name must be a keyword of it
    assert set(ex.SWEEP_PARAMETERS) <= set(REPLACEABLE)


@pytest.mark.parametrize(
    "param, value, match",
    [
        ("colour", 1, "colour is not a scenario parameter"),
        ("device", "toaster", "device must"),
        ("latency", -1.0, "latency"),
    ],
)
def test_replace_rejects_bad_input(scenario, param, value, match):
    with pytest.raises(ValueError, match=match):
        scenario.replace(**{param: value})


def test_device_classes_have_the_stated_energy_per_flop():
    pj = {k: d.kappa * d.f_max**2 / d.flops_per_cycle * 1e12 for k, d in DEVICE_CLASSES.items()}
    assert pj["phone-cpu"] == pytest.approx(2.5)
    assert pj["phone-npu"] == pytest.approx(1.0)
    assert pj["laptop"] == pytest.approx(5.0, rel=0.01)
    assert pj["iot"] == pytest.approx(5.0)


def test_sweep_shapes_monotonicity_and_cache(scenario, tmp_cache):
    values = (0.1, 0.2, 0.4, 0.8)
    res = ex.sweep(scenario, "latency", values)
    assert res.objective.shape == (len(res.methods), len(values))
    assert res.methods[0] == "proposed"
    prop = res.row("proposed")
    # a looser latency budget never hurts the optimiser
    rho = np.where(prop["feasible"], prop["rho"], np.inf)
    assert np.all(np.diff(rho) <= 1e-9)
    # the optimiser is never worse than any baseline at any point
    for i, m in enumerate(res.methods):
        ok = res.feasible[i]
        assert np.all(prop["feasible"][ok])
        assert np.all(prop["objective"][ok] <= res.objective[i][ok] + 1e-9), m
    assert len(list(tmp_cache.glob("sweep-*.pkl"))) == 1
    again = ex.sweep(scenario, "latency", values)
    np.testing.assert_array_equal(again.objective, res.objective)


def test_sweep_rejects_unknown_parameters(scenario):
    with pytest.raises(ValueError, match="param must be"):
        ex.sweep(scenario, "colour", (1,), use_cache=False)


def test_monte_carlo_is_reproducible_and_backend_independent(scenario):
    from joblib import parallel_config

    a = ex.monte_carlo_sweep(scenario, "distance", (100.0, 400.0), n=40, seed=3, use_cache=False)
    with parallel_config(backend="threading", n_jobs=2):
        b = ex.monte_carlo_sweep(
            scenario, "distance", (100.0, 400.0), n=40, seed=3, use_cache=False
        )
    np.testing.assert_array_equal(a.objective, b.objective)
    np.testing.assert_array_equal(a.feasible, b.feasible)
    c = ex.monte_carlo_sweep(scenario, "distance", (100.0, 400.0), n=40, seed=4, use_cache=False)
    assert not np.array_equal(np.nan_to_num(a.energy, nan=-1), np.nan_to_num(c.energy, nan=-1))
    assert a.objective.shape == (len(a.methods), 2, 40)


def test_monte_carlo_summaries(scenario):
    sc = scenario.replace(budget=Budget(latency=0.08, energy=0.01))
    mc = ex.monte_carlo_sweep(sc, "distance", (100.0, 800.0), n=60, seed=0, use_cache=False)
    out = mc.outage
    assert out.shape == (len(mc.methods), 2)
    np.testing.assert_allclose(out, 1.0 - mc.feasible.mean(axis=-1))
    i = mc.methods.index("proposed")
    # farther away the channel is worse on every realisation (common random numbers)
    assert out[i, 1] >= out[i, 0]
    # the baselines that restrict the joint design never serve more realisations than it does
    # (on-server lifts the privacy floor, so it is not a restriction of this scenario's problem)
    restrictions = [k for k, m in enumerate(mc.methods) if m != "on-server"]
    assert np.all(out[i] <= out[restrictions].min(axis=0) + 1e-12)
    m = mc.mean_objective[i, 0]
    feas = mc.feasible[i, 0]
    if feas.any():
        assert m == pytest.approx(mc.objective[i, 0][feas].mean())
    freq = mc.split_frequencies("proposed")
    np.testing.assert_allclose(sum(freq.values()), 1.0)


def test_single_point_monte_carlo_uses_the_scenario_gain(scenario):
    mc = ex.monte_carlo(scenario, n=20, seed=1, methods=("proposed",), use_cache=False)
    assert mc.values == (None,) and mc.objective.shape == (1, 1, 20)
    with pytest.raises(ValueError, match="n must"):
        ex.monte_carlo(scenario, n=0, use_cache=False)


def test_kaplan_loss_and_effective_params():
    assert ex.kaplan_loss(ex.KAPLAN_N_C) == pytest.approx(1.0)
    # GPT-2 small's ~85M non-embedding weights: (8.8e13 / 8.5e7)^0.076
    assert ex.kaplan_loss(8.5e7) == pytest.approx((8.8e13 / 8.5e7) ** 0.076)
    assert np.all(np.diff(ex.kaplan_loss(np.geomspace(1e6, 1e10, 9))) < 0)
    assert ex.effective_params(1e9, 0.5, 1.0) == pytest.approx(5e8)
    assert ex.effective_params(1e9, 0.5, 0.0) == pytest.approx(1e9)
    with pytest.raises(ValueError, match="rho"):
        ex.effective_params(1e9, 1.0, 1.0)
    with pytest.raises(ValueError, match="n_params"):
        ex.kaplan_loss(0.0)


@settings(max_examples=50, deadline=None)
@given(
    ns=st.floats(1e6, 1e9),
    ratio=st.floats(1.1, 100.0),
    rs=st.floats(0.0, 0.9),
    extra=st.floats(0.001, 0.09),
)
def test_breakeven_beta_equalises_effective_sizes(ns, ratio, rs, extra):
    nl, rl = ns * ratio, rs + extra
    b = float(ex.breakeven_beta(ns, rs, nl, rl))
    assert b > 0

    def log_eff(n, r, beta):  # log of N (1 - rho)^beta, immune to underflow at large beta
        return np.log(n) + beta * np.log1p(-r)

    assert log_eff(nl, rl, b) == pytest.approx(log_eff(ns, rs, b), rel=1e-9, abs=1e-9)
    assert log_eff(nl, rl, 0.5 * b) > log_eff(ns, rs, 0.5 * b)
    assert log_eff(nl, rl, 2.0 * b) < log_eff(ns, rs, 2.0 * b)
    if b < 50:
        assert ex.effective_params(nl, rl, b) == pytest.approx(
            ex.effective_params(ns, rs, b), rel=1e-9
        )
    assert np.isinf(ex.breakeven_beta(ns, rs, nl, rs))  # no extra pruning: larger always wins


def test_breakeven_beta_is_one_for_pure_weight_work():
    # The budget fixes the non-zeros K = (1 - rho) N for both models.
    k = 1e8
    assert float(ex.breakeven_beta(2e8, 1 - k / 2e8, 8e8, 1 - k / 8e8)) == pytest.approx(1.0)


def test_non_embedding_params_of_gpt2_family():
    from coinfer.system import builtin_profile

    # 12 d^2 weights per block: GPT-2 small 12 * 12 * 768^2 = 84.9M
    assert ex.non_embedding_params(builtin_profile("gpt2", 64)) == pytest.approx(12 * 12 * 768**2)
    assert ex.non_embedding_params(builtin_profile("gpt2-xl", 32)) == pytest.approx(
        48 * 12 * 1600**2
    )


def test_model_size_study(tmp_cache):
    sc = Scenario.default("gpt2", seq_len=64, budget=Budget(latency=0.2, energy=0.02))
    st_ = ex.model_size_study(
        sc, ("gpt2", "gpt2-medium", "gpt2-large"), "latency", (0.05, 0.2, 2.0)
    )
    assert st_.rho.shape == (3, 3)
    r = np.where(st_.feasible, st_.rho, 2.0)
    assert np.all(np.diff(r, axis=1) >= -1e-9)  # larger models never need less pruning
    assert np.all(np.diff(r, axis=0) <= 1e-9)  # looser budgets never need more
    largest = np.array([np.flatnonzero(f)[-1] if f.any() else -1 for f in st_.feasible])
    np.testing.assert_array_equal(
        st_.best_model(0.0), largest
    )  # free pruning: the largest feasible wins
    with pytest.raises(ValueError, match="increasing size"):
        ex.model_size_study(sc, ("gpt2-medium", "gpt2"), "latency", (1.0,), use_cache=False)


@settings(max_examples=12, deadline=None)
@given(
    device=st.sampled_from(sorted(DEVICE_CLASSES)),
    latency=st.floats(0.05, 5.0),
    energy=st.floats(1e-3, 0.5),
    distance=st.floats(30.0, 1500.0),
    model=st.sampled_from(["gpt2", "gpt2-medium", "smollm2-135m"]),
)
def test_interior_splits_are_dominated_with_a_fast_server(device, latency, energy, distance, model):
    """Proposition prop-sp-dominance (chapter split_point): Phi_s >= phi_d f_max makes rho*(s)
    non-decreasing on the interior splits, so the optimum is at s = min_split or s = L."""
    from coinfer.optimize import solve
    from coinfer.system import EdgeServer

    dev = DEVICE_CLASSES[device]
    sc = Scenario.default(
        model,
        seq_len=64,
        budget=Budget(latency=latency, energy=energy),
        device=dev,
        server=EdgeServer(flops=dev.f_max * dev.flops_per_cycle * 1.5),
    )
    sol = solve(sc.replace(gain=float(path_gain(distance))))
    r = np.where(sol.split_feasible, sol.split_rho, 2.0)[:-1]  # splits 1..L-1
    assert np.all(np.diff(r) >= -1e-9)
    if sol.feasible:
        L = sc.profile.n_blocks
        best_end = min(r[0], np.where(sol.split_feasible[-1], sol.split_rho[-1], 2.0))
        assert sol.rho <= best_end + 1e-9 and sol.rho >= best_end - 1e-9
        assert sol.split in (1, L) or sol.rho == 0.0  # ties at rho = 0 may go to any split


def test_split_study_small(tmp_cache):
    sc = Scenario.default("gpt2", seq_len=64, budget=Budget(latency=0.3, energy=0.03))
    st_ = ex.split_study(sc, ("phone-cpu",), (1.28e12, 1.6e10), (100.0, 800.0), n=30, seed=1)
    total = sum(st_.fractions.values())
    np.testing.assert_allclose(total, 1.0)
    assert np.all(st_.fractions["interior"][:, 0] == 0)  # dedicated server: never interior
    assert np.all(st_.rho_ends >= st_.rho_joint - 1e-9)
    np.testing.assert_allclose(st_.outage, st_.fractions["infeasible"])
    with pytest.raises(ValueError, match="devices must"):
        ex.split_study(sc, ("toaster",), n=2, use_cache=False)


def test_implied_beta_inverts_the_effective_size_model():
    rho = np.array([0.1, 0.3, 0.5])
    beta = np.array([0.5, 1.0, 4.0])
    ratio = ex.kaplan_loss(1e8 * (1 - rho) ** beta) / ex.kaplan_loss(1e8)
    np.testing.assert_allclose(ex.implied_beta(ratio, rho), beta, rtol=1e-10)
    with pytest.raises(ValueError, match="rho"):
        ex.implied_beta(1.1, 0.0)


def test_pruning_loss_on_a_tiny_random_causal_lm():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from coinfer.real.split_execution import full_forward, logits_perplexity

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    model = LlamaForCausalLM(cfg).eval()
    ids = torch.randint(0, 64, (2, 12), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    before = [p.detach().clone() for p in model.parameters()]
    from coinfer.real.split_execution import pruning_loss

    loss = pruning_loss(model, ids, mask, (0.0, 0.5, 0.99))
    assert loss.shape == (3,) and np.all(np.isfinite(loss))
    with torch.no_grad():
        ref = np.log(logits_perplexity(full_forward(model, ids, mask), ids, mask))
    assert loss[0] == pytest.approx(ref)
    assert loss[2] != pytest.approx(loss[0])
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
