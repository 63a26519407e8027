"""The theory layer: rate-distortion closed forms and Blahut-Arimoto curves, weight-statistics fits,
the fully connected output-distortion bound, and the surrogate objective.

numpy and scipy only; imports nothing above the foundation (:mod:`coinfer.validation`,
:mod:`coinfer.cache`).
"""

import importlib
from typing import Any

# Submodules load on first use (PEP 562): solving a scenario needs only the objective and the closed
# forms, not scipy's linear algebra behind Blahut-Arimoto and the fits.
_WHERE = {
    "BlahutArimotoPoint": "blahut",
    "Objective": "objective",
    "SurrogateObjective": "objective",
    "WeightFit": "weight_fits",
    "absolute_error_matrix": "blahut",
    "binary_entropy": "rate_distortion",
    "blahut_arimoto": "blahut",
    "block_distinct_counts": "weight_fits",
    "distortion_lower_bound": "rate_distortion",
    "exponential_grid_source": "blahut",
    "exponential_slb_distortion_abs": "rate_distortion",
    "exponential_slb_rate_abs": "rate_distortion",
    "fit_table": "weight_fits",
    "fit_weights": "weight_fits",
    "laplace_distortion_abs": "rate_distortion",
    "laplace_entropy_bits": "rate_distortion",
    "laplace_gaussian_rate_squared": "rate_distortion",
    "laplace_grid_source": "blahut",
    "laplace_rate_abs": "rate_distortion",
    "laplace_slb_distortion_squared": "rate_distortion",
    "laplace_slb_rate_squared": "rate_distortion",
    "optimal_reconstruction_sparsity": "rate_distortion",
    "pooled_sample": "weight_fits",
    "pruned_model_rate": "rate_distortion",
    "pruning_distortion": "weight_fits",
    "pruning_floor_abs": "rate_distortion",
    "pruning_floor_squared": "rate_distortion",
    "random_pruning_abs": "rate_distortion",
    "random_pruning_squared": "rate_distortion",
    "rate_distortion_bound": "rate_distortion",
    "rate_distortion_curve": "blahut",
    "squared_error_matrix": "blahut",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


__all__ = [
    "BlahutArimotoPoint",
    "Objective",
    "SurrogateObjective",
    "WeightFit",
    "absolute_error_matrix",
    "binary_entropy",
    "blahut_arimoto",
    "block_distinct_counts",
    "distortion_lower_bound",
    "exponential_grid_source",
    "exponential_slb_distortion_abs",
    "exponential_slb_rate_abs",
    "fit_table",
    "fit_weights",
    "laplace_distortion_abs",
    "laplace_entropy_bits",
    "laplace_gaussian_rate_squared",
    "laplace_grid_source",
    "laplace_rate_abs",
    "laplace_slb_distortion_squared",
    "laplace_slb_rate_squared",
    "optimal_reconstruction_sparsity",
    "pooled_sample",
    "pruned_model_rate",
    "pruning_distortion",
    "pruning_floor_abs",
    "pruning_floor_squared",
    "random_pruning_abs",
    "random_pruning_squared",
    "rate_distortion_bound",
    "rate_distortion_curve",
    "squared_error_matrix",
]
