"""Small fully connected networks and the output-distortion bound of the theorem (DESIGN.md section 3, T1).

The network is ``f(x) = W_L h_{L-1} + b_L`` with ``h_0 = x`` and ``h_l = sigma(W_l h_{l-1} + b_l)``,
``sigma`` elementwise, 1-Lipschitz, ``sigma(0) = 0`` (ReLU, tanh, leaky ReLU with slope in [0, 1]).
:func:`output_distortion_bound` evaluates, per input, the layer-wise telescoping bound proved in the book
chapter ``output_distortion`` in the l1 norm (``p=1``, absolute error) or the l2 norm (``p=2``, for
squared error), with operator or entrywise matrix norms, in float64, together with the exact measured
output distortion, so the bound can be checked on every input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .validation import check_array, check_int, check_real

__all__ = [
    "ACTIVATIONS",
    "build_mlp",
    "digits_data",
    "TrainedMLP",
    "train_mlp_digits",
    "mlp_layers",
    "mlp_forward",
    "matrix_norm",
    "OutputBound",
    "output_distortion_bound",
    "VARIANTS",
    "BoundSweep",
    "bound_sweep",
]

#: Activations allowed by the theorem: 1-Lipschitz and zero at zero.
ACTIVATIONS = ("relu", "tanh", "leaky_relu", "identity")


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
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
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
        raise ValueError("model must alternate Linear and activation layers, starting and ending with Linear")
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
        b = lin.bias.detach().cpu().double().numpy() if lin.bias is not None else np.zeros(w.shape[0])
        layers.append((w, b))
    slope = next((a.negative_slope for a in acts if isinstance(a, torch.nn.LeakyReLU)), 0.0)
    return layers, (names.pop() if names else "identity", float(slope))


def mlp_forward(layers, x, activation=("relu", 0.0)) -> np.ndarray:
    """Output of the network ``layers`` (from :func:`mlp_layers`) on inputs ``x`` of shape
    ``(n, n_0)``, in float64; returns ``(n, n_L)``."""
    name, slope = activation
    h = np.asarray(x, dtype=np.float64)
    for i, (w, b) in enumerate(layers):
        h = h @ w.T + b
        if i < len(layers) - 1:
            if name == "relu":
                h = np.maximum(h, 0.0)
            elif name == "tanh":
                h = np.tanh(h)
            elif name == "leaky_relu":
                h = np.where(h >= 0, h, slope * h)
    return h


def matrix_norm(w, p: int, kind: str = "operator") -> float:
    """A matrix norm of ``w``.

    ``kind="operator"``: the norm induced by the vector lp norm, ``max_j sum_i |w_ij|`` (largest column
    sum) for ``p=1`` and the largest singular value for ``p=2``. ``kind="entrywise"``: ``sum |w_ij|``
    for ``p=1`` and the Frobenius norm for ``p=2``. ``kind="abs_operator"``: the operator norm of the
    entrywise absolute value ``|w|``, which no pruning of ``w`` can increase (for ``p=1`` it equals the
    operator norm).
    """
    w = np.asarray(w, dtype=np.float64)
    if p not in (1, 2):
        raise ValueError(f"p must be 1 or 2; got {p!r}")
    if kind == "entrywise":
        return float(np.abs(w).sum()) if p == 1 else float(np.sqrt((w * w).sum()))
    if kind == "abs_operator":
        w = np.abs(w)
    elif kind != "operator":
        raise ValueError(f"kind must be 'operator', 'entrywise' or 'abs_operator'; got {kind!r}")
    if w.size == 0:
        return 0.0
    return float(np.abs(w).sum(0).max()) if p == 1 else float(np.linalg.norm(w, 2))


@dataclass(frozen=True)
class OutputBound:
    """The theorem's bound and the measured output distortion, per input.

    Attributes:
        p: the vector norm (1: absolute error, 2: Euclidean; square both sides for squared error).
        kind: the matrix norm of the weight errors (see :func:`matrix_norm`); constants use
            operator norms.
        form: ``"general"`` (any perturbation) or ``"pruned"`` (constants from the original only).
        measured: ``||f(x) - f_hat(x)||_p`` per input.
        bound: the theorem's right-hand side per input (``measured <= bound``).
        constants: ``A_l(x)``, shape ``(n_inputs, L)``: the weight of layer ``l``'s distortion.
        weight_terms: ``||W_l - W_hat_l||`` per layer (in the chosen matrix norm), shape ``(L,)``.
        bias_terms: ``||b_l - b_hat_l||_p`` per layer, shape ``(L,)``.
        gamma: ``max_l A_l(x)`` per input: with no bias change, ``measured <= gamma * sum_l
            ||W_l - W_hat_l||`` (a single constant).
        param_distortion: ``sum_l ||W_l - W_hat_l||_entrywise`` (``p=1``: ``D_1``, the total absolute
            error of the weights; ``p=2``: ``sum_l ||dW_l||_F``, which is at least ``sqrt(D_2)``).
    """

    p: int
    kind: str
    form: str
    measured: np.ndarray
    bound: np.ndarray
    constants: np.ndarray
    weight_terms: np.ndarray
    bias_terms: np.ndarray
    gamma: np.ndarray
    param_distortion: float

    @property
    def single_constant_bound(self) -> np.ndarray:
        """The theorems' single-constant form per input, valid when the biases are unchanged.

        ``p=1``: ``Gamma_1 * sum_l ||dW_l||`` with ``Gamma_1 = max_l A_l`` (with ``kind="entrywise"``,
        ``Gamma_1 D_1``). ``p=2``: ``sqrt(Gamma_2 * sum_l ||dW_l||^2)`` with ``Gamma_2 = sum_l A_l^2``
        (Cauchy-Schwarz; with ``kind="entrywise"`` its square is ``Gamma_2 D_2``, the bound on the squared
        error). Raises ``ValueError`` if a bias changed.
        """
        if np.any(self.bias_terms > 0):
            raise ValueError("the single-constant form needs unchanged biases")
        if self.p == 1:
            return self.gamma * self.weight_terms.sum()
        return np.sqrt((self.constants**2).sum(1) * (self.weight_terms**2).sum())

    @property
    def looseness(self) -> np.ndarray:
        """``bound / measured`` per input (``inf`` where nothing changed and the bound is positive)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.measured > 0, self.bound / self.measured,
                            np.where(self.bound > 0, np.inf, 1.0))


