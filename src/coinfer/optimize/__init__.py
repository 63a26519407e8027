"""The optimisation layer: the certified solver, its one result type, the baselines (restrictions of
the solver) and the reference solvers (:mod:`coinfer.optimize.references`).

Imports only :mod:`coinfer.system`, :mod:`coinfer.theory` and the foundation: numpy and scipy only
(cvxpy is imported by the conic references when they run).
"""

from .baselines import (
    BASELINES,
    DEFAULT_FIXED_RHO,
    fixed_rho,
    fixed_split,
    max_resources,
    on_device,
    on_server,
    proposed,
    run_method,
)
from .result import Solution
from .solver import (
    kkt_curve,
    least_energy,
    least_server_flops,
    select_split,
    solution_at,
    solve,
    solve_batch,
    split_range,
)

__all__ = [
    "BASELINES",
    "DEFAULT_FIXED_RHO",
    "Solution",
    "fixed_rho",
    "fixed_split",
    "kkt_curve",
    "least_energy",
    "least_server_flops",
    "max_resources",
    "on_device",
    "on_server",
    "proposed",
    "run_method",
    "select_split",
    "solution_at",
    "solve",
    "solve_batch",
    "split_range",
]
