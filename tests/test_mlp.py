"""Tests of coinfer.real.mlp and coinfer.theory.fc_bound: the output-distortion theorem on fully connected networks."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from coinfer.real.mlp import build_mlp, digits_data, mlp_layers, train_mlp_digits
from coinfer.real.pruning import prune
from coinfer.theory.fc_bound import matrix_norm, mlp_forward, output_distortion_bound


def _bound(original, modified, x, **kwargs):
    """The theorem on two torch networks, through their ``(layers, activation)`` form."""
    return output_distortion_bound(mlp_layers(original), mlp_layers(modified), x, **kwargs)


def _inputs(n, d, seed):
    return np.random.default_rng(seed).normal(size=(n, d))


@settings(max_examples=40, deadline=None)
@given(
    widths=st.lists(st.integers(1, 12), min_size=2, max_size=5),
    activation=st.sampled_from(["relu", "tanh", "leaky_relu", "identity"]),
    ratio=st.floats(0.0, 1.0),
    method=st.sampled_from(["magnitude", "random"]),
    seed=st.integers(0, 1000),
)
def test_bound_holds_for_pruned_random_networks(widths, activation, ratio, method, seed):
    net = build_mlp(widths, activation, seed=seed)
    pruned = prune(net, ratio, method, seed=seed).model
    x = _inputs(16, widths[0], seed)
    for p in (1, 2):
        for kind in ("operator", "entrywise"):
            for form in ("general", "pruned"):
                b = _bound(net, pruned, x, p=p, kind=kind, form=form)
                assert np.all(b.measured <= b.bound * (1 + 1e-10) + 1e-12)
                # the single-constant corollary (no bias change under pruning)
                assert np.all(b.measured <= b.gamma * b.param_distortion * (1 + 1e-10) + 1e-12)
                single = b.single_constant_bound
                assert np.all(b.measured <= single * (1 + 1e-10) + 1e-12)
                assert np.all(b.bound <= single * (1 + 1e-10) + 1e-12)  # it only adds slack
                if p == 2 and kind == "entrywise":  # ||f - f_hat||_2^2 <= Gamma_2 D_2
                    d2 = sum(
                        float(((wa - wb) ** 2).sum().detach())
                        for wa, wb in zip(net.parameters(), pruned.parameters(), strict=False)
                        if wa.ndim == 2
                    )
                    gamma2 = (b.constants**2).sum(1)
                    assert np.all(b.measured**2 <= gamma2 * d2 * (1 + 1e-10) + 1e-12)


@settings(max_examples=30, deadline=None)
@given(
    widths=st.lists(st.integers(1, 8), min_size=2, max_size=4),
    seed=st.integers(0, 1000),
    scale=st.floats(0.0, 2.0),
)
def test_bound_holds_for_arbitrary_perturbations_including_biases(widths, seed, scale):
    net = build_mlp(widths, "tanh", seed=seed)
    other = build_mlp(widths, "tanh", seed=seed + 1)
    with torch.no_grad():  # mix: a general perturbation of weights and biases, not a pruning
        for a, b in zip(other.parameters(), net.parameters(), strict=False):
            a.copy_(b + scale * (a - b))
    x = _inputs(8, widths[0], seed)
    for p in (1, 2):
        b = _bound(net, other, x, p=p)
        assert np.all(b.measured <= b.bound * (1 + 1e-10) + 1e-12)


def test_bound_is_tight_for_one_linear_layer_in_l1():
    # f(x) = W x: the l1 bound ||dW||_{1->1} ||x||_1 is attained at the basis vector of the
    # column with the largest absolute sum
    net = build_mlp((3, 2), seed=0)
    w = net[0].weight.detach().numpy()
    pruned = prune(net, 0.5).model
    dw = w - pruned[0].weight.detach().numpy()
    j = int(np.abs(dw).sum(0).argmax())
    x = np.eye(3)[[j]]
    b = _bound(net, pruned, x, p=1)
    assert b.measured[0] == pytest.approx(b.bound[0], rel=1e-12)


def test_hand_computed_two_layer_case():
    net = build_mlp((2, 2, 1), "relu", bias=False)
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64))
        net[2].weight.copy_(torch.tensor([[2.0, -1.0]], dtype=torch.float64))
    pruned = prune(net, 2 / 6).model  # zeroes 0.5 and 1.0 (the two smallest magnitudes)
    assert pruned[0].weight.detach().tolist() == [[0.0, -2.0], [0.0, 3.0]]
    x = np.array([[1.0, 1.0]])
    b = _bound(net, pruned, x, p=1)
    # f(x) = 2 relu(-1) - relu(3.5) = -3.5 and f_hat(x) = 2 relu(-2) - relu(3) = -3
    assert b.measured[0] == pytest.approx(0.5)
    # layer 1: ||dW_1||_{1->1} = 1.5 (column 0), amplified by ||W_2||_{1->1} = 2, ||x||_1 = 2
    assert b.weight_terms.tolist() == [1.5, 0.0]
    assert b.bound[0] == pytest.approx(2 * 1.5 * 2)


def test_spectral_norm_can_grow_under_pruning_but_abs_operator_cannot():
    w = np.array([[1.0, 1.0], [-1.0, 1.0]])
    w_hat = np.array([[1.0, 1.0], [0.0, 1.0]])
    assert matrix_norm(w_hat, 2) > matrix_norm(w, 2)  # golden ratio > sqrt(2)
    assert matrix_norm(w_hat, 2, "abs_operator") <= matrix_norm(w, 2, "abs_operator")
    assert matrix_norm(w_hat, 1) <= matrix_norm(w, 1)


def test_matrix_norms_by_hand():
    w = np.array([[1.0, -2.0], [3.0, 0.5]])
    assert matrix_norm(w, 1) == 4.0
    assert matrix_norm(w, 1, "entrywise") == 6.5
    assert matrix_norm(w, 2, "entrywise") == pytest.approx(np.sqrt(14.25))
    assert matrix_norm(w, 2) == pytest.approx(np.linalg.svd(w, compute_uv=False)[0])
    with pytest.raises(ValueError, match="p must be 1 or 2"):
        matrix_norm(w, 3)


def test_forward_matches_torch():
    net = build_mlp((5, 4, 3), "leaky_relu", seed=2)
    x = _inputs(6, 5, 0)
    layers, act = mlp_layers(net)
    with torch.no_grad():
        ref = net(torch.as_tensor(x)).numpy()
    assert np.allclose(mlp_forward(layers, x, act), ref, rtol=1e-13, atol=1e-13)


def test_unsupported_networks_are_rejected():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Sigmoid(), torch.nn.Linear(2, 1))
    with pytest.raises(ValueError, match="Sigmoid"):
        mlp_layers(net)
    with pytest.raises(ValueError, match="activation must be one of"):
        build_mlp((2, 2, 1), "sigmoid")
    net = build_mlp((3, 2), seed=0)
    bigger = build_mlp((3, 2), seed=0)
    with torch.no_grad():
        bigger[0].weight.mul_(2.0)  # not a pruning: magnitudes grow
    with pytest.raises(ValueError, match="form='pruned'"):
        _bound(net, bigger, np.ones((1, 3)), form="pruned")
    with pytest.raises(ValueError, match="x must have shape"):
        _bound(net, net, np.ones((1, 4)))


def test_training_on_digits_is_deterministic_and_learns():
    x, y, xt, yt = digits_data(seed=0)
    assert x.shape[1] == 64 and len(x) + len(xt) == 1797 and float(x.max()) <= 1.0
    a = train_mlp_digits((16,), epochs=60, seed=3)
    b = train_mlp_digits((16,), epochs=60, seed=3)
    assert a.test_accuracy == b.test_accuracy > 0.8
    for pa, pb in zip(a.model.parameters(), b.model.parameters(), strict=False):
        assert torch.equal(pa, pb)


def test_bound_sweep_holds_on_a_trained_network():
    from coinfer.real.mlp import bound_sweep
    from coinfer.theory.fc_bound import VARIANTS

    tr = train_mlp_digits((12,), epochs=40, seed=1)
    s = bound_sweep(tr.model, tr.x_test[:50].numpy(), [0.0, 0.3, 0.9])
    assert s.holds()
    assert set(s.bound) == set(VARIANTS)
    assert np.all(s.measured[1][:, 0] == 0) and np.all(s.param[1][:, 0] == 0)  # ratio 0: no change
    loose = s.looseness()[:, 1:]
    assert np.all(loose >= 1.0)
    # entrywise norms give a looser (larger) bound than operator norms
    assert np.all(
        s.bound[(1, "entrywise", "general")] >= s.bound[(1, "operator", "general")] - 1e-12
    )


def test_single_constant_form_needs_unchanged_biases():
    net = build_mlp((3, 4, 2), seed=0)
    other = build_mlp((3, 4, 2), seed=1)
    b = _bound(net, other, _inputs(4, 3, 0), p=2)
    with pytest.raises(ValueError, match="biases"):
        _ = b.single_constant_bound
