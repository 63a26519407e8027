"""Unstructured pruning of torch models: exact ratios, deterministic ties, the input left untouched.

Which weights are prunable (the system model prunes "all prunable weights"):

* the ``weight`` of every ``torch.nn.Linear`` (attention projections q, k, v, o; MLP up, gate, down;
  classifier or LM heads; BERT's pooler) and of every GPT-2 style ``transformers`` ``Conv1D``;
* not embeddings (``torch.nn.Embedding``), norms, biases or any other parameter, unless
  ``include_embeddings=True`` adds the ``nn.Embedding`` weights;
* a weight shared by several modules is counted once. A language-model head tied to the token
  embedding (SmolLM2) *is* the embedding matrix, so it follows the embedding rule: excluded by default,
  included once (under the embedding's name) with ``include_embeddings=True``.

A pruning at ratio ``rho`` zeroes exactly ``k = round(rho * N)`` of the ``N`` prunable weights
(``round`` is Python's: nearest integer, halves to even):

* ``method="magnitude"``: the ``k`` smallest ``|w|``; ties are broken by position (tensor order of
  :func:`prunable_weights`, then row-major index), so the result is deterministic;
* ``method="random"``: a uniformly random set of ``k`` weights, from ``seed``;
* ``scope="global"`` ranks all prunable weights together; ``scope="layer"`` prunes every tensor at
  ratio ``rho`` (``floor`` or ``ceil`` of ``rho * n_t`` weights, the ceilings given to the largest
  fractional parts, so the total is still exactly ``k``).

This is what ``torch.nn.utils.prune`` does with ``l1_unstructured`` / ``random_unstructured`` followed by
``prune.remove``, with exact global counts and no forward hooks: the pruned copy is an ordinary model.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

import numpy as np
import torch

from ..validation import check_int, check_real

__all__ = [
    "PruneResult",
    "prunable_weights",
    "pruning_masks",
    "prune",
    "pruned_models",
    "block_of",
    "block_density",
    "MagnitudeRanking",
]

METHODS = ("magnitude", "random")
SCOPES = ("global", "layer")


def _is_conv1d(module) -> bool:
    # transformers' GPT-2 Conv1D is a linear layer with a transposed weight; matched by name so that
    # this module does not need to import transformers.
    return (
        type(module).__name__ == "Conv1D" and hasattr(module, "weight") and module.weight.ndim == 2
    )


def prunable_weights(
    model: torch.nn.Module, *, include_embeddings: bool = False, exclude: tuple[str, ...] = ()
) -> dict[str, torch.Tensor]:
    """The prunable weights of ``model``: parameter name -> the parameter itself (not a copy).

    Linear (and ``Conv1D``) weights, plus ``nn.Embedding`` weights when ``include_embeddings``; each
    shared parameter once, under its first name in ``model.named_modules()`` order. Modules whose
    name contains any string of ``exclude`` are skipped (e.g. ``("pooler",)`` for a BERT pooler that
    a sentence-embedding model never uses). Raises ``ValueError`` if nothing is prunable.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    exclude = tuple(exclude)
    embedding_ids = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, module in model.named_modules():
        if any(s in name for s in exclude):
            continue
        is_linear = isinstance(module, torch.nn.Linear) or _is_conv1d(module)
        is_embedding = isinstance(module, torch.nn.Embedding)
        if not (is_linear or is_embedding):
            continue
        w = module.weight
        if id(w) in seen:
            continue
        # a head tied to an embedding is the embedding matrix: it follows the embedding rule
        if (is_embedding or id(w) in embedding_ids) and not include_embeddings:
            continue
        seen.add(id(w))
        out[f"{name}.weight" if name else "weight"] = w
    if not out:
        raise ValueError(
            "model has no prunable weights (no nn.Linear, Conv1D or selected nn.Embedding)"
        )
    return out


def _check_args(ratio, method, scope, seed):
    ratio = check_real("ratio", ratio, 0.0, 1.0)
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}; got {scope!r}")
    seed = check_int("seed", seed, 0)
    return ratio, method, scope, seed


