"""Parameter distortion and output distortion of a modified (pruned) model, and the sweep on real models.

Measures, absolute error first and squared error second:

* parameter distortion over the prunable weights ``w`` (:func:`coinfer.real.pruning.prunable_weights`):
  ``sum |w - w_hat|`` and ``sum (w - w_hat)^2``, per weight (divided by ``N``) or normalised by the
  original (``sum |w|``, ``sum w^2``);
* output distortion per input ``x``: ``||f(x) - f_hat(x)||_1`` and ``||f(x) - f_hat(x)||_2^2`` over the
  output elements of that input (padding positions excluded), per element or normalised by
  ``||f(x)||_1`` and ``||f(x)||_2^2``. ``f`` is the model output (logits of a causal LM, last hidden
  state of an encoder) or, with ``block=s``, the hidden state after block ``s``: the feature that
  crosses the wireless link at split point ``s``.

The first-order (Taylor) estimate used by the authors' follow-up for transformers is
:func:`first_order_estimate`; :func:`distortion_sweep` runs the whole measurement on a real model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ..cache import cached
from ..validation import check_int, check_real
from .models import model_spec
from .pruning import prunable_weights, pruned_models

__all__ = [
    "ParameterDistortion",
    "OutputDistortion",
    "FirstOrderEstimate",
    "DistortionSweep",
    "weight_distortion",
    "parameter_distortion",
    "transformer_blocks",
    "model_output",
    "output_distortion",
    "first_order_estimate",
    "distortion_sweep",
    "reliable_ratios",
]


@dataclass(frozen=True)
class ParameterDistortion:
    """Distortion of the prunable weights, totals over all of them.

    Attributes:
        abs_err: ``sum |w - w_hat|`` (weight units).
        sq_err: ``sum (w - w_hat)^2`` (weight units squared).
        abs_ref: ``sum |w|`` of the original.
        sq_ref: ``sum w^2`` of the original.
        n: number of weights compared.
    """

    abs_err: float
    sq_err: float
    abs_ref: float
    sq_ref: float
    n: int

    @property
    def abs_mean(self) -> float:
        """Mean absolute error per weight."""
        return self.abs_err / self.n

    @property
    def sq_mean(self) -> float:
        """Mean squared error per weight."""
        return self.sq_err / self.n

    @property
    def abs_normalised(self) -> float:
        """``sum |w - w_hat| / sum |w|`` (dimensionless)."""
        return self.abs_err / self.abs_ref

    @property
    def sq_normalised(self) -> float:
        """``sum (w - w_hat)^2 / sum w^2`` (dimensionless)."""
        return self.sq_err / self.sq_ref


def weight_distortion(w, w_hat) -> ParameterDistortion:
    """Parameter distortion between two arrays (or tensors) of the same shape, in float64."""
    a = np.asarray(w.detach().cpu() if isinstance(w, torch.Tensor) else w, dtype=np.float64)
    b = np.asarray(
        w_hat.detach().cpu() if isinstance(w_hat, torch.Tensor) else w_hat, dtype=np.float64
    )
    if a.shape != b.shape:
        raise ValueError(f"w_hat must have the shape of w {a.shape}; got {b.shape}")
    if a.size == 0:
        raise ValueError("w must not be empty")
    d = a - b
    return ParameterDistortion(
        abs_err=float(np.abs(d).sum()),
        sq_err=float((d * d).sum()),
        abs_ref=float(np.abs(a).sum()),
        sq_ref=float((a * a).sum()),
        n=int(a.size),
    )


def parameter_distortion(
    original: torch.nn.Module,
    modified: torch.nn.Module,
    *,
    include_embeddings: bool = False,
    exclude: tuple[str, ...] = (),
    blocks: int | None = None,
) -> ParameterDistortion:
    """Parameter distortion over the prunable weights of two models of the same architecture.

    The weights compared are :func:`coinfer.real.pruning.prunable_weights` of ``original`` (with the same
    options); with ``blocks=s``, only those inside the first ``s`` transformer blocks (the device's
    part at split point ``s``). Sums are accumulated in float64.
    """
    wa = prunable_weights(original, include_embeddings=include_embeddings, exclude=exclude)
    wb = prunable_weights(modified, include_embeddings=include_embeddings, exclude=exclude)
    if list(wa) != list(wb):
        raise ValueError("modified must have the same prunable weights as original")
    if blocks is not None:
        layers = transformer_blocks(original)
        blocks = check_int("blocks", blocks, 1, len(layers))
        inside = {id(p) for b in layers[:blocks] for p in b.parameters()}
        keep = [n for n, w in wa.items() if id(w) in inside]
        wa, wb = {n: wa[n] for n in keep}, {n: wb[n] for n in keep}
    tot = np.zeros(4)
    n = 0
    with torch.no_grad():
        for name, a in wa.items():
            b = wb[name]
            if a.shape != b.shape:
                raise ValueError(
                    f"weight {name}: shape {tuple(b.shape)} differs from {tuple(a.shape)}"
                )
            a64, d = a.double(), (a.double() - b.double())
            tot += [
                d.abs().sum().item(),
                (d * d).sum().item(),
                a64.abs().sum().item(),
                (a64 * a64).sum().item(),
            ]
            n += a.numel()
    return ParameterDistortion(*map(float, tot), n=n)


def transformer_blocks(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The list of transformer blocks of a ``transformers`` model (``config.num_hidden_layers`` long)."""
    n = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    for _, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and (n is None or len(module) == n):
            return module
    raise ValueError(f"model {type(model).__name__} has no ModuleList of {n} blocks")


