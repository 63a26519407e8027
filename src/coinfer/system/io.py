"""Scenarios and profiles to and from plain files (TOML or JSON), for the command line and for reuse.

A scenario file names only what differs from the documented defaults of :class:`coinfer.system.Scenario`;
everything else keeps its default. Every key is checked: an unknown key, a wrong type or a value out of
range raises :class:`ScenarioError`, whose message starts with the dotted name of the field, e.g.
``uplink.bandwidth must be in (0, inf) Hz; got -5.0``. The layout (all keys optional)::

    model = "gpt2-large"        # a built-in model (coinfer.system.BUILTIN_MODELS) ...
    # profile = "profile.json"  # ... or a profile file written by `coinfer profile`, or that
                                #     profile inline as a table (not both)
    seq_len = 128               # tokens n per inference (built-in models only)
    # n_blocks = 36             # optional: checked against the model (written by `coinfer solve`)
    rho_max = 0.95              # largest pruning ratio
    min_split = 1               # privacy floor on the split point s

    [device]
    f_max = 2e9                 # Hz
    flops_per_cycle = 32        # FLOPs/cycle
    kappa = 2e-29               # J/(cycle Hz^2)
    p_max = 0.2                 # W  (or p_max_dbm = 23)

    [uplink]
    bandwidth = 5e6             # Hz
    noise_psd = 3.98e-21        # W/Hz  (or noise_psd_dbm_hz = -174)
    distance = 100              # m, 3GPP path loss  (or gain = 1e-10, linear; both only if they agree)

    [server]
    flops = 1.28e12             # FLOP/s

    [budget]
    latency = 1.0               # s
    energy = 0.5                # J

    [objective]                 # the surrogate Dbar(rho) (older files may call it [bound])
    lam = 1.0                   # Laplacian rate lambda of the weights
    gamma = 1.0                 # output-to-parameter constant Gamma
    kind = "floor"              # floor | rate | combined
    bits = 16                   # bits per kept weight (rate and combined)
    measure = "abs"             # abs | squared

Numbers may be written as TOML/JSON numbers, and an unlimited budget as ``inf`` (TOML) or the string
``"inf"`` (JSON has no infinity). The ``scenario`` part of the JSON that ``coinfer solve`` writes is
itself a scenario file in this layout: reading it back gives the same scenario.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from ..theory.objective import SurrogateObjective
from .channel import dbm_to_watt, path_gain
from .profiles import BUILTIN_MODELS, ModelProfile, builtin_profile
from .scenario import Budget, Device, EdgeServer, Scenario, Uplink

__all__ = [
    "ScenarioError",
    "SECTIONS",
    "read_mapping",
    "scenario_from_mapping",
    "read_scenario",
    "scenario_part",
    "scenario_to_mapping",
    "profile_to_mapping",
    "profile_from_mapping",
    "read_profile",
    "set_field",
    "to_jsonable",
]


class ScenarioError(ValueError):
    """A scenario or profile file is invalid; the message starts with the dotted field name."""


#: Sections of a scenario file: the dataclass each builds and the extra keys it accepts (converted).
SECTIONS = {
    "device": (Device, ("p_max_dbm",)),
    "uplink": (Uplink, ("distance", "noise_psd_dbm_hz")),
    "server": (EdgeServer, ()),
    "budget": (Budget, ()),
    "objective": (SurrogateObjective, ()),
}
_TOP_KEYS = ("model", "profile", "seq_len", "n_blocks", "rho_max", "min_split")
#: Relative tolerance within which ``uplink.distance`` and ``uplink.gain`` given together must agree.
_TWIN_RTOL = 1e-9


def read_mapping(path) -> dict:
    """The contents of a ``.toml`` or ``.json`` file as a dict (raises :class:`ScenarioError`)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise ScenarioError(f"file must end in .toml or .json; got {str(p)!r}")
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"file {str(p)!r} cannot be read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError:
        raise ScenarioError(f"file {str(p)!r} cannot be read: it is not UTF-8 text") from None
    try:
        data = tomllib.loads(text) if suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ScenarioError(f"file {str(p)!r} is not valid {suffix[1:].upper()}: {exc}") from exc
    if not isinstance(data, dict):
        raise ScenarioError(f"file {str(p)!r} must hold a table/object at the top level")
    return data


