"""The system layer: the scenario, the model profiles, the cost model and the documented defaults.

Imports only :mod:`coinfer.theory` and the foundation (:mod:`coinfer.validation`,
:mod:`coinfer.cache`): numpy only, no deep-learning library.
"""

from .channel import dbm_to_watt, path_gain, path_loss_db
from .costs import (
    Breakdown,
    deadline_rho,
    evaluate,
    pruning_kinds,
    rate,
    undominated_splits,
    uplink_energy,
    uplink_power,
    uplink_time,
    work_curve,
)
from .defaults import DEFAULTS, Default, default, defaults_table
from .profiles import (
    ARCHITECTURES,
    BUILTIN_MODELS,
    Architecture,
    ModelProfile,
    builtin_profile,
    profile_from_architecture,
)
from .scenario import DEVICE_CLASSES, REPLACEABLE, Budget, Device, EdgeServer, Scenario, Uplink
from .work import PRUNING_KINDS, WorkCurve

__all__ = [
    "ARCHITECTURES",
    "BUILTIN_MODELS",
    "DEFAULTS",
    "DEVICE_CLASSES",
    "PRUNING_KINDS",
    "REPLACEABLE",
    "Architecture",
    "Breakdown",
    "Budget",
    "Default",
    "Device",
    "EdgeServer",
    "ModelProfile",
    "Scenario",
    "Uplink",
    "WorkCurve",
    "builtin_profile",
    "dbm_to_watt",
    "deadline_rho",
    "default",
    "defaults_table",
    "evaluate",
    "path_gain",
    "path_loss_db",
    "profile_from_architecture",
    "pruning_kinds",
    "rate",
    "undominated_splits",
    "uplink_energy",
    "uplink_power",
    "uplink_time",
    "work_curve",
]