def model_output(model: torch.nn.Module, batch, *, block: int | None = None) -> torch.Tensor:
    """The output of ``model`` on ``batch``, or the hidden state after block ``block``.

    ``batch`` is a tensor (plain torch modules) or a mapping of keyword arguments (``transformers``
    models, e.g. a tokenizer's output). The model output is ``logits`` when the model returns them,
    else ``last_hidden_state``. ``block=s`` in ``1..L`` returns the output of block ``s`` (captured
    with a forward hook); ``block=0`` returns the input of block 1 (the embeddings).
    """
    kwargs = dict(batch) if not isinstance(batch, torch.Tensor) else None
    if block is None:
        out = model(batch) if kwargs is None else model(**kwargs)
        if isinstance(out, torch.Tensor):
            return out
        return out.logits if getattr(out, "logits", None) is not None else out.last_hidden_state
    blocks = transformer_blocks(model)
    block = check_int("block", block, 0, len(blocks))
    captured = {}

    def grab(_module, args, kw, output):
        if block == 0:
            captured["h"] = args[0] if args else kw["hidden_states"]
        else:
            captured["h"] = output[0] if isinstance(output, tuple) else output
        raise _Stop

    target = blocks[max(block - 1, 0)]
    handle = target.register_forward_hook(grab, with_kwargs=True)
    try:
        model(batch) if kwargs is None else model(**kwargs)
    except _Stop:
        pass  # the rest of the model is not needed
    finally:
        handle.remove()
    return captured["h"]


class _Stop(Exception):
    """Raised by a hook to end a forward pass once the wanted hidden state is captured."""


@dataclass(frozen=True)
class OutputDistortion:
    """Output distortion per input (arrays of length ``n_inputs``).

    Attributes:
        abs_err: ``||f(x) - f_hat(x)||_1`` over the output elements of each input.
        sq_err: ``||f(x) - f_hat(x)||_2^2``.
        abs_ref: ``||f(x)||_1`` of the original.
        sq_ref: ``||f(x)||_2^2`` of the original.
        n_elements: number of output elements of each input (padding excluded).
    """

    abs_err: np.ndarray
    sq_err: np.ndarray
    abs_ref: np.ndarray
    sq_ref: np.ndarray
    n_elements: np.ndarray

    @property
    def abs_normalised(self) -> np.ndarray:
        """``||f - f_hat||_1 / ||f||_1`` per input (dimensionless)."""
        return self.abs_err / self.abs_ref

    @property
    def sq_normalised(self) -> np.ndarray:
        """``||f - f_hat||_2^2 / ||f||_2^2`` per input (dimensionless)."""
        return self.sq_err / self.sq_ref

    @property
    def abs_mean(self) -> np.ndarray:
        """Mean absolute error per output element, per input."""
        return self.abs_err / self.n_elements

    @property
    def sq_mean(self) -> np.ndarray:
        """Mean squared error per output element, per input."""
        return self.sq_err / self.n_elements


