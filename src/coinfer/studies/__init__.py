"""The studies layer: parameter sweeps, Rayleigh Monte Carlo, the split-point study and the
model-size study, all cached on disk (:func:`coinfer.cache.cached`) and run through one parallel map.

Imports :mod:`coinfer.optimize` and below; never the deep-learning libraries.
"""

from .model_size import (
    KAPLAN_ALPHA_N,
    KAPLAN_N_C,
    ModelSizeStudy,
    breakeven_beta,
    effective_params,
    implied_beta,
    kaplan_loss,
    model_size_study,
    non_embedding_params,
)
from .monte_carlo import MonteCarloResult, monte_carlo, monte_carlo_sweep, rayleigh_gains
from .network_drops import DropStudy, network_drops
from .parallel import parallel_map
from .split_study import SplitStudy, split_study
from .sweeps import DEFAULT_METHODS, SWEEP_PARAMETERS, SweepResult, sweep

__all__ = [
    "DEFAULT_METHODS",
    "DropStudy",
    "KAPLAN_ALPHA_N",
    "KAPLAN_N_C",
    "ModelSizeStudy",
    "MonteCarloResult",
    "SWEEP_PARAMETERS",
    "SplitStudy",
    "SweepResult",
    "breakeven_beta",
    "effective_params",
    "implied_beta",
    "kaplan_loss",
    "model_size_study",
    "monte_carlo",
    "monte_carlo_sweep",
    "network_drops",
    "non_embedding_params",
    "parallel_map",
    "rayleigh_gains",
    "split_study",
    "sweep",
]
