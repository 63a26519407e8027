"""The ``coinfer`` command line: the solver without notebooks.

Three sub-commands, each with ``--help``:

* ``coinfer profile MODEL`` -- a built-in model name or a transformers ``config.json`` (or a folder
  holding one) to a model profile (FLOPs per block, bits per split) as JSON;
* ``coinfer solve SCENARIO`` -- a scenario in a TOML or JSON file (defaults for the rest, see
  :mod:`coinfer.scenario_io`) to the optimal split, pruning ratio, power and clock as JSON;
* ``coinfer sweep SCENARIO --field F --values ...`` -- the optimum over values of one field, as CSV.

Bad input prints one line ``coinfer <command>: error: <field> ...`` on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from pathlib import Path

import numpy as np

from .. import __version__
from ..system.io import (
    ScenarioError,
    profile_to_mapping,
    read_mapping,
    scenario_from_mapping,
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
    "parse_values",
    "parse_methods",
    "SWEEP_COLUMNS",
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


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line (no usage dump) and exit with status 2."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def profile_for(model: str, seq_len: int, b_tok: int = 32, b_act: int = 16):
    """The :class:`~coinfer.system.ModelProfile` of a built-in model name or a config file/folder.

    ``model`` is one of :data:`coinfer.system.BUILTIN_MODELS`, a transformers ``config.json``, or a
    folder containing ``config.json``; no weights are read.
    """
    from ..system import ARCHITECTURES, BUILTIN_MODELS, profile_from_architecture

    if model in BUILTIN_MODELS:
        try:
            return profile_from_architecture(
                ARCHITECTURES[model], seq_len, b_tok=b_tok, b_act=b_act, name=model
            )
        except (ValueError, TypeError) as exc:
            raise ScenarioError(str(exc)) from exc
    from ..real.profiles import profile_from_config

    path = Path(model)
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise ScenarioError(
            f"model must be one of {', '.join(BUILTIN_MODELS)} or a config.json file or folder; "
            f"got {model!r}"
        )
    data = read_mapping(path) if path.suffix.lower() == ".json" else None
    if data is None:
        raise ScenarioError(f"model config must be a .json file; got {str(path)!r}")
    from transformers import AutoConfig

    model_type = data.get("model_type")
    if not isinstance(model_type, str):
        raise ScenarioError(f"model_type is missing from {str(path)!r}")
    try:
        config = AutoConfig.for_model(**data)
    except (ValueError, KeyError, TypeError) as exc:
        raise ScenarioError(f"model_type {model_type!r} in {str(path)!r}: {exc}") from exc
    name = data.get("_name_or_path") or path.parent.name or model_type
    try:
        return profile_from_config(config, seq_len, b_tok=b_tok, b_act=b_act, name=name)
    except (ValueError, TypeError) as exc:
        raise ScenarioError(str(exc)) from exc


def solution_mapping(solution, scenario) -> dict:
    """A solver :class:`~coinfer.optimize.Solution` and its scenario as JSON-safe plain data."""
    return {"scenario": scenario_to_mapping(scenario), "solution": to_jsonable(solution)}


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
            if num < 1:
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
            f"--values must be 'a,b,c' or 'start:stop:num' or 'start:stop:num:log' (positive ends); "
            f"got {text!r}"
        ) from None
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ScenarioError(f"--values must be finite numbers; got {text!r}")
    return values


def _solve(scenario, split):
    from ..optimize import solve

    return solve(scenario, split=split)


def _row(solution) -> dict:
    return {
        "method": "proposed",
        "feasible": bool(solution.feasible),
        "split": solution.split,
        "rho": solution.rho,
        "power_w": solution.power,
        "freq_hz": solution.freq,
        "latency_s": solution.latency,
        "energy_j": solution.energy,
        "objective": solution.objective,
        "reason": solution.reason or "",
    }


def _baseline_row(name: str, scenario) -> dict:
    from ..optimize.baselines import run_method

    res = run_method(name, scenario)
    first = {f: np.asarray(getattr(res, f)).ravel()[0] for f in
             ("feasible", "split", "rho", "power", "freq", "latency", "energy", "objective")}
    return {
        "method": name,
        "feasible": bool(first["feasible"]),
        "split": int(first["split"]),
        "rho": float(first["rho"]),
        "power_w": float(first["power"]),
        "freq_hz": float(first["freq"]),
        "latency_s": float(first["latency"]),
        "energy_j": float(first["energy"]),
        "objective": float(first["objective"]),
        "reason": "" if first["feasible"] else "infeasible",
    }


def parse_methods(text: str) -> list[str]:
    """Method names from ``"proposed,on-device,..."`` (see :func:`coinfer.baselines.run_method`)."""
    from ..optimize.baselines import BASELINES

    names = [m.strip() for m in text.split(",") if m.strip()]
    for name in names:
        ok = name in BASELINES or (name.startswith("split-") and name[6:].isdigit())
        if name.startswith("fixed-rho-"):
            try:
                ok = 0.0 <= float(name[len("fixed-rho-"):]) < 1.0
            except ValueError:
                ok = False
        if not ok:
            raise ScenarioError(
                f"--methods must be names among {', '.join(BASELINES)}, fixed-rho-<rho>, split-<s>; "
                f"got {name!r}"
            )
    if not names:
        raise ScenarioError(f"--methods must name at least one method; got {text!r}")
    return names


def sweep_rows(data: dict, field: str, values, split=None, base_dir=None,
               methods=("proposed",)) -> list[dict]:
    """Solve the scenario ``data`` (a mapping) once per value of the dotted ``field`` and method.

    Returns one dict per (value, method) with the field value and the :data:`SWEEP_COLUMNS`.
    ``field`` may be any scenario key (``budget.latency``, ``uplink.distance``, ``model``...).
    ``"proposed"`` is :func:`coinfer.optimize.solve` (with ``split`` fixed if given); the other
    methods are the baselines of :func:`coinfer.baselines.run_method`.
    """
    rows = []
    for value in values:
        scenario = scenario_from_mapping(set_field(data, field, value), base_dir=base_dir)
        if split is not None:
            _check_split(split, scenario)
        for method in methods:
            row = _row(_solve(scenario, split)) if method == "proposed" else _baseline_row(method, scenario)
            rows.append({field: value, **row})
    return rows


def _check_split(split: int, scenario) -> None:
    lo, hi = scenario.min_split, scenario.profile.n_blocks
    if not lo <= split <= hi:
        raise ScenarioError(f"--split must be an integer in [{lo}, {hi}] (min_split to L); got {split}")


def _format(value) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return repr(v) if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
    return str(value)


def _write(text: str, output: str | None) -> None:
    if output in (None, "-"):
        sys.stdout.write(text)
    else:
        Path(output).write_text(text)


def _cmd_profile(args) -> int:
    profile = profile_for(args.model, args.seq_len, args.b_tok, args.b_act)
    _write(json.dumps(profile_to_mapping(profile), indent=2) + "\n", args.output)
    return 0


def _scenario_data(args) -> tuple[dict, Path | None]:
    if args.scenario is None:
        data, base = {}, None
    else:
        data, base = read_mapping(args.scenario), Path(args.scenario).parent
    for item in args.set or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ScenarioError(f"--set must be FIELD=VALUE; got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw  # a bare word such as a model name
        data = set_field(data, key.strip(), value)
    return data, base


def _cmd_solve(args) -> int:
    data, base = _scenario_data(args)
    scenario = scenario_from_mapping(data, base_dir=base)
    if args.split is not None:
        _check_split(args.split, scenario)
    solution = _solve(scenario, args.split)
    _write(json.dumps(solution_mapping(solution, scenario), indent=2) + "\n", args.output)
    return 0


def _cmd_sweep(args) -> int:
    data, base = _scenario_data(args)
    if args.field == "model":
        values = [v.strip() for v in args.values.split(",") if v.strip()]
    elif args.field in ("seq_len", "min_split"):
        numbers = parse_values(args.values)
        if not np.all(numbers == np.round(numbers)):
            raise ScenarioError(f"--values for {args.field} must be integers; got {args.values!r}")
        values = [int(v) for v in numbers]
    else:
        values = [float(v) for v in parse_values(args.values)]
    methods = parse_methods(args.methods)
    rows = sweep_rows(data, args.field, values, split=args.split, base_dir=base, methods=methods)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header = [args.field, *SWEEP_COLUMNS]
    writer.writerow(header)
    for row in rows:
        writer.writerow([_format(row[k]) for k in header])
    _write(buf.getvalue(), args.output)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``coinfer`` (sub-commands ``profile``, ``solve``, ``sweep``)."""
    parser = _Parser(
        prog="coinfer",
        description="Pruning-aware co-inference at the wireless edge: profiles, the joint solver, sweeps.",
    )
    parser.add_argument("--version", action="version", version=f"coinfer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser(
        "profile",
        help="a model config to a profile (JSON)",
        description="Count FLOPs per block and bits per split point of one inference of a model "
        "(no weights are read) and print the profile as JSON.",
    )
    p.add_argument("model", help="a built-in model (minilm-l6, smollm2-135m, gpt2, gpt2-medium, "
                   "gpt2-large, gpt2-xl, llama-2-7b) or a transformers config.json (or its folder)")
    p.add_argument("--seq-len", type=int, default=128, help="input tokens n (default 128)")
    p.add_argument("--b-tok", type=int, default=32, help="bits per token id (default 32)")
    p.add_argument("--b-act", type=int, default=16, help="bits per activation sent (default 16)")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.set_defaults(run=_cmd_profile)

    scenario_help = ("scenario file (.toml or .json); fields not given keep their defaults; "
                     "omit it for the default scenario")
    set_help = ("override a field, e.g. --set budget.latency=0.5 --set uplink.distance=200 "
                "(repeatable)")
    s = sub.add_parser(
        "solve",
        help="a scenario (TOML/JSON) to the optimal operating point (JSON)",
        description="Solve the joint split / pruning-ratio / power / clock problem for one scenario "
        "and print the solution and the resolved scenario as JSON (SI units).",
    )
    s.add_argument("scenario", nargs="?", help=scenario_help)
    s.add_argument("--set", action="append", metavar="FIELD=VALUE", help=set_help)
    s.add_argument("--split", type=int, help="fix the split point s instead of optimising it")
    s.add_argument("-o", "--output", help="write to this file instead of stdout")
    s.set_defaults(run=_cmd_solve)

    w = sub.add_parser(
        "sweep",
        help="the optimum over values of one scenario field (CSV)",
        description="Solve the scenario once per value of one field and print a CSV row per value "
        f"(columns: FIELD, {', '.join(SWEEP_COLUMNS)}; SI units).",
    )
    w.add_argument("scenario", nargs="?", help=scenario_help)
    w.add_argument("--field", required=True,
                   help="dotted field to sweep, e.g. budget.latency, budget.energy, "
                   "uplink.bandwidth, uplink.distance, model")
    w.add_argument("--values", required=True,
                   help="'a,b,c', 'start:stop:num' (inclusive, linear) or 'start:stop:num:log'; "
                   "model names for --field model")
    w.add_argument("--methods", default="proposed",
                   help="comma-separated: proposed (default), on-device, on-server, fixed-rho, "
                   "max-resources, fixed-rho-<rho>, split-<s>; one CSV row per value and method")
    w.add_argument("--set", action="append", metavar="FIELD=VALUE", help=set_help)
    w.add_argument("--split", type=int,
                   help="fix the split point s of the proposed method instead of optimising it")
    w.add_argument("-o", "--output", help="write to this file instead of stdout")
    w.set_defaults(run=_cmd_sweep)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``coinfer`` with ``argv`` (default: the process arguments); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except ScenarioError as exc:
        # One line, naming the field, as promised in --help.
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        sys.stderr.write(f"coinfer {args.command}: error: {first}\n")
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
