"""Samples of a real model's prunable weights, for the Laplacian and Gaussian fits of
:mod:`coinfer.theory.weight_fits` (book chapter "Weight statistics")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..cache import cached
from ..theory.weight_fits import _subsample, block_distinct_counts, pooled_sample
from ..validation import check_int

__all__ = ["WeightSample", "model_weight_sample"]


@dataclass(frozen=True)
class WeightSample:
    """Seeded samples of a real model's prunable weights (enough for fits and pruning curves).

    Attributes:
        model: model key (``"minilm"`` or ``"smollm2"``).
        names: prunable weight names, in model order.
        sizes: number of weights of each (array, same order).
        layers: name -> sample of at most ``per_layer`` weights of that tensor (float32).
        pooled: sample of about ``n_pooled`` weights drawn from all tensors in proportion to size.
        block_counts: distinct values per 32-weight block of the first tensor (see
            :func:`block_distinct_counts`).
        first_full: the first tensor in full (float32), for block-level figures.
    """

    model: str
    names: tuple
    sizes: np.ndarray
    layers: dict
    pooled: np.ndarray
    block_counts: np.ndarray
    first_full: np.ndarray

    @property
    def total(self) -> int:
        """Number of prunable weights of the model."""
        return int(self.sizes.sum())


def model_weight_sample(
    model: str,
    *,
    n_pooled: int = 1_000_000,
    per_layer: int = 50_000,
    seed: int = 0,
    use_cache: bool = True,
) -> WeightSample:
    """Samples of the prunable weights of real model ``model`` (``"minilm"`` or ``"smollm2"``).

    The weights are those of :func:`coinfer.real.pruning.prunable_weights` with the model's own
    exclusions (:attr:`coinfer.real.models.ModelSpec.prune_exclude`: embeddings and a head tied to
    them, MiniLM's unused pooler). Loading SmolLM2 takes seconds, so the samples go through the disk
    cache (:func:`coinfer.cache.cached`); ``use_cache=False`` recomputes.
    """
    from .models import model_spec

    spec = model_spec(model)
    n_pooled = check_int("n_pooled", n_pooled, 1)
    per_layer = check_int("per_layer", per_layer, 1)
    seed = check_int("seed", seed, 0)

    def compute() -> WeightSample:
        from .models import load_model
        from .pruning import prunable_weights

        weights = {
            k: v.detach().cpu().numpy().astype(np.float32)
            for k, v in prunable_weights(load_model(model), exclude=spec.prune_exclude).items()
        }
        names = tuple(weights)
        sizes = np.array([weights[k].size for k in names])
        rng = np.random.default_rng(seed)
        layers = {
            k: _subsample(weights[k].ravel(), per_layer, rng).astype(np.float32) for k in names
        }
        pooled = pooled_sample(weights, n_pooled, seed).astype(np.float32)
        first = weights[names[0]]
        return WeightSample(
            model, names, sizes, layers, pooled, block_distinct_counts(first), first
        )

    params = dict(model=spec.fingerprint(), n_pooled=n_pooled, per_layer=per_layer, seed=seed)
    return cached("weights", params, compute, use_cache=use_cache)