def _number(field: str, value) -> float:
    # TOML and JSON give int or float; booleans and other strings are mistakes worth naming. JSON has
    # no infinity, so the strings "inf" and "-inf" (what to_jsonable writes) stand for it.
    if isinstance(value, str) and value.strip().lower() in ("inf", "+inf", "-inf"):
        return -math.inf if value.strip().startswith("-") else math.inf
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScenarioError(f"{field} must be a number; got {value!r}")
    return float(value)


def _text_fields(cls) -> set[str]:
    """Fields of a section's dataclass that hold words (their default is a string), e.g. ``kind``."""
    return {f.name for f in dataclasses.fields(cls) if isinstance(f.default, str)}


def _unknown(field: str, key: str, allowed) -> ScenarioError:
    name = f"{field}.{key}" if field else key
    return ScenarioError(f"{name} is not a known field; allowed: {', '.join(sorted(allowed))}")


def _section(name: str, values):
    cls, extras = SECTIONS[name]
    if not isinstance(values, dict):
        raise ScenarioError(f"{name} must be a table of fields; got {values!r}")
    fields = [f.name for f in dataclasses.fields(cls)]
    allowed = set(fields) | set(extras)
    words = _text_fields(cls)
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in allowed:
            raise _unknown(name, key, allowed)
        # words go to the dataclass as given: its own check names the allowed values
        kwargs[key] = value if key in words else _number(f"{name}.{key}", value)
    # Convenience units: convert, refusing two spellings of one quantity (a distance may come with
    # the gain it implies, as `coinfer solve` writes both; they must then agree).
    pairs = {"p_max_dbm": "p_max", "noise_psd_dbm_hz": "noise_psd", "distance": "gain"}
    for alt, base in pairs.items():
        if alt in kwargs:
            value = kwargs.pop(alt)
            if alt == "distance":
                if not (math.isfinite(value) and value > 0):
                    raise ScenarioError(f"{name}.distance must be in (0, inf) m; got {value!r}")
                converted = float(path_gain(value))
            else:  # dBm to W, and dBm/Hz to W/Hz alike
                if not math.isfinite(value):
                    unit = "dBm" if alt == "p_max_dbm" else "dBm/Hz"
                    raise ScenarioError(
                        f"{name}.{alt} must be in (-inf, inf) {unit}; got {value!r}"
                    )
                try:
                    converted = dbm_to_watt(value)
                except OverflowError:
                    converted = math.inf
                if not (0.0 < converted < math.inf):
                    raise ScenarioError(
                        f"{name}.{alt} = {value!r} gives {base} = {converted!r}, outside (0, inf)"
                    )
            if base in kwargs:
                given = kwargs[base]
                if alt != "distance" or not math.isclose(given, converted, rel_tol=_TWIN_RTOL):
                    raise ScenarioError(
                        f"{name}.{alt} and {name}.{base} give the same quantity: use one "
                        f"(got {alt} = {value!r}, {base} = {given!r})"
                    )
            kwargs[base] = converted
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise ScenarioError(f"{name}.{exc}") from exc