def output_distortion_bound(
    original: torch.nn.Sequential,
    modified: torch.nn.Sequential,
    x,
    *,
    p: int = 1,
    kind: str = "operator",
    form: str = "general",
) -> OutputBound:
    """Evaluate the theorem for networks ``original`` and ``modified`` on inputs ``x`` (``(n, n_0)``).

    ``form="general"``: ``||f - f_hat||_p <= sum_l P_l (||W_l - W_hat_l|| beta_hat_{l-1} +
    ||b_l - b_hat_l||_p)`` with ``P_l = prod_{k>l} ||W_k||`` and ``beta_hat_l`` the bound on the
    modified network's hidden norms (``beta_hat_0 = ||x||_p``). ``form="pruned"`` uses the original
    network's norms in ``beta`` (valid when ``|W_hat_l| <= |W_l|`` entrywise, e.g. pruning; for
    ``p=2`` it takes ``|| |W| ||_2``, since pruning can raise ``||W||_2``). The constants use operator
    norms; ``kind`` is the norm of the weight errors ``||W_l - W_hat_l||``: ``"operator"`` or
    ``"entrywise"`` (sum of absolute errors for ``p=1``, Frobenius for ``p=2``: the parameter
    distortion, a looser bound). Raises ``ValueError`` if the
    networks differ in shape or activation, or ``form="pruned"`` is asked of a non-pruning change.
    """
    if p not in (1, 2):
        raise ValueError(f"p must be 1 or 2; got {p!r}")
    if kind not in ("operator", "entrywise"):
        raise ValueError(f"kind must be 'operator' or 'entrywise'; got {kind!r}")
    if form not in ("general", "pruned"):
        raise ValueError(f"form must be 'general' or 'pruned'; got {form!r}")
    layers, act = mlp_layers(original)
    layers_hat, act_hat = mlp_layers(modified)
    if act != act_hat or [w.shape for w, _ in layers] != [w.shape for w, _ in layers_hat]:
        raise ValueError("modified must have the architecture and activation of original")
    x = check_array("x", x, ndim=2, shape=(None, layers[0][0].shape[1]))
    if form == "pruned":
        for (w, b), (wh, bh) in zip(layers, layers_hat):
            if np.any(np.abs(wh) > np.abs(w)) or np.any(np.abs(bh) > np.abs(b)):
                raise ValueError("form='pruned' needs |W_hat| <= |W| and |b_hat| <= |b| entrywise")
    n_layers = len(layers)
    # the amplification constants always use operator norms (the telescoping step needs them);
    # ``kind`` only selects the norm of the weight errors, entrywise being the looser one
    norm_w = np.array([matrix_norm(w, p, "operator") for w, _ in layers])
    beta_kind = "abs_operator" if form == "pruned" else "operator"
    beta_src = layers if form == "pruned" else layers_hat
    norm_beta = np.array([matrix_norm(w, p, beta_kind) for w, _ in beta_src])
    bias_beta = np.array([np.linalg.norm(b, p) for _, b in beta_src])
    weight_terms = np.array([matrix_norm(w - wh, p, kind) for (w, _), (wh, _) in zip(layers, layers_hat)])
    bias_terms = np.array([np.linalg.norm(b - bh, p) for (_, b), (_, bh) in zip(layers, layers_hat)])

    # P_l = prod_{k > l} ||W_k||: how much later layers can amplify an error made at layer l
    after = np.array([np.prod(norm_w[l + 1 :]) for l in range(n_layers)])
    beta = np.empty((x.shape[0], n_layers))  # beta[:, l] bounds ||h_hat_l|| for l = 0..L-1
    beta[:, 0] = np.linalg.norm(x, p, axis=1)
    for l in range(1, n_layers):
        beta[:, l] = norm_beta[l - 1] * beta[:, l - 1] + bias_beta[l - 1]
    constants = after[None, :] * beta
    bound = constants @ weight_terms + after @ bias_terms
    measured = np.linalg.norm(mlp_forward(layers, x, act) - mlp_forward(layers_hat, x, act), p, axis=1)
    param = float(sum(matrix_norm(w - wh, p, "entrywise") for (w, _), (wh, _) in zip(layers, layers_hat)))
    return OutputBound(
        p=p, kind=kind, form=form, measured=measured, bound=bound, constants=constants,
        weight_terms=weight_terms, bias_terms=bias_terms, gamma=constants.max(1),
        param_distortion=param,
    )


