"""The benchmarks the joint design is compared with: the solver with one choice taken away.

Each baseline restricts the choices of :func:`coinfer.optimize.solve` and calls it, so it returns the
same :class:`~coinfer.optimize.result.Solution` (one instance) or batched ``Solution`` (an array of
channel gains, for Monte Carlo):

==================  =========================================================================
name                what is fixed (everything else is optimised)
==================  =========================================================================
``on_device``       split ``s = L``: the device runs the whole model and sends nothing
``on_server``       split ``s = 0``: the device sends the raw token ids (privacy floor lifted)
``fixed_split``     a given split ``s``
``fixed_rho``       the pruning ratio ``rho`` (split, power and clock chosen for least energy)
``max_resources``   ``p = p_max`` and ``f = f_max`` (only ``rho`` and the split chosen)
==================  =========================================================================

The joint design is never worse than a restriction of itself on the same instance: that is true by
construction (``on_server`` is compared with the joint design at ``min_split = 0``), so the book uses
the baselines to measure *how much* the joint choice gains, not to prove that it gains.
"""

from __future__ import annotations

import numpy as np

from ..system import Scenario
from ..validation import check_int, check_real
from .result import Solution
from .solver import solve, solve_batch

__all__ = [
    "BASELINES",
    "DEFAULT_FIXED_RHO",
    "proposed",
    "on_device",
    "on_server",
    "fixed_split",
    "fixed_rho",
    "max_resources",
    "run_method",
    "check_method",
]

#: Method names accepted by :func:`run_method` (plus ``"split-<s>"`` and ``"fixed-rho-<rho>"``).
BASELINES = ("proposed", "on-device", "on-server", "fixed-rho", "max-resources")

#: The pruning ratio of the ``"fixed-rho"`` baseline when none is given in its name.
DEFAULT_FIXED_RHO = 0.5


def _run(scenario: Scenario, gains, method: str, **restriction) -> Solution:
    """:func:`solve` (``gains`` None: the scenario's own gain) or :func:`solve_batch`."""
    if gains is None:
        return solve(scenario, method=method, **restriction)
    return solve_batch(scenario, np.asarray(gains, dtype=float), method=method, **restriction)


def proposed(scenario: Scenario, gains=None) -> Solution:
    """The joint design itself (every choice free), for uniform handling with the baselines."""
    return _run(scenario, gains, "proposed")


def on_device(scenario: Scenario, gains=None) -> Solution:
    """Fully on-device inference: the split fixed at ``s = L`` (nothing sent)."""
    return _run(scenario, gains, "on-device", split=scenario.profile.n_blocks)


def on_server(scenario: Scenario, gains=None) -> Solution:
    """Fully on-server inference: ``s = 0`` (raw token ids sent), the privacy floor lifted for this
    baseline only."""
    return _run(scenario.replace(min_split=0), gains, "on-server", split=0)


def fixed_split(scenario: Scenario, split: int, gains=None) -> Solution:
    """The joint design with the split fixed at ``split`` in ``[min_split, L]``."""
    s = check_int("split", split, scenario.min_split, scenario.profile.n_blocks)
    return _run(scenario, gains, f"split-{s}", split=s)


def fixed_rho(scenario: Scenario, rho: float = DEFAULT_FIXED_RHO, gains=None) -> Solution:
    """A fixed pruning ratio ``rho`` in ``[0, rho_max]``: per gain, the split, power and clock of
    least device energy at that ratio; infeasible when no split meets both limits at ``rho``."""
    rho = check_real("rho", rho, 0.0, scenario.rho_max)
    name = "fixed-rho" if rho == DEFAULT_FIXED_RHO else f"fixed-rho-{rho:g}"
    return _run(scenario, gains, name, rho=rho)


def max_resources(scenario: Scenario, gains=None) -> Solution:
    """Full power ``p_max`` and full clock ``f_max``: the least feasible ``rho`` and its split."""
    return _run(scenario, gains, "max-resources", max_resources=True)


def check_method(name: str, scenario: Scenario | None = None) -> str:
    """``name`` if it names a method of :func:`run_method`, else a ``ValueError`` saying what is allowed.

    With a ``scenario``, the ``<s>`` of ``split-<s>`` must be in ``[min_split, L]`` and the
    ``<rho>`` of ``fixed-rho-<rho>`` in ``[0, rho_max]``.
    """
    allowed = f"{', '.join(BASELINES)}, fixed-rho-<rho> or split-<s>"
    if name in BASELINES:
        return name
    if name.startswith("split-"):
        text = name[len("split-") :]
        if not text.isdigit():
            raise ValueError(f"method must be one of {allowed}; got {name!r}")
        if scenario is not None:
            lo, hi = scenario.min_split, scenario.profile.n_blocks
            if not lo <= int(text) <= hi:
                raise ValueError(f"method {name!r}: the split must be in [{lo}, {hi}]; got {text}")
        return name
    if name.startswith("fixed-rho-"):
        try:
            value = float(name[len("fixed-rho-") :])
        except ValueError:
            raise ValueError(f"method must be one of {allowed}; got {name!r}") from None
        hi = scenario.rho_max if scenario is not None else 1.0
        if not 0.0 <= value <= hi or (scenario is None and value == 1.0):
            raise ValueError(f"method {name!r}: rho must be in [0, {hi:g}]; got {value:g}")
        return name
    raise ValueError(f"method must be one of {allowed}; got {name!r}")


def run_method(name: str, scenario: Scenario, gains=None) -> Solution:
    """Run a method by name (``gains`` None: the scenario's own gain, a single ``Solution``).

    Names: ``"proposed"``, ``"on-device"``, ``"on-server"``, ``"max-resources"``, ``"fixed-rho"``
    (at :data:`DEFAULT_FIXED_RHO`), ``"fixed-rho-<rho>"`` (e.g. ``"fixed-rho-0.3"``), ``"split-<s>"``.
    """
    check_method(name, scenario)
    if name == "proposed":
        return proposed(scenario, gains)
    if name == "on-device":
        return on_device(scenario, gains)
    if name == "on-server":
        return on_server(scenario, gains)
    if name == "max-resources":
        return max_resources(scenario, gains)
    if name == "fixed-rho":
        return fixed_rho(scenario, DEFAULT_FIXED_RHO, gains)
    if name.startswith("fixed-rho-"):
        return _run(scenario, gains, name, rho=float(name[len("fixed-rho-") :]))
    return fixed_split(scenario, int(name[len("split-") :]), gains)
