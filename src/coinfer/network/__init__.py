"""Many devices, one edge server: K devices share an uplink band (FDMA) and a server (processor
sharing); each device chooses its own split point, pruning ratio, power and clock.

Sits at the optimisation layer: imports :mod:`coinfer.optimize`, :mod:`coinfer.system` and below.
Book chapter "Many devices, one server".
"""

from .drops import random_network
from .io import network_from_mapping, read_network
from .model import OBJECTIVES, Network
from .solve import NetworkSolution, solve_network

__all__ = [
    "OBJECTIVES",
    "Network",
    "NetworkSolution",
    "network_from_mapping",
    "random_network",
    "read_network",
    "solve_network",
]