def scenario_from_mapping(data: dict, base_dir=None) -> Scenario:
    """A :class:`~coinfer.system.Scenario` from a dict laid out as in this module's docstring.

    Missing keys keep their defaults. ``base_dir`` resolves a relative ``profile`` path.
    Raises :class:`ScenarioError` naming the offending field.
    """
    if not isinstance(data, dict):
        raise ScenarioError(f"a scenario must be a table/object; got {type(data).__name__}")
    data = _rename_legacy(data)
    allowed = set(_TOP_KEYS) | set(SECTIONS)
    for key in data:
        if key not in allowed:
            raise _unknown("", key, allowed)
    if "model" in data and "profile" in data:
        raise ScenarioError("model and profile both choose the model: give one")
    if "profile" in data:
        if "seq_len" in data:
            raise ScenarioError("seq_len is fixed by the profile file: remove it or use model")
        if isinstance(data["profile"], dict):
            profile = profile_from_mapping(data["profile"])
        elif isinstance(data["profile"], str):
            path = Path(data["profile"])
            if base_dir is not None and not path.is_absolute():
                path = Path(base_dir) / path
            profile = read_profile(path)
        else:
            raise ScenarioError(f"profile must be a file path or a table; got {data['profile']!r}")
    else:
        model = data.get("model", "gpt2-large")
        if model not in BUILTIN_MODELS:
            raise ScenarioError(f"model must be one of {', '.join(BUILTIN_MODELS)}; got {model!r}")
        seq_len = data.get("seq_len", 128)
        if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
            raise ScenarioError(f"seq_len must be an integer in [1, inf); got {seq_len!r}")
        profile = builtin_profile(model, seq_len)
    if "n_blocks" in data and data["n_blocks"] != profile.n_blocks:
        raise ScenarioError(
            f"n_blocks must equal the model's number of blocks, {profile.n_blocks} "
            f"({profile.name or 'profile'}); got {data['n_blocks']!r}"
        )
    kwargs: dict[str, Any] = {"profile": profile}
    for name in SECTIONS:
        if name in data:
            kwargs[name] = _section(name, data[name])
    if "rho_max" in data:
        kwargs["rho_max"] = _number("rho_max", data["rho_max"])
    if "min_split" in data:
        ms = data["min_split"]
        if isinstance(ms, bool) or not isinstance(ms, int):
            raise ScenarioError(
                f"min_split must be an integer in [0, {profile.n_blocks}]; got {ms!r}"
            )
        kwargs["min_split"] = ms
    try:
        return Scenario(**kwargs)
    except (ValueError, TypeError) as exc:
        raise ScenarioError(str(exc)) from exc


def scenario_part(data: dict) -> dict:
    """The scenario inside ``data``: the ``scenario`` part of a ``coinfer solve`` output, else ``data``.

    So the JSON that ``coinfer solve -o out.json`` writes can be fed back as a scenario file.
    """
    if isinstance(data, dict) and set(data) == {"scenario", "solution"}:
        part = data["scenario"]
        if not isinstance(part, dict):
            raise ScenarioError(f"scenario must be a table/object; got {part!r}")
        return part
    return data


def _rename_legacy(data: dict) -> dict:
    """``bound``, the older name of the ``objective`` section, renamed."""
    if "bound" not in data:
        return data
    if "objective" in data:
        raise ScenarioError("bound is the older name of objective: give one of them")
    return {("objective" if k == "bound" else k): v for k, v in data.items()}


def read_scenario(path) -> Scenario:
    """The scenario in a ``.toml`` or ``.json`` file (defaults for the rest).

    The output of ``coinfer solve`` is accepted too: its ``scenario`` part is read.
    """
    p = Path(path)
    return scenario_from_mapping(scenario_part(read_mapping(p)), base_dir=p.parent)


def set_field(data: dict, dotted: str, value) -> dict:
    """A copy of scenario mapping ``data`` with ``dotted`` (e.g. ``"uplink.bandwidth"``) set to ``value``.

    Setting ``uplink.distance`` drops ``uplink.gain`` and vice versa (and likewise for the dBm
    spellings), so a sweep over one spelling overrides a file that uses the other.
    """
    out = _rename_legacy(json.loads(json.dumps(data)))  # deep copy of plain data
    parts = dotted.split(".")
    if parts[0] == "bound":
        parts[0] = "objective"
    if len(parts) == 1:
        if parts[0] not in _TOP_KEYS:
            raise _unknown("", parts[0], set(_TOP_KEYS) | set(SECTIONS))
        out[parts[0]] = value
        if parts[0] == "model":
            out.pop("profile", None)
        elif parts[0] == "profile":
            out.pop("model", None)
        return out
    if len(parts) != 2 or parts[0] not in SECTIONS:
        raise ScenarioError(
            f"{dotted} is not a known field; use KEY or SECTION.KEY with SECTION in "
            f"{', '.join(SECTIONS)}"
        )
    section, key = parts
    cls, extras = SECTIONS[section]
    allowed = {f.name for f in dataclasses.fields(cls)} | set(extras)
    if key not in allowed:
        raise _unknown(section, key, allowed)
    table = out.setdefault(section, {})
    if not isinstance(table, dict):
        raise ScenarioError(f"{section} must be a table of fields; got {table!r}")
    twins = {
        "distance": "gain",
        "gain": "distance",
        "p_max_dbm": "p_max",
        "p_max": "p_max_dbm",
        "noise_psd_dbm_hz": "noise_psd",
        "noise_psd": "noise_psd_dbm_hz",
    }
    if key in twins:
        table.pop(twins[key], None)
    table[key] = value
    return out