def _layer_counts(sizes: np.ndarray, ratio: float, k: int) -> np.ndarray:
    """Per-tensor counts summing to ``k``, each ``floor`` or ``ceil`` of ``ratio * size``."""
    exact = ratio * sizes.astype(float)
    base = np.floor(exact).astype(np.int64)
    base = np.minimum(base, sizes)
    extra = k - int(base.sum())
    if extra > 0:
        # largest fractional parts first; stable sort keeps tensor order among equal parts
        order = np.argsort(-(exact - base), kind="stable")
        order = [i for i in order if base[i] < sizes[i]][:extra]
        base[order] += 1
    elif extra < 0:
        order = np.argsort(exact - base, kind="stable")
        order = [i for i in order if base[i] > 0][:-extra]
        base[order] -= 1
    return base


def _smallest_k_mask(values: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean mask of the ``k`` smallest entries of a flat tensor, ties broken by lower index."""
    mask = torch.zeros(values.numel(), dtype=torch.bool)
    if k <= 0:
        return mask
    if k >= values.numel():
        mask[:] = True
        return mask
    # numpy's introselect: torch.kthvalue is several times slower on the many exact ties of
    # dequantised (GGUF) weights
    t = torch.as_tensor(np.partition(values.numpy(), k - 1)[k - 1])
    less = values < t
    mask |= less
    remaining = k - int(less.sum())
    if remaining > 0:
        ties = torch.nonzero(values == t, as_tuple=False).flatten()[:remaining]
        mask[ties] = True
    return mask


def pruning_masks(
    weights: dict[str, torch.Tensor],
    ratio: float,
    method: str = "magnitude",
    scope: str = "global",
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Boolean masks (``True`` = pruned) with exactly ``round(ratio * N)`` entries set in total.

    ``weights`` maps names to tensors (e.g. :func:`prunable_weights`); the rules are in the module
    docstring. The tensors are read, never modified.
    """
    ratio, method, scope, seed = _check_args(ratio, method, scope, seed)
    names = list(weights)
    sizes = np.array([weights[n].numel() for n in names], dtype=np.int64)
    n_total = int(sizes.sum())
    k = int(round(ratio * n_total))
    if scope == "layer":
        counts = _layer_counts(sizes, ratio, k)
    elif method == "random":
        # a uniform k-subset of the union = hypergeometric counts per tensor, then uniform within
        rng = np.random.default_rng(seed)
        counts = rng.multivariate_hypergeometric(sizes, k) if k else np.zeros_like(sizes)
    else:
        counts = None

    masks: dict[str, torch.Tensor] = {}
    if method == "magnitude" and scope == "global":
        flat = torch.cat([weights[n].detach().reshape(-1).abs().float().cpu() for n in names])
        mask = _smallest_k_mask(flat, k)
        del flat
        start = 0
        for n, size in zip(names, sizes, strict=False):
            masks[n] = mask[start : start + size].reshape(weights[n].shape)
            start += int(size)
        return masks

    gen = torch.Generator().manual_seed(seed)
    for n, size, c in zip(names, sizes, counts, strict=False):
        w = weights[n]
        if method == "magnitude":
            m = _smallest_k_mask(w.detach().reshape(-1).abs().float().cpu(), int(c))
        else:
            m = torch.zeros(int(size), dtype=torch.bool)
            if c:
                m[torch.randperm(int(size), generator=gen)[: int(c)]] = True
        masks[n] = m.reshape(w.shape)
    return masks


@dataclass(frozen=True)
class PruneResult:
    """A pruned copy of a model and exactly what was pruned.

    Attributes:
        model: the pruned model (a deep copy; the caller's model is untouched).
        ratio: the requested pruning ratio ``rho``.
        achieved_ratio: ``n_pruned / n_prunable`` (equals ``round(rho N) / N``).
        n_pruned: number of prunable weights set to zero by this pruning.
        n_prunable: ``N``, the number of prunable weights.
        zero_fraction: fraction of prunable weights that are zero afterwards (at least
            ``achieved_ratio``; more if the model already had exact zeros that were not selected).
        method, scope, seed: the arguments used.
        layer_ratios: per prunable tensor, the fraction of its weights pruned.
    """

    model: torch.nn.Module
    ratio: float
    achieved_ratio: float
    n_pruned: int
    n_prunable: int
    zero_fraction: float
    method: str
    scope: str
    seed: int
    layer_ratios: dict[str, float] = field(repr=False)


def _apply(model, source, masks, ratio, method, scope, seed, include_embeddings, exclude):
    """Write ``source`` weights with ``masks`` zeroed into ``model`` and describe the result."""
    target = prunable_weights(model, include_embeddings=include_embeddings, exclude=exclude)
    n_pruned = n_total = n_zero = 0
    layer_ratios = {}
    with torch.no_grad():
        for name, w in target.items():
            if source is not None:
                w.copy_(source[name])
            m = masks[name].to(w.device)
            w.masked_fill_(m, 0.0)
            c = int(m.sum())
            n_pruned += c
            n_total += w.numel()
            n_zero += int((w == 0).sum())
            layer_ratios[name] = c / w.numel()
    return PruneResult(
        model=model,
        ratio=ratio,
        achieved_ratio=n_pruned / n_total,
        n_pruned=n_pruned,
        n_prunable=n_total,
        zero_fraction=n_zero / n_total,
        method=method,
        scope=scope,
        seed=seed,
        layer_ratios=layer_ratios,
    )


def prune(
    model: torch.nn.Module,
    ratio: float,
    method: str = "magnitude",
    scope: str = "global",
    seed: int = 0,
    include_embeddings: bool = False,
    exclude: tuple[str, ...] = (),
) -> PruneResult:
    """Prune a deep copy of ``model`` at ratio ``ratio`` in ``[0, 1]``; see the module docstring.

    Returns a :class:`PruneResult` whose ``model`` is the pruned copy (in the same train/eval mode)
    and whose ``achieved_ratio`` is the exact fraction of prunable weights zeroed.
    """
    ratio, method, scope, seed = _check_args(ratio, method, scope, seed)
    weights = prunable_weights(model, include_embeddings=include_embeddings, exclude=exclude)
    masks = pruning_masks(weights, ratio, method, scope, seed)
    pruned = copy.deepcopy(model)
    return _apply(pruned, None, masks, ratio, method, scope, seed, include_embeddings, exclude)


def pruned_models(
    model: torch.nn.Module,
    ratios,
    method: str = "magnitude",
    scope: str = "global",
    seed: int = 0,
    include_embeddings: bool = False,
    exclude: tuple[str, ...] = (),
):
    """Yield a :class:`PruneResult` for each ratio, reusing one working copy to save memory.

    Each yielded ``result.model`` is the same object, overwritten at the next step: use it before
    advancing (for sweeps over large models). Every result equals ``prune(model, ratio, ...)``.
    """
    ratios = [check_real("ratio", r, 0.0, 1.0) for r in np.atleast_1d(np.asarray(ratios, float))]
    _check_args(0.0, method, scope, seed)
    weights = prunable_weights(model, include_embeddings=include_embeddings, exclude=exclude)
    source = {n: w.detach().clone() for n, w in weights.items()}
    work = copy.deepcopy(model)
    for r in ratios:
        masks = pruning_masks(source, r, method, scope, seed)
        yield _apply(work, source, masks, r, method, scope, seed, include_embeddings, exclude)


_BLOCK_NAME = re.compile(r"\.(?:h|layers|layer)\.(\d+)\.")


def block_of(name: str) -> int | None:
    """The 0-based block index of a parameter name (``...layers.7.mlp...`` -> 7), ``None`` outside."""
    match = _BLOCK_NAME.search(name)
    return int(match.group(1)) if match else None


class MagnitudeRanking:
    """Global magnitude pruning at many ratios from one sort of the prunable weights.

    ``apply(target, ratio)`` writes the source model's prunable weights into ``target`` (a copy of the
    same architecture) with exactly the weights :func:`prune` would zero (``method="magnitude"``,
    ``scope="global"``, ties broken by position) set to zero; other parameters of ``target`` are not
    touched. One stable sort up front, then each ratio costs one scatter: for sweeps over many ratios
    of a large model, where :func:`prune` would select anew each time.
    """

    def __init__(self, model: torch.nn.Module, *, exclude: tuple[str, ...] = ()) -> None:
        self.exclude = tuple(exclude)
        weights = prunable_weights(model, exclude=self.exclude)
        self.names = list(weights)
        self.shapes = [tuple(weights[n].shape) for n in self.names]
        self.sizes = np.array([weights[n].numel() for n in self.names], dtype=np.int64)
        self.source = {n: weights[n].detach().clone() for n in self.names}
        self.magnitudes = [self.source[n].reshape(-1).abs().float().cpu() for n in self.names]
        self.sorted = np.sort(torch.cat(self.magnitudes).numpy())  # one sort, any ratio after
        self.n_total = int(self.sizes.sum())

    def masks(self, ratio: float) -> dict[str, torch.Tensor]:
        """The boolean masks (``True`` = pruned) of :func:`prune` at ``ratio``.

        Everything below the ``k``-th smallest magnitude ``t``, then the weights equal to ``t`` in
        position order (tensor order, then row-major) until ``k`` are pruned.
        """
        r = check_real("ratio", ratio, 0.0, 1.0)
        k = int(round(r * self.n_total))
        out = {}
        if k == 0:
            return {
                n: torch.zeros(shape, dtype=torch.bool)
                for n, shape in zip(self.names, self.shapes, strict=False)
            }
        t = float(self.sorted[k - 1])
        ties_left = k - int(np.searchsorted(self.sorted, t, side="left"))
        for n, shape, mag in zip(self.names, self.shapes, self.magnitudes, strict=False):
            m = mag < t
            if ties_left > 0:
                tie = mag == t
                n_tie = int(tie.sum())
                if n_tie <= ties_left:
                    m |= tie
                    ties_left -= n_tie
                else:
                    first = torch.nonzero(tie).reshape(-1)[:ties_left]
                    m[first] = True
                    ties_left = 0
            out[n] = m.reshape(shape)
        return out

    def apply(self, target: torch.nn.Module, ratio: float) -> float:
        """Prune ``target`` in place at ``ratio`` from the source weights; returns the achieved ratio."""
        weights = prunable_weights(target, exclude=self.exclude)
        if list(weights) != self.names:
            raise ValueError("target must have the prunable weights of the ranked model")
        n = 0
        with torch.no_grad():
            for name, m in self.masks(ratio).items():
                w = weights[name]
                w.copy_(self.source[name])
                w.masked_fill_(m.to(w.device), 0.0)
                n += int(m.sum())
        return n / self.n_total


def block_density(
    model: torch.nn.Module,
    ratios,
    *,
    exclude: tuple[str, ...] = (),
    ranking: MagnitudeRanking | None = None,
) -> np.ndarray:
    """Per block, the fraction of its prunable weights that global magnitude pruning removes.

    The pruning is the one :func:`prune` applies (``method="magnitude"``, ``scope="global"``, the
    same tie-breaking), so the numbers are measured from the weights, not assumed. Returns an array
    of shape ``(len(ratios), L)``: row ``i`` holds ``rho_l(ratios[i])`` for blocks ``l = 1..L``
    (column ``l - 1``). Weights outside the blocks (an untied head, a pooler) count towards the
    global ranking but have no column. The paper's model assumes ``rho_l(rho) = rho`` in every block.
    ``ranking`` reuses a :class:`MagnitudeRanking` of ``model`` (with the same ``exclude``).
    """
    rs = [check_real("ratios", r, 0.0, 1.0) for r in np.atleast_1d(np.asarray(ratios, float))]
    ranking = ranking if ranking is not None else MagnitudeRanking(model, exclude=exclude)
    blocks = [block_of(name) for name in ranking.names]
    if all(b is None for b in blocks):
        raise ValueError("model has no prunable weights inside numbered blocks")
    n_blocks = 1 + max(b for b in blocks if b is not None)
    size = np.zeros(n_blocks)
    for b, n in zip(blocks, ranking.sizes, strict=False):
        if b is not None:
            size[b] += n
    out = np.zeros((len(rs), n_blocks))
    for i, r in enumerate(rs):
        for b, m in zip(blocks, ranking.masks(r).values(), strict=False):
            if b is not None:
                out[i, b] += float(m.sum())
    return out / size
