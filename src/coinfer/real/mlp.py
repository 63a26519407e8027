"""Small fully connected torch networks for the output-distortion theorem (book chapter "Output vs
parameter distortion"): building and training them, reading their layers for
:func:`coinfer.theory.fc_bound.output_distortion_bound`, and the pruning sweep of the bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..theory.fc_bound import ACTIVATIONS, VARIANTS, BoundSweep, output_distortion_bound
from ..validation import check_int, check_real

__all__ = [
    "build_mlp",
    "digits_data",
    "TrainedMLP",
    "train_mlp_digits",
    "mlp_layers",
    "bound_sweep",
]


def _activation_module(name: str) -> torch.nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {name!r}")
    return {
        "relu": torch.nn.ReLU(),
        "tanh": torch.nn.Tanh(),
        "leaky_relu": torch.nn.LeakyReLU(0.1),
        "identity": torch.nn.Identity(),
    }[name]


def build_mlp(widths, activation: str = "relu", *, bias: bool = True, seed: int = 0):
    """A float64 fully connected network with layer widths ``widths = (n_0, n_1, ..., n_L)``.

    Weights and biases are drawn uniformly in ``+-1/sqrt(fan_in)`` (PyTorch's default scale) from a
    generator seeded with ``seed``. Layers are ``Linear, activation, ..., Linear`` (no activation
    after the last layer).
    """
    widths = [check_int("widths entry", w, 1) for w in widths]
    if len(widths) < 2:
        raise ValueError(f"widths must have at least 2 entries (input and output); got {widths}")
    seed = check_int("seed", seed, 0)
    gen = torch.Generator().manual_seed(seed)
    layers: list[torch.nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        lin = torch.nn.Linear(a, b, bias=bias, dtype=torch.float64)
        bound = 1.0 / np.sqrt(a)
        with torch.no_grad():
            lin.weight.copy_((torch.rand(b, a, generator=gen, dtype=torch.float64) * 2 - 1) * bound)
            if bias:
                lin.bias.copy_((torch.rand(b, generator=gen, dtype=torch.float64) * 2 - 1) * bound)
        layers.append(lin)
        if i < len(widths) - 2:
            layers.append(_activation_module(activation))
    return torch.nn.Sequential(*layers)


def digits_data(seed: int = 0, test_fraction: float = 0.25):
    """scikit-learn's handwritten digits (1797 images of 8x8 pixels, 10 classes), shipped offline.

    Pixels are scaled from 0..16 to [0, 1]. Returns ``(x_train, y_train, x_test, y_test)`` as float64 /
    int64 tensors, split by a permutation drawn from ``seed``.
    """
    from sklearn.datasets import load_digits

    seed = check_int("seed", seed, 0)
    test_fraction = check_real("test_fraction", test_fraction, 0.0, 1.0, lo_open=True, hi_open=True)
    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    test, train = order[:n_test], order[n_test:]
    xt = torch.as_tensor(x / 16.0, dtype=torch.float64)
    yt = torch.as_tensor(y, dtype=torch.int64)
    return xt[train], yt[train], xt[test], yt[test]


@dataclass(frozen=True)
class TrainedMLP:
    """A network trained on the digits, with its test accuracy (fraction in [0, 1])."""

    model: torch.nn.Sequential
    test_accuracy: float
    x_test: torch.Tensor
    y_test: torch.Tensor


def train_mlp_digits(
    hidden=(64, 32), activation: str = "relu", *, epochs: int = 300, lr: float = 0.01, seed: int = 0
) -> TrainedMLP:
    """Train a ``64 -> hidden -> 10`` network on the digits with full-batch Adam, cross-entropy loss.

    Deterministic under ``seed`` (initialisation and split); takes about a second for the default
    size on one core.
    """
    epochs = check_int("epochs", epochs, 1)
    lr = check_real("lr", lr, 0.0, lo_open=True)
    x, y, xt, yt = digits_data(seed)
    model = build_mlp((64, *hidden, 10), activation, seed=seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc = float((model(xt).argmax(1) == yt).double().mean())
    return TrainedMLP(model=model.eval(), test_accuracy=acc, x_test=xt, y_test=yt)


def mlp_layers(model: torch.nn.Sequential):
    """``(layers, activation)``: the ``(W_l, b_l)`` of a fully connected network as float64 arrays
    (``b_l`` zeros when the layer has no bias) and the name of its activation.

    Raises ``ValueError`` if the network is not ``Linear, act, ..., Linear`` with one activation of
    :data:`ACTIVATIONS` (for leaky ReLU, a slope in [0, 1]).
    """
    if not isinstance(model, torch.nn.Sequential):
        raise TypeError(f"model must be a torch.nn.Sequential; got {type(model).__name__}")
    mods = list(model)
    lins, acts = mods[0::2], mods[1::2]
    if not all(isinstance(m, torch.nn.Linear) for m in lins) or len(mods) % 2 == 0:
        raise ValueError(
            "model must alternate Linear and activation layers, starting and ending with Linear"
        )
    names = set()
    for a in acts:
        if isinstance(a, torch.nn.ReLU):
            names.add("relu")
        elif isinstance(a, torch.nn.Tanh):
            names.add("tanh")
        elif isinstance(a, torch.nn.LeakyReLU) and 0.0 <= a.negative_slope <= 1.0:
            names.add("leaky_relu")
        elif isinstance(a, torch.nn.Identity):
            names.add("identity")
        else:
            raise ValueError(
                f"activation {type(a).__name__} is not one the theorem covers ({', '.join(ACTIVATIONS)})"
            )
    if len(names) > 1:
        raise ValueError(f"model must use one activation; got {sorted(names)}")
    layers = []
    for lin in lins:
        w = lin.weight.detach().cpu().double().numpy()
        b = (
            lin.bias.detach().cpu().double().numpy()
            if lin.bias is not None
            else np.zeros(w.shape[0])
        )
        layers.append((w, b))
    slope = next((a.negative_slope for a in acts if isinstance(a, torch.nn.LeakyReLU)), 0.0)
    return layers, (names.pop() if names else "identity", float(slope))


def bound_sweep(model, x, ratios, methods=("magnitude", "random"), *, seed: int = 0) -> BoundSweep:
    """Prune ``model`` (global, unstructured) at every ratio and method and evaluate every variant of
    the bound (:data:`VARIANTS`) and the measured output distortion on every row of ``x``."""
    from .pruning import prune

    ratios = np.array([check_real("ratio", r, 0.0, 1.0) for r in np.atleast_1d(ratios)], float)
    shape = (len(methods), len(ratios), len(x))
    measured = {p: np.zeros(shape) for p in (1, 2)}
    bound = {v: np.zeros(shape) for v in VARIANTS}
    single = {v: np.zeros(shape) for v in VARIANTS}
    param = {p: np.zeros(shape[:2]) for p in (1, 2)}
    net = mlp_layers(model)
    for i, method in enumerate(methods):
        for j, r in enumerate(ratios):
            pruned = prune(model, r, method, seed=seed).model
            for v in VARIANTS:
                res = output_distortion_bound(
                    net, mlp_layers(pruned), x, p=v[0], kind=v[1], form=v[2]
                )
                bound[v][i, j] = res.bound
                single[v][i, j] = res.single_constant_bound
                measured[v[0]][i, j] = res.measured
                param[v[0]][i, j] = res.param_distortion
    return BoundSweep(
        ratios=ratios,
        methods=tuple(methods),
        measured=measured,
        bound=bound,
        param=param,
        single=single,
    )