def to_jsonable(value):
    """``value`` with numpy scalars/arrays, dataclasses and non-finite floats made JSON-safe.

    Strict JSON has no non-finite numbers: NaN (an undefined value, e.g. the pruning ratio of an
    infeasible instance) becomes ``null``, and infinities (an unlimited budget) the strings ``"inf"`` and
    ``"-inf"``.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isfinite(v):
            return v
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if value is None or isinstance(value, str):
        return value
    return str(value)


def scenario_to_mapping(scenario: Scenario, distance: float | None = None) -> dict:
    """The resolved scenario as plain data: every field, SI units, readable back as a scenario file.

    A built-in model is written by name, sequence length and (checked on reading) number of blocks;
    any other profile inline, as :func:`profile_to_mapping` gives it. ``distance`` (m), when the
    channel came from one, is written beside the gain it implies.
    """
    p = scenario.profile
    builtin = (
        p.name in BUILTIN_MODELS
        and p.seq_len >= 1
        and profile_to_mapping(p) == profile_to_mapping(builtin_profile(p.name, p.seq_len))
    )
    out: dict[str, Any] = (
        {"model": p.name, "seq_len": p.seq_len, "n_blocks": p.n_blocks}
        if builtin
        else {"profile": profile_to_mapping(p)}
    )
    out["rho_max"] = scenario.rho_max
    out["min_split"] = scenario.min_split
    for name in SECTIONS:
        out[name] = to_jsonable(getattr(scenario, name))
    if distance is not None:
        out["uplink"]["distance"] = float(distance)
    return out


def profile_to_mapping(profile: ModelProfile) -> dict:
    """A :class:`~coinfer.system.ModelProfile` as plain data (FLOPs and bits per block)."""
    return {
        "name": profile.name,
        "seq_len": profile.seq_len,
        "n_params": profile.n_params,
        "n_blocks": profile.n_blocks,
        "weight_flops": profile.weight_flops.tolist(),
        "attn_flops": profile.attn_flops.tolist(),
        "head_flops": profile.head_flops,
        "feature_bits": profile.feature_bits.tolist(),
        "head_prunable": bool(profile.head_prunable),
    }


def profile_from_mapping(data: dict) -> ModelProfile:
    """Inverse of :func:`profile_to_mapping` (raises :class:`ScenarioError` naming the field)."""
    if not isinstance(data, dict):
        raise ScenarioError(f"a profile must be a table/object; got {type(data).__name__}")
    keys = (
        "name",
        "seq_len",
        "n_params",
        "n_blocks",
        "weight_flops",
        "attn_flops",
        "head_flops",
        "feature_bits",
        "head_prunable",
    )
    for key in data:
        if key not in keys:
            raise _unknown("profile", key, keys)
    for key in ("weight_flops", "attn_flops", "head_flops", "feature_bits"):
        if key not in data:
            raise ScenarioError(f"profile.{key} is missing")
    try:
        profile = ModelProfile(
            weight_flops=data["weight_flops"],
            attn_flops=data["attn_flops"],
            head_flops=data["head_flops"],
            feature_bits=data["feature_bits"],
            name=str(data.get("name", "")),
            seq_len=data.get("seq_len", 0),
            n_params=data.get("n_params", 0),
            **({"head_prunable": data["head_prunable"]} if "head_prunable" in data else {}),
        )
    except (ValueError, TypeError) as exc:
        raise ScenarioError(f"profile.{exc}") from exc
    if "n_blocks" in data and data["n_blocks"] != profile.n_blocks:
        raise ScenarioError(
            f"profile.n_blocks must equal len(weight_flops) = {profile.n_blocks}; got {data['n_blocks']!r}"
        )
    return profile


def read_profile(path) -> ModelProfile:
    """The profile in a JSON (or TOML) file written by ``coinfer profile``."""
    return profile_from_mapping(read_mapping(path))
