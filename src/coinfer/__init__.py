"""coinfer: pruning-aware co-inference of large AI models at the wireless edge.

The package behind the book that reproduces and extends Lyu et al., "The Larger the Merrier? Efficient
Large AI Model Inference in Wireless Edge Networks" (arXiv 2505.09214). The front door::

    import coinfer
    scenario = coinfer.Scenario.default().replace(latency=0.5)
    solution = coinfer.solve(scenario)
    print(solution.summary())

Layers (``ARCHITECTURE.md``): :mod:`coinfer.theory` <- :mod:`coinfer.system` <- :mod:`coinfer.optimize`
<- :mod:`coinfer.studies` <- :mod:`coinfer.app`, and :mod:`coinfer.real` (torch, transformers) on top
of theory and system. Importing ``coinfer`` imports numpy and scipy, never torch.
"""

from importlib.metadata import PackageNotFoundError, version

from .optimize import (
    Solution,
    fixed_rho,
    fixed_split,
    max_resources,
    on_device,
    on_server,
    run_method,
    solve,
    solve_batch,
)
from .system import Budget, Device, EdgeServer, ModelProfile, Scenario, Uplink, evaluate

try:
    __version__ = version("coinfer")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "Budget",
    "Device",
    "EdgeServer",
    "ModelProfile",
    "Scenario",
    "Solution",
    "Uplink",
    "__version__",
    "evaluate",
    "fixed_rho",
    "fixed_split",
    "max_resources",
    "on_device",
    "on_server",
    "run_method",
    "solve",
    "solve_batch",
]
