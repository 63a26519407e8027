"""The ``coinfer`` command line: the solver without notebooks.

Five sub-commands, each with ``--help``:

* ``coinfer profile MODEL`` -- a built-in model name or a transformers ``config.json`` (or a folder
  holding one) to a model profile (FLOPs per block, bits per split) as JSON;
* ``coinfer solve [SCENARIO]`` -- a scenario in a TOML or JSON file (defaults for the rest, see
  :mod:`coinfer.system.io`) to the optimal split, pruning ratio, power and clock, as JSON or a text
  table; the JSON it writes is itself a scenario file (``coinfer solve out.json`` solves it again);
* ``coinfer sweep [SCENARIO] --field F --values ...`` -- the optimum over values of one field, as CSV
  or a text table;
* ``coinfer calibrate --model NAME --out FILE`` -- measure a device profile of a real model on this
  machine (:func:`coinfer.real.calibration.calibrate`; needs the ``models`` extra);
* ``coinfer network [FILE | --devices N]`` -- many devices sharing one uplink and one server
  (:func:`coinfer.network.solve_network`).

Every user mistake (a bad value, an unknown field, an unreadable or unwritable file) prints one line
``coinfer <command>: error: <what> ...`` on stderr, naming the field, the value and what is allowed,
and exits with status 2: never a traceback. ``solve`` and ``sweep`` import neither torch nor
transformers.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

from .. import __version__
from ..system.io import (
    SECTIONS,
    ScenarioError,
    profile_to_mapping,
    read_mapping,
    scenario_from_mapping,
    scenario_part,
    scenario_to_mapping,
    set_field,
    to_jsonable,
)

__all__ = [
    "main",
    "build_parser",
    "profile_for",
    "solution_mapping",
    "sweep_rows",
    "sweep_table",
    "parse_values",
    "parse_methods",
    "parse_ratios",
    "field_kind",
    "check_output",
    "SWEEP_COLUMNS",
    "PRUNING_KINDS",
]

EXIT_USAGE = 2

#: Columns of ``coinfer sweep`` output, after the swept field.
SWEEP_COLUMNS = (
    "method",
    "feasible",
    "split",
    "rho",
    "power_w",
    "freq_hz",
    "latency_s",
    "energy_j",
    "objective",
    "reason",
)

#: Pruning kinds ``coinfer calibrate --kinds`` accepts.
PRUNING_KINDS = ("unstructured", "structured")

#: Top-level scenario keys whose values are whole numbers, and those that are words.
_INT_KEYS = ("seq_len", "n_blocks", "min_split")
_WORD_KEYS = ("model", "profile")


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line (no usage dump) and exit with status 2."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


# --------------------------------------------------------------------------------------------------
# Helpers (each raises ScenarioError, a ValueError, on bad input)
# --------------------------------------------------------------------------------------------------


def profile_for(model: str, seq_len: int, b_tok: int = 32, b_act: int = 16):
    """The :class:`~coinfer.system.ModelProfile` of a built-in model name or a config file/folder.

    ``model`` is one of :data:`coinfer.system.BUILTIN_MODELS`, a transformers ``config.json``, or a
    folder containing ``config.json``; no weights are read. ``seq_len`` is in tokens, ``b_tok`` and
    ``b_act`` in bits per token id and per activation.
    """
    from ..system import ARCHITECTURES, BUILTIN_MODELS, profile_from_architecture

    if model in BUILTIN_MODELS:
        try:
            return profile_from_architecture(
                ARCHITECTURES[model], seq_len, b_tok=b_tok, b_act=b_act, name=model
            )
        except (ValueError, TypeError) as exc:
            raise ScenarioError(str(exc)) from exc
    path = Path(model)
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise ScenarioError(
            f"model must be one of {', '.join(BUILTIN_MODELS)} or a config.json file or folder; "
            f"got {model!r}"
        )
    if path.suffix.lower() != ".json":
        raise ScenarioError(f"model config must be a .json file; got {str(path)!r}")
    data = read_mapping(path)
    model_type = data.get("model_type")
    if not isinstance(model_type, str):
        raise ScenarioError(f"model_type is missing from {str(path)!r}")
    try:
        from transformers import AutoConfig

        from ..real.profiles import profile_from_config
    except ImportError as exc:
        raise ScenarioError(
            f"model {model!r}: reading a config.json needs transformers (pip install -e '.[models]'); "
            f"{exc}"
        ) from exc
    try:
        config = AutoConfig.for_model(**data)
    except (ValueError, KeyError, TypeError) as exc:
        raise ScenarioError(f"model_type {model_type!r} in {str(path)!r}: {exc}") from exc
    name = data.get("_name_or_path") or path.parent.name or model_type
    try:
        return profile_from_config(config, seq_len, b_tok=b_tok, b_act=b_act, name=name)
    except (ValueError, TypeError) as exc:
        raise ScenarioError(str(exc)) from exc


def solution_mapping(solution, scenario, distance: float | None = None) -> dict:
    """A solver :class:`~coinfer.optimize.Solution` and its scenario as JSON-safe plain data.

    The ``scenario`` part reads back as a scenario file; ``distance`` (m) is echoed in it if given.
    """
    return {
        "scenario": scenario_to_mapping(scenario, distance=distance),
        "solution": to_jsonable(solution.to_dict()),
    }


def parse_values(text: str) -> np.ndarray:
    """Sweep values from ``"a,b,c"`` (a list) or ``"start:stop:num"`` (``num`` evenly spaced, inclusive).

    ``"start:stop:num:log"`` spaces them geometrically. Raises :class:`ScenarioError` on bad input.
    """
    parts = text.split(":")
    try:
        if len(parts) == 1:
            values = np.array([float(v) for v in text.split(",") if v.strip()], dtype=float)
        elif len(parts) in (3, 4):
            start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
            if num < 1 or num > 100_000:
                raise ValueError
            if len(parts) == 4:
                if parts[3] != "log" or start <= 0 or stop <= 0:
                    raise ValueError
                values = np.geomspace(start, stop, num)
            else:
                values = np.linspace(start, stop, num)
        else:
            raise ValueError
    except ValueError:
        raise ScenarioError(
            f"--values must be 'a,b,c' or 'start:stop:num' or 'start:stop:num:log' (positive ends, "
            f"1 <= num <= 100000); got {text!r}"
        ) from None
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ScenarioError(f"--values must be finite numbers; got {text!r}")
    return values


def parse_ratios(text: str) -> list[float]:
    """A pruning-ratio grid from ``"a,b,c"`` or ``"start:stop:num"``: each in ``[0, 1)``, increasing."""
    try:
        values = parse_values(text)
    except ScenarioError:
        raise ScenarioError(
            f"--ratios must be 'a,b,c' or 'start:stop:num' with every ratio in [0, 1); got {text!r}"
        ) from None
    bad = values[(values < 0.0) | (values >= 1.0)]
    if bad.size:
        raise ScenarioError(f"--ratios must all be in [0, 1); got {bad[0]:g} in {text!r}")
    if np.any(np.diff(values) <= 0):
        raise ScenarioError(f"--ratios must be strictly increasing; got {text!r}")
    return [float(v) for v in values]


def parse_methods(text: str) -> list[str]:
    """Method names from ``"proposed,on-device,..."`` (see :func:`coinfer.optimize.baselines.run_method`).

    Only the names are checked here; the ``<s>`` of ``split-<s>`` and the ``<rho>`` of
    ``fixed-rho-<rho>`` are checked against each scenario when the sweep runs.
    """
    from ..optimize.baselines import check_method

    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise ScenarioError(f"--methods must name at least one method; got {text!r}")
    for name in names:
        try:
            check_method(name)
        except ValueError as exc:
            raise ScenarioError(f"--methods: {exc}") from None
    return names


def field_kind(dotted: str) -> str:
    """What the scenario field ``dotted`` holds: ``"int"``, ``"word"`` or ``"real"``.

    Raises :class:`ScenarioError` if ``dotted`` names no field (``set_field`` gives the message).
    """
    set_field({}, dotted, 0)  # checks the name
    parts = dotted.split(".")
    if len(parts) == 1:
        return "int" if dotted in _INT_KEYS else "word" if dotted in _WORD_KEYS else "real"
    section = "objective" if parts[0] == "bound" else parts[0]
    cls = SECTIONS[section][0]
    words = {f.name for f in dataclasses.fields(cls) if isinstance(f.default, str)}
    return "word" if parts[1] in words else "real"


def check_output(path: str | None, flag: str = "-o/--output") -> None:
    """Raise :class:`ScenarioError` unless ``path`` (None or ``-``: stdout) can be written.

    Checked before any slow work, so a typo in a path costs nothing. A file that did not exist is
    created and removed again: the only check that is right whatever the permissions say.
    """
    if path in (None, "-"):
        return
    p = Path(path)
    if p.is_dir():
        raise ScenarioError(f"{flag} must be a file path; {str(p)!r} is a folder")
    folder = p.parent
    if not folder.is_dir():
        raise ScenarioError(f"{flag} {str(p)!r}: the folder {str(folder)!r} does not exist")
    existed = p.exists()
    try:
        with p.open("a"):
            pass
    except OSError as exc:
        raise ScenarioError(f"{flag} {str(p)!r} cannot be written: {exc.strerror or exc}") from None
    if not existed:
        p.unlink()


def _check_split(split: int | None, scenario) -> None:
    if split is None:
        return
    lo, hi = scenario.min_split, scenario.profile.n_blocks
    if not lo <= split <= hi:
        raise ScenarioError(
            f"--split must be an integer in [{lo}, {hi}] (min_split to L); got {split}"
        )


def _row(solution, method: str) -> dict:
    return {
        "method": method,
        "feasible": bool(solution.feasible),
        "split": int(solution.split),
        "rho": float(solution.rho),
        "power_w": float(solution.power),
        "freq_hz": float(solution.freq),
        "latency_s": float(solution.latency),
        "energy_j": float(solution.energy),
        "objective": float(solution.objective),
        "reason": solution.reason or "",
    }


def _run_method(method: str, scenario, split: int | None):
    from ..optimize import solve
    from ..optimize.baselines import run_method

    if method == "proposed":
        return solve(scenario, split=split, method="proposed")
    try:
        return run_method(method, scenario)
    except ValueError as exc:
        raise ScenarioError(f"--methods: {exc}") from None


def sweep_rows(
    data: dict, field: str, values, split=None, base_dir=None, methods=("proposed",)
) -> list[dict]:
    """Solve the scenario ``data`` (a mapping) once per value of the dotted ``field`` and method.

    Returns one dict per (value, method) with the field value and the :data:`SWEEP_COLUMNS`.
    ``field`` may be any scenario key (``budget.latency``, ``uplink.distance``, ``model``...).
    ``"proposed"`` is :func:`coinfer.optimize.solve` (with ``split`` fixed if given); the other
    methods are the baselines of :func:`coinfer.optimize.baselines.run_method`.
    """
    rows = []
    for value in values:
        scenario = scenario_from_mapping(set_field(data, field, value), base_dir=base_dir)
        _check_split(split, scenario)
        for method in methods:
            rows.append({field: value, **_row(_run_method(method, scenario, split), method)})
    return rows


def _format(value) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return (
            repr(v)
            if math.isfinite(v)
            else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
        )
    return str(value)


def sweep_table(rows: list[dict], field: str, width: int = 80) -> str:
    """The rows of :func:`sweep_rows` as a fixed-width text table.

    Columns: the field, the method, ``ok`` (feasible), the split ``s``, ``rho``, the power ``p``
    (W), the clock ``f`` (GHz), the latency ``T`` (s) and the device energy ``E`` (J). An infeasible
    row shows ``-`` for the point and a note number; the notes below the table say why, wrapped at
    ``width`` characters.
    """
    import textwrap

    head = [field, "method", "ok", "s", "rho", "p W", "f GHz", "T s", "E J"]
    notes: list[str] = []
    lines = []
    for r in rows:
        v = r[field]
        value = f"{v:.6g}" if isinstance(v, float) else str(v)
        if r["feasible"]:
            point = [
                str(r["split"]),
                f"{r['rho']:.4f}",
                f"{r['power_w']:.3g}",
                f"{r['freq_hz'] / 1e9:.3g}",
                f"{r['latency_s']:.3g}",
                f"{r['energy_j']:.3g}",
            ]
            ok = "yes"
        else:
            if r["reason"] not in notes:
                notes.append(r["reason"])
            point = ["-"] * 6
            ok = f"no[{notes.index(r['reason']) + 1}]"
        lines.append([value, r["method"], ok, *point])
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(head)]
    out = []
    for line in [head, *lines]:
        cells = [
            c.rjust(w) if i >= 3 else c.ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
    for i, note in enumerate(notes, 1):
        out += textwrap.wrap(note, width, initial_indent=f"[{i}] ", subsequent_indent="    ")
    return "\n".join(out) + "\n"


def _write(text: str, output: str | None) -> None:
    if output in (None, "-"):
        sys.stdout.write(text)
    else:
        Path(output).write_text(text)


def _given_distance(data: dict) -> float | None:
    """The device-server distance (m) if the scenario data gives one, to echo it."""
    uplink = data.get("uplink")
    value = uplink.get("distance") if isinstance(uplink, dict) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _scenario_data(args) -> tuple[dict, Path | None]:
    if args.scenario is None:
        data, base = {}, None
    else:
        data, base = scenario_part(read_mapping(args.scenario)), Path(args.scenario).parent
    for item in args.set or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ScenarioError(f"--set must be FIELD=VALUE; got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw  # a bare word such as a model name or objective.kind=rate
        data = set_field(data, key.strip(), value)
    return data, base


# --------------------------------------------------------------------------------------------------
# Sub-commands
# --------------------------------------------------------------------------------------------------


def _cmd_profile(args) -> int:
    check_output(args.output)
    profile = profile_for(args.model, args.seq_len, args.b_tok, args.b_act)
    _write(json.dumps(profile_to_mapping(profile), indent=2) + "\n", args.output)
    return 0


def _cmd_solve(args) -> int:
    from ..optimize import solve
    from .report import solution_table

    check_output(args.output)
    data, base = _scenario_data(args)
    scenario = scenario_from_mapping(data, base_dir=base)
    _check_split(args.split, scenario)
    solution = solve(scenario, split=args.split)
    distance = _given_distance(data)
    if args.format == "text":
        text = solution_table(solution, scenario, distance)
    else:
        text = json.dumps(solution_mapping(solution, scenario, distance), indent=2) + "\n"
    _write(text, args.output)
    return 0


def _sweep_values(field: str, text: str) -> list:
    kind = field_kind(field)
    if kind == "word":
        values = [v.strip() for v in text.split(",") if v.strip()]
        if not values:
            raise ScenarioError(f"--values for {field} must be comma-separated words; got {text!r}")
        return values
    numbers = parse_values(text)
    if kind == "int":
        if not np.all(numbers == np.round(numbers)):
            raise ScenarioError(f"--values for {field} must be integers; got {text!r}")
        return [int(v) for v in numbers]
    return [float(v) for v in numbers]


def _cmd_sweep(args) -> int:
    check_output(args.output)
    data, base = _scenario_data(args)
    values = _sweep_values(args.field, args.values)
    methods = parse_methods(args.methods)
    rows = sweep_rows(data, args.field, values, split=args.split, base_dir=base, methods=methods)
    if args.format == "text":
        _write(sweep_table(rows, args.field), args.output)
        return 0
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header = [args.field, *SWEEP_COLUMNS]
    writer.writerow(header)
    for row in rows:
        writer.writerow([_format(row[k]) for k in header])
    _write(buf.getvalue(), args.output)
    return 0


def _positive_int(flag: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise ScenarioError(f"{flag} must be an integer in [1, inf); got {value}")


def _cmd_calibrate(args) -> int:
    from ..real.models import MODELS  # names only: imports no deep-learning library

    if args.model not in MODELS:
        raise ScenarioError(
            f"--model must be one of {', '.join(sorted(MODELS))}; got {args.model!r}"
        )
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in PRUNING_KINDS]
    if unknown or not kinds or len(set(kinds)) != len(kinds):
        raise ScenarioError(
            f"--kinds must be distinct names among {', '.join(PRUNING_KINDS)}; got {args.kinds!r}"
        )
    for flag, value in (
        ("--repeats", args.repeats),
        ("--threads", args.threads),
        ("--seq-len", args.seq_len),
    ):
        _positive_int(flag, value)
    options = {"kinds": tuple(kinds)}
    if args.ratios is not None:
        options["ratios"] = parse_ratios(args.ratios)
    for key in ("seq_len", "repeats", "threads"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    check_output(args.out, "--out")  # before the slow part
    try:
        from ..real.calibration import calibrate
    except ImportError as exc:
        raise ScenarioError(
            f"calibrate needs the models extra (pip install -e '.[models]'): {exc}"
        ) from None
    profile = calibrate(args.model, **options)
    profile.save(args.out)
    sys.stderr.write(f"coinfer calibrate: wrote {args.out}\n")
    return 0


def _cmd_network(args) -> int:
    from ..validation import check_int, check_real

    check_output(args.output)
    if (args.file is None) == (args.devices is None):
        raise ScenarioError(
            "network: give a network FILE or --devices N (a random drop), exactly one; "
            f"got FILE={args.file!r}, --devices={args.devices!r}"
        )
    changes: dict = {}
    if args.bandwidth is not None:
        changes["bandwidth"] = check_real(
            "--bandwidth", args.bandwidth, 0.0, lo_open=True, unit="Hz"
        )
    if args.server_flops is not None:
        changes["server_flops"] = check_real(
            "--server-flops", args.server_flops, 0.0, lo_open=True, unit="FLOP/s"
        )
    if args.objective is not None:
        changes["objective"] = args.objective
    try:
        from ..network import random_network, read_network, solve_network
    except ImportError as exc:
        raise ScenarioError(
            f"network: the many-device solver is not available here ({exc})"
        ) from None

    if args.file is not None:
        network = read_network(args.file)
    else:
        check_int("--devices", args.devices, 1)
        network = random_network(args.devices, seed=args.seed)
    if changes:
        replace = getattr(network, "replace", None)
        network = (
            replace(**changes) if callable(replace) else dataclasses.replace(network, **changes)
        )
    solution = solve_network(network)
    if args.format == "text":
        text = solution.table()
        text = text if text.endswith("\n") else text + "\n"
    else:
        text = json.dumps(to_jsonable(solution.to_dict()), indent=2) + "\n"
    _write(text, args.output)
    return 0


# --------------------------------------------------------------------------------------------------
# The parser and the entry point
# --------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``coinfer`` (sub-commands profile, solve, sweep, calibrate, network)."""
    parser = _Parser(
        prog="coinfer",
        description="Pruning-aware co-inference at the wireless edge: profiles, the joint solver, "
        "sweeps, device calibration and many-device networks.",
    )
    parser.add_argument("--version", action="version", version=f"coinfer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    out_help = "write to this file instead of stdout (checked before any work)"

    p = sub.add_parser(
        "profile",
        help="a model config to a profile (JSON)",
        description="Count FLOPs per block and bits per split point of one inference of a model "
        "(no weights are read) and print the profile as JSON.",
    )
    p.add_argument(
        "model",
        help="a built-in model (minilm-l6, smollm2-135m, gpt2, gpt2-medium, "
        "gpt2-large, gpt2-xl, llama-2-7b) or a transformers config.json (or its folder)",
    )
    p.add_argument("--seq-len", type=int, default=128, help="input tokens n (default 128)")
    p.add_argument("--b-tok", type=int, default=32, help="bits per token id (default 32)")
    p.add_argument("--b-act", type=int, default=16, help="bits per activation sent (default 16)")
    p.add_argument("-o", "--output", help=out_help)
    p.set_defaults(run=_cmd_profile)

    scenario_help = (
        "scenario file (.toml or .json; the JSON written by 'coinfer solve' too); "
        "fields not given keep their defaults; omit it for the default scenario"
    )
    set_help = (
        "override a field, e.g. --set budget.latency=0.5 --set uplink.distance=200 "
        "--set objective.kind=rate (repeatable)"
    )
    s = sub.add_parser(
        "solve",
        help="a scenario (TOML/JSON) to the optimal operating point (JSON or text)",
        description="Solve the joint split / pruning-ratio / power / clock problem for one scenario "
        "and print the solution and the resolved scenario as JSON (SI units), or a short table "
        "with --format text.",
    )
    s.add_argument("scenario", nargs="?", help=scenario_help)
    s.add_argument("--set", action="append", metavar="FIELD=VALUE", help=set_help)
    s.add_argument("--split", type=int, help="fix the split point s instead of optimising it")
    s.add_argument(
        "--format",
        choices=("json", "text"),
        default="json",
        help="json (default; reads back as a scenario) or text (a short table)",
    )
    s.add_argument("-o", "--output", help=out_help)
    s.set_defaults(run=_cmd_solve)

    w = sub.add_parser(
        "sweep",
        help="the optimum over values of one scenario field (CSV or text)",
        description="Solve the scenario once per value of one field and print a CSV row per value "
        f"(columns: FIELD, {', '.join(SWEEP_COLUMNS)}; SI units), or a table with --format text.",
    )
    w.add_argument("scenario", nargs="?", help=scenario_help)
    w.add_argument(
        "--field",
        required=True,
        help="dotted field to sweep, e.g. budget.latency, budget.energy, "
        "uplink.bandwidth, uplink.distance, server.flops, min_split, model, "
        "objective.kind",
    )
    w.add_argument(
        "--values",
        required=True,
        help="'a,b,c', 'start:stop:num' (inclusive, linear) or 'start:stop:num:log'; "
        "comma-separated words for model and objective.kind",
    )
    w.add_argument(
        "--methods",
        default="proposed",
        help="comma-separated: proposed (default), on-device, on-server, fixed-rho, "
        "max-resources, fixed-rho-<rho>, split-<s>; one row per value and method",
    )
    w.add_argument("--set", action="append", metavar="FIELD=VALUE", help=set_help)
    w.add_argument(
        "--split",
        type=int,
        help="fix the split point s of the proposed method instead of optimising it",
    )
    w.add_argument(
        "--format",
        choices=("csv", "text"),
        default="csv",
        help="csv (default) or text (a fixed-width table)",
    )
    w.add_argument("-o", "--output", help=out_help)
    w.set_defaults(run=_cmd_sweep)

    c = sub.add_parser(
        "calibrate",
        help="measure a device profile of a real model on this machine (needs the models extra)",
        description="Time each block of a real model on this machine at several pruning ratios "
        "and pruning kinds, fit the device profile and save it (see coinfer.real.calibration).",
    )
    c.add_argument("--model", required=True, help="a real model: minilm or smollm2")
    c.add_argument("--out", required=True, help="file to save the device profile to")
    c.add_argument("--ratios", help="pruning ratios, 'a,b,c' or 'start:stop:num', each in [0, 1)")
    c.add_argument(
        "--kinds",
        default=",".join(PRUNING_KINDS),
        help=f"comma-separated pruning kinds among {', '.join(PRUNING_KINDS)} (default: both)",
    )
    c.add_argument("--repeats", type=int, help="timed repetitions per point (>= 1)")
    c.add_argument("--threads", type=int, help="CPU threads to time with (>= 1)")
    c.add_argument("--seq-len", type=int, help="input tokens per timed inference (>= 1)")
    c.set_defaults(run=_cmd_calibrate)

    n = sub.add_parser(
        "network",
        help="many devices sharing one uplink and one server (JSON or text)",
        description="Share one uplink's bandwidth and one server's throughput among several "
        "devices, each with its own scenario, and choose every device's operating point.",
    )
    n.add_argument("file", nargs="?", help="a network file (see coinfer.network.read_network)")
    n.add_argument("--devices", type=int, help="a random drop of N devices instead of a file")
    n.add_argument("--seed", type=int, default=0, help="seed of the random drop (default 0)")
    n.add_argument(
        "--objective",
        choices=("max", "sum"),
        help="minimise the largest per-device objective (max) or their sum",
    )
    n.add_argument("--bandwidth", type=float, help="total uplink bandwidth in Hz")
    n.add_argument("--server-flops", type=float, help="server throughput in FLOP/s")
    n.add_argument(
        "--format",
        choices=("json", "text"),
        default="json",
        help="json (default) or text (a table)",
    )
    n.add_argument("-o", "--output", help=out_help)
    n.set_defaults(run=_cmd_network)
    return parser


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename!r}: " if exc.filename else ""
        return f"{where}{exc.strerror}"
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Run ``coinfer`` with ``argv`` (default: the process arguments); return the exit status.

    A user mistake prints one line on stderr and returns 2 (usage errors exit with 2 from argparse).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except BrokenPipeError:  # pragma: no cover - e.g. `coinfer sweep ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (ValueError, TypeError, OverflowError, OSError, ImportError) as exc:
        # One line, naming the field, as promised in --help.
        sys.stderr.write(f"coinfer {args.command}: error: {_one_line(exc)}\n")
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