def _position_mask(batch, y: torch.Tensor) -> torch.Tensor:
    """1 for output elements that belong to a real token (or to the input, for plain tensors)."""
    if isinstance(batch, torch.Tensor) or "attention_mask" not in batch or y.ndim < 3:
        return torch.ones(y.shape[:1] + (1,) * (y.ndim - 1), dtype=torch.float64)
    m = batch["attention_mask"].to(torch.float64)
    return m.reshape(m.shape + (1,) * (y.ndim - 2))


def _per_input_stats(y: torch.Tensor, y_hat: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """Rows ``(abs_err, sq_err, abs_ref, sq_ref, n_elements)`` per input, in float64."""
    y, y_hat = y.double(), y_hat.double()
    d = (y - y_hat) * mask
    yr = y * mask
    dims = tuple(range(1, y.ndim))
    n = (mask * torch.ones_like(y)).sum(dims) if y.ndim > 1 else torch.ones(y.shape[0])
    rows = [d.abs().sum(dims), (d * d).sum(dims), yr.abs().sum(dims), (yr * yr).sum(dims), n]
    return torch.stack(rows, 1).numpy()


def _split(batch, chunk: int):
    """The batch cut into consecutive pieces of at most ``chunk`` inputs."""
    if isinstance(batch, torch.Tensor):
        return list(torch.split(batch, chunk))
    n = len(next(iter(batch.values())))
    return [{k: v[i : i + chunk] for k, v in batch.items()} for i in range(0, n, chunk)]


def _as_result(rows: np.ndarray) -> OutputDistortion:
    return OutputDistortion(
        *(np.ascontiguousarray(rows[:, i]) for i in range(4)), n_elements=rows[:, 4]
    )


def output_distortion(
    original: torch.nn.Module,
    modified: torch.nn.Module,
    batch,
    *,
    block: int | None = None,
    chunk: int = 16,
) -> OutputDistortion:
    """Output distortion of ``modified`` against ``original`` on every input of ``batch``.

    ``block`` selects the model output (``None``) or the hidden state after a block (see
    :func:`model_output`); padding positions (``attention_mask == 0``) are excluded. Inputs are run
    ``chunk`` at a time, without gradients.
    """
    chunk = check_int("chunk", chunk, 1)
    pieces = _split(batch, chunk)
    with torch.no_grad():
        reference = [model_output(original, piece, block=block) for piece in pieces]
    return _distortion_from(reference, modified, pieces, block)


def _distortion_from(reference, modified, pieces, block) -> OutputDistortion:
    """Output distortion of ``modified`` against precomputed outputs ``reference`` (per piece)."""
    rows = []
    with torch.no_grad():
        for y, piece in zip(reference, pieces, strict=True):
            y_hat = model_output(modified, piece, block=block)
            rows.append(_per_input_stats(y, y_hat, _position_mask(piece, y)))
    return _as_result(np.concatenate(rows))


@dataclass(frozen=True)
class FirstOrderEstimate:
    """First-order (gradient) estimates of the absolute output distortion, per input.

    With ``u = sign(f_hat(x) - f(x))`` and ``g = grad_w (u . f(x; w))`` at the original weights
    (over the prunable weights ``w``), and ``dw = w_hat - w``:

    Attributes:
        measured: ``||f_hat(x) - f(x)||_1`` (equals ``u . (f_hat - f)``).
        linear: ``g . dw``, the first-order Taylor prediction of ``measured``.
        weighted: ``sum |g| |dw|``, an upper bound on ``|linear|``.
        grad_norm: ``H(x) = max |g|``, the gradient norm dual to the entrywise l1 norm.
        bound: ``H(x) * sum |dw|``: the follow-up's form "gradient norm times parameter distortion".
    """

    measured: np.ndarray
    linear: np.ndarray
    weighted: np.ndarray
    grad_norm: np.ndarray
    bound: np.ndarray


def first_order_estimate(
    original: torch.nn.Module,
    modified: torch.nn.Module,
    batch,
    *,
    block: int | None = None,
    include_embeddings: bool = False,
    exclude: tuple[str, ...] = (),
) -> FirstOrderEstimate:
    """First-order estimates of the absolute output distortion of each input (one backward each)."""
    wa = prunable_weights(original, include_embeddings=include_embeddings, exclude=exclude)
    wb = prunable_weights(modified, include_embeddings=include_embeddings, exclude=exclude)
    names = list(wa)
    dw = [(wb[n].detach() - wa[n].detach()) for n in names]
    dw_l1 = float(sum(d.double().abs().sum() for d in dw))
    out = []
    for piece in _split(batch, 1):
        with torch.no_grad():
            y_hat = model_output(modified, piece, block=block)
        with torch.enable_grad():
            y = model_output(original, piece, block=block)
            mask = _position_mask(piece, y).to(y.dtype)
            u = torch.sign(y_hat - y.detach()) * mask
            grads = torch.autograd.grad((u * y).sum(), [wa[n] for n in names], allow_unused=True)
        measured = float(((y_hat - y.detach()).double().abs() * mask.double()).sum())
        lin = wsum = 0.0
        gmax = 0.0
        for g, d in zip(grads, dw, strict=True):
            if g is None:
                continue  # a weight that does not reach this output (e.g. after the split block)
            # products in the weights' precision, sums in float64: no float64 copy of every tensor
            lin += float((g * d).sum(dtype=torch.float64))
            wsum += float((g * d).abs().sum(dtype=torch.float64))
            gmax = max(gmax, float(g.abs().max()))
        out.append((measured, lin, wsum, gmax, gmax * dw_l1))
    a = np.array(out)
    return FirstOrderEstimate(*(np.ascontiguousarray(a[:, i]) for i in range(5)))


@dataclass(frozen=True)
class DistortionSweep:
    """Output versus parameter distortion of a real model across pruning methods and ratios.

    Arrays are indexed ``[method, ratio]`` (parameter distortion), ``[method, ratio, input]`` (output
    distortion) and ``[method, ratio, grad_input]`` (first-order estimates, on the first ``n_grad``
    inputs). Distortions are normalised by the original (dimensionless).
    """

    model: str
    methods: tuple[str, ...]
    ratios: np.ndarray
    n_inputs: int
    max_tokens: int
    n_tokens: int
    block: int | None
    seed: int
    param_abs: np.ndarray
    param_sq: np.ndarray
    out_abs: np.ndarray
    out_sq: np.ndarray
    fo_measured: np.ndarray
    fo_linear: np.ndarray
    fo_bound: np.ndarray
    fo_weighted: np.ndarray
    seconds: float

    def empirical_constant(self, measure: str = "abs", q: float = 1.0) -> np.ndarray:
        """Per ``[method, ratio]``: the ``q``-quantile over inputs of output / parameter distortion."""
        q = check_real("q", q, 0.0, 1.0)
        if measure not in ("abs", "sq"):
            raise ValueError(f"measure must be 'abs' or 'sq'; got {measure!r}")
        out, par = (
            (self.out_abs, self.param_abs) if measure == "abs" else (self.out_sq, self.param_sq)
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = out / par[:, :, None]
        return np.quantile(ratio, q, axis=2)


def distortion_sweep(
    key: str,
    ratios,
    methods: tuple[str, ...] = ("magnitude", "random"),
    *,
    n_inputs: int = 64,
    max_tokens: int = 32,
    n_grad: int = 8,
    block: int | None = None,
    seed: int = 0,
    chunk: int = 16,
    cache: bool = True,
) -> DistortionSweep:
    """Prune real model ``key`` at each ratio and method; measure parameter and output distortion.

    Inputs are ``n_inputs`` passages of :func:`coinfer.real.corpus.english_passages` (``seed``), cut
    to ``max_tokens`` tokens. Global unstructured pruning of the prunable weights (the model's own
    exclusions, :attr:`coinfer.real.models.ModelSpec.prune_exclude`); random pruning uses ``seed``.
    The first ``n_grad`` inputs also get the first-order estimate (``n_grad=0`` skips it). With
    ``cache``, the result goes through the one disk cache (:func:`coinfer.cache.cached`), keyed by
    every argument, the installed weights and the code it runs. With ``block=s``
    (``1 <= s <= L``) the output is the feature after block ``s`` and the parameter distortion is
    that of the weights in blocks ``1..s``.
    """
    ratios = np.array([check_real("ratio", r, 0.0, 1.0) for r in np.atleast_1d(ratios)], float)
    n_inputs = check_int("n_inputs", n_inputs, 1)
    n_grad = check_int("n_grad", n_grad, 0, n_inputs)
    seed = check_int("seed", seed, 0)

    def compute() -> DistortionSweep:
        return _measure_sweep(
            key, ratios, tuple(methods), n_inputs, max_tokens, n_grad, block, seed, chunk
        )

    params = dict(
        model=model_spec(key).fingerprint(),
        ratios=ratios,
        methods=tuple(methods),
        n_inputs=n_inputs,
        max_tokens=max_tokens,
        n_grad=n_grad,
        block=block,
        seed=seed,
    )
    return cached("output-distortion", params, compute, use_cache=cache)


def _measure_sweep(key, ratios, methods, n_inputs, max_tokens, n_grad, block, seed, chunk):
    from .corpus import english_passages, tokenise
    from .models import load_model

    start = time.perf_counter()
    model = load_model(key)
    exclude = model_spec(key).prune_exclude
    batch = tokenise(key, english_passages(n_inputs, seed=seed), max_tokens)
    grad_batch = {k: v[:n_grad] for k, v in batch.items()}
    shape = (len(methods), len(ratios))
    param_abs, param_sq = np.zeros(shape), np.zeros(shape)
    out_abs, out_sq = np.zeros(shape + (n_inputs,)), np.zeros(shape + (n_inputs,))
    fo = {k: np.zeros(shape + (n_grad,)) for k in ("measured", "linear", "bound", "weighted")}
    pieces = _split(batch, check_int("chunk", chunk, 1))
    with torch.no_grad():  # the unpruned outputs, computed once for all ratios
        reference = [model_output(model, piece, block=block) for piece in pieces]
    for i, method in enumerate(methods):
        for j, res in enumerate(pruned_models(model, ratios, method, seed=seed, exclude=exclude)):
            # at a split block, only the weights before it can change the feature sent
            pd = parameter_distortion(model, res.model, exclude=exclude, blocks=block or None)
            od = _distortion_from(reference, res.model, pieces, block)
            param_abs[i, j], param_sq[i, j] = pd.abs_normalised, pd.sq_normalised
            out_abs[i, j], out_sq[i, j] = od.abs_normalised, od.sq_normalised
            if n_grad:
                est = first_order_estimate(
                    model, res.model, grad_batch, block=block, exclude=exclude
                )
                ref = od.abs_ref[:n_grad]  # normalise like the measurement
                for k in fo:
                    fo[k][i, j] = getattr(est, k) / ref
    return DistortionSweep(
        model=key,
        methods=tuple(methods),
        ratios=ratios,
        n_inputs=n_inputs,
        max_tokens=max_tokens,
        n_tokens=int(batch["attention_mask"].sum()),
        block=block,
        seed=seed,
        param_abs=param_abs,
        param_sq=param_sq,
        out_abs=out_abs,
        out_sq=out_sq,
        fo_measured=fo["measured"],
        fo_linear=fo["linear"],
        fo_bound=fo["bound"],
        fo_weighted=fo["weighted"],
        seconds=time.perf_counter() - start,
    )


def reliable_ratios(sweep: DistortionSweep, factor: float = 2.0, q: float = 1.0) -> np.ndarray:
    """Where parameter distortion is a reliable bound, per ``[method, ratio]`` (boolean array).

    A ratio is reliable when both hold:

    1. *monotone*: the median (over inputs) output distortion is larger than at the previous ratio
       (the first ratio counts as monotone), so lowering parameter distortion lowers output
       distortion;
    2. *tight*: with the single constant ``Gamma = max over ratios of C_q(rho)`` (``C_q`` from
       :meth:`DistortionSweep.empirical_constant`, absolute error), the bound ``Gamma * D_param``
       is within ``factor`` of the ``q``-quantile output distortion, i.e. ``C_q(rho) >= Gamma / factor``.
    """
    factor = check_real("factor", factor, 1.0)
    c = sweep.empirical_constant("abs", q)
    gamma = c.max(axis=1, keepdims=True)
    tight = c >= gamma / factor
    med = np.median(sweep.out_abs, axis=2)
    mono = np.ones_like(tight)
    mono[:, 1:] = med[:, 1:] > med[:, :-1]
    return tight & mono
