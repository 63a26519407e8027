"""The fully connected output-distortion bound of the book's theorem, evaluated exactly (numpy only).

The network is ``f(x) = W_L h_{L-1} + b_L`` with ``h_0 = x`` and ``h_l = sigma(W_l h_{l-1} + b_l)``,
``sigma`` elementwise, 1-Lipschitz, ``sigma(0) = 0`` (ReLU, tanh, leaky ReLU with slope in [0, 1]).
A network is a list of ``(W_l, b_l)`` float64 arrays and an activation ``(name, slope)``
(:func:`coinfer.real.mlp.mlp_layers` reads them off a torch network). :func:`output_distortion_bound`
evaluates, per input, the layer-wise telescoping bound proved in the book chapter "Output vs parameter
distortion" in the l1 norm (``p=1``, absolute error) or the l2 norm (``p=2``, for squared error), with
operator or entrywise matrix norms, together with the exact measured output distortion, so the bound
can be checked on every input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..validation import check_array

__all__ = [
    "ACTIVATIONS",
    "mlp_forward",
    "matrix_norm",
    "OutputBound",
    "output_distortion_bound",
    "VARIANTS",
    "BoundSweep",
]

#: The activations the theorem allows (1-Lipschitz and zero at zero).
ACTIVATIONS = ("relu", "tanh", "leaky_relu", "identity")


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
            return np.where(
                self.measured > 0, self.bound / self.measured, np.where(self.bound > 0, np.inf, 1.0)
            )


def output_distortion_bound(
    original: tuple[list, tuple[str, float]],
    modified: tuple[list, tuple[str, float]],
    x,
    *,
    p: int = 1,
    kind: str = "operator",
    form: str = "general",
) -> OutputBound:
    """Evaluate the theorem for networks ``original`` and ``modified`` on inputs ``x`` (``(n, n_0)``).

    Each network is ``(layers, activation)`` as returned by :func:`coinfer.real.mlp.mlp_layers`.

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
    layers, act = original
    layers_hat, act_hat = modified
    if act != act_hat or [w.shape for w, _ in layers] != [w.shape for w, _ in layers_hat]:
        raise ValueError("modified must have the architecture and activation of original")
    x = check_array("x", x, ndim=2, shape=(None, layers[0][0].shape[1]))
    if form == "pruned":
        for (w, b), (wh, bh) in zip(layers, layers_hat, strict=True):
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
    weight_terms = np.array(
        [matrix_norm(w - wh, p, kind) for (w, _), (wh, _) in zip(layers, layers_hat, strict=True)]
    )
    bias_terms = np.array(
        [np.linalg.norm(b - bh, p) for (_, b), (_, bh) in zip(layers, layers_hat, strict=True)]
    )

    # P_l = prod_{k > l} ||W_k||: how much later layers can amplify an error made at layer l
    after = np.array([np.prod(norm_w[k + 1 :]) for k in range(n_layers)])
    beta = np.empty((x.shape[0], n_layers))  # beta[:, k] bounds ||h_hat_k|| for k = 0..L-1
    beta[:, 0] = np.linalg.norm(x, p, axis=1)
    for k in range(1, n_layers):
        beta[:, k] = norm_beta[k - 1] * beta[:, k - 1] + bias_beta[k - 1]
    constants = after[None, :] * beta
    bound = constants @ weight_terms + after @ bias_terms
    measured = np.linalg.norm(
        mlp_forward(layers, x, act) - mlp_forward(layers_hat, x, act), p, axis=1
    )
    param = float(
        sum(
            matrix_norm(w - wh, p, "entrywise")
            for (w, _), (wh, _) in zip(layers, layers_hat, strict=True)
        )
    )
    return OutputBound(
        p=p,
        kind=kind,
        form=form,
        measured=measured,
        bound=bound,
        constants=constants,
        weight_terms=weight_terms,
        bias_terms=bias_terms,
        gamma=constants.max(1),
        param_distortion=param,
    )


#: The bound variants evaluated by :func:`bound_sweep`: ``(p, kind, form)``.
VARIANTS = tuple(
    (p, kind, form)
    for p in (1, 2)
    for kind in ("operator", "entrywise")
    for form in ("general", "pruned")
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
        return all(
            np.all(self.measured[v[0]] <= b[v] * (1 + 1e-12) + 1e-300)
            for b in (self.bound, self.single)
            for v in b
        )

    def looseness(self, variant=(1, "operator", "general")) -> np.ndarray:
        """``bound / measured`` for one variant, ``(n_methods, n_ratios, n_inputs)`` (NaN if 0/0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.bound[variant] / self.measured[variant[0]]
