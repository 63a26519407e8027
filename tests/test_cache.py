"""The one disk cache: keys, reads, atomic writes, and invalidation by exactly the modules used."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from coinfer import cache

SRC = Path(cache.__file__).resolve().parents[1]  # .../src


def test_cache_dir_follows_environment(tmp_cache):
    assert cache.cache_dir() == tmp_cache
    assert tmp_cache.is_dir()


def test_key_depends_on_every_parameter(scenario):
    deps = ("coinfer.studies.sweeps",)

    def key(name, params):
        return cache.cache_key(name, params, deps)

    k = key("sweep", {"scenario": scenario, "values": (1.0, 2.0)})
    assert k == key("sweep", {"scenario": scenario, "values": (1.0, 2.0)})
    assert k != key("sweep", {"scenario": scenario, "values": (1.0, 2.5)})
    assert k != key("sweep", {"scenario": scenario.replace(gain=1e-9), "values": (1.0, 2.0)})
    assert k != key("other", {"scenario": scenario, "values": (1.0, 2.0)})
    a = np.linspace(0, 1, 5)
    b = a.copy()
    b[3] = np.nextafter(b[3], 2.0)  # one ulp apart: different arrays, different keys
    assert key("x", {"a": a}) != key("x", {"a": b})
    assert key("x", {"a": a}) != key("x", {"a": a.astype(np.float32)})


def test_key_rejects_objects_it_cannot_render():
    with pytest.raises(TypeError, match="cache key"):
        cache.cache_key("x", {"obj": object()}, ("coinfer.cache",))


def test_closure_follows_imports_downward_only():
    used = cache.module_closure("coinfer.studies.sweeps")
    assert "coinfer.studies.sweeps" in used
    assert "coinfer.optimize.solver" in used  # through the baselines
    assert "coinfer.system.costs" in used
    assert not any(m.startswith("coinfer.app") for m in used)
    assert not any(m.startswith("coinfer.real") for m in used)
    theory = cache.module_closure("coinfer.theory.blahut")
    assert not any(m.startswith(("coinfer.system", "coinfer.optimize")) for m in theory)


def test_cached_computes_once_then_reads(tmp_cache):
    calls = []

    def compute():
        calls.append(1)
        return {"a": np.arange(3)}

    first = cache.cached("t", {"p": 1}, compute)
    second = cache.cached("t", {"p": 1}, compute)
    assert len(calls) == 1
    np.testing.assert_array_equal(first["a"], second["a"])
    cache.cached("t", {"p": 2}, compute)
    assert len(calls) == 2
    cache.cached("t", {"p": 1}, compute, use_cache=False)
    assert len(calls) == 3


def test_cached_recovers_from_a_corrupt_file(tmp_cache):
    cache.cached("t", {"p": 1}, lambda: 1)
    (path,) = list(tmp_cache.glob("t-*.pkl"))
    path.write_bytes(b"not a pickle")
    assert cache.cached("t", {"p": 1}, lambda: 2) == 2


def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "out.bin"

    def fail(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        cache.atomic_write(target, fail)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    cache.atomic_write(target, lambda tmp: tmp.write_bytes(b"whole"))
    assert target.read_bytes() == b"whole"


_PROBE = textwrap.dedent(
    """
    import sys
    from coinfer.cache import cached
    from coinfer.studies import sweep
    from coinfer.system import Scenario

    calls = []

    def compute():
        calls.append(1)
        return 42

    # a computation whose code lives in coinfer.studies.sweeps
    compute.__module__ = "coinfer.studies.sweeps"
    cached("probe", {"x": 1}, compute)
    print("computed" if calls else "read")
    """
)


def _run_probe(src: Path, cache_dir: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(src), "COINFER_CACHE": str(cache_dir)}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_editing_a_used_module_invalidates_and_an_unrelated_one_keeps(tmp_path):
    """A copy of the package: edit the command line (unused by sweeps) and the cost model (used)."""
    src = tmp_path / "src"
    shutil.copytree(SRC / "coinfer", src / "coinfer", ignore=shutil.ignore_patterns("__pycache__"))
    store = tmp_path / "cache"
    assert _run_probe(src, store) == "computed"
    assert _run_probe(src, store) == "read"
    cli = src / "coinfer" / "app" / "cli.py"
    cli.write_text(cli.read_text() + "\n# an unrelated edit\n")
    assert _run_probe(src, store) == "read"
    costs = src / "coinfer" / "system" / "costs.py"
    costs.write_text(costs.read_text() + "\n# an edit to a module the sweep uses\n")
    assert _run_probe(src, store) == "computed"
    assert _run_probe(src, store) == "read"
