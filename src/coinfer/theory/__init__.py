"""The theory layer: rate-distortion closed forms and Blahut-Arimoto curves, weight-statistics fits,
the fully connected output-distortion bound, and the surrogate objective.

numpy and scipy only; imports nothing above the foundation (:mod:`coinfer.validation`,
:mod:`coinfer.cache`).
"""

from .blahut_arimoto import (
    BlahutArimotoPoint,
    absolute_error_matrix,
    blahut_arimoto,
    exponential_grid_source,
    laplace_grid_source,
    rate_distortion_curve,
    squared_error_matrix,
)
from .objective import Objective, SurrogateObjective
from .rate_distortion import (
    binary_entropy,
    distortion_lower_bound,
    exponential_slb_distortion_abs,
    exponential_slb_rate_abs,
    laplace_distortion_abs,
    laplace_entropy_bits,
    laplace_gaussian_rate_squared,
    laplace_rate_abs,
    laplace_slb_distortion_squared,
    laplace_slb_rate_squared,
    optimal_reconstruction_sparsity,
    pruned_model_rate,
    pruning_floor_abs,
    pruning_floor_squared,
    random_pruning_abs,
    random_pruning_squared,
    rate_distortion_bound,
)
from .weight_fits import (
    WeightFit,
    block_distinct_counts,
    fit_table,
    fit_weights,
    pooled_sample,
    pruning_distortion,
)

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