#: The bound variants evaluated by :func:`bound_sweep`: ``(p, kind, form)``.
VARIANTS = tuple(
    (p, kind, form) for p in (1, 2) for kind in ("operator", "entrywise") for form in ("general", "pruned")
)


@dataclass(frozen=True)
class BoundSweep:
    """The theorem checked on one network across pruning methods and ratios.

    ``measured[p]`` has shape ``(n_methods, n_ratios, n_inputs)`` (``||f - f_hat||_p``);
    ``bound[(p, kind, form)]`` and ``single[(p, kind, form)]`` (the single-constant form,
    :attr:`OutputBound.single_constant_bound`) the same shape; ``param[p]`` shape
    ``(n_methods, n_ratios)``: the entrywise parameter distortion (``p=1``: ``sum |dW|``;
    ``p=2``: ``sum_l ||dW_l||_F``).
    """

    ratios: np.ndarray
    methods: tuple[str, ...]
    measured: dict
    bound: dict
    param: dict
    single: dict

    def holds(self) -> bool:
        """Whether every variant of the bound, in its per-layer and its single-constant form, holds on
        every input, method and ratio."""
        return all(np.all(self.measured[v[0]] <= b[v] * (1 + 1e-12) + 1e-300)
                   for b in (self.bound, self.single) for v in b)

    def looseness(self, variant=(1, "operator", "general")) -> np.ndarray:
        """``bound / measured`` for one variant, ``(n_methods, n_ratios, n_inputs)`` (NaN if 0/0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.bound[variant] / self.measured[variant[0]]


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
    for i, method in enumerate(methods):
        for j, r in enumerate(ratios):
            pruned = prune(model, r, method, seed=seed).model
            for v in VARIANTS:
                res = output_distortion_bound(model, pruned, x, p=v[0], kind=v[1], form=v[2])
                bound[v][i, j] = res.bound
                single[v][i, j] = res.single_constant_bound
                measured[v[0]][i, j] = res.measured
                param[v[0]][i, j] = res.param_distortion
    return BoundSweep(ratios=ratios, methods=tuple(methods), measured=measured, bound=bound, param=param,
                      single=single)
