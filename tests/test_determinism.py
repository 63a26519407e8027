"""Same seed, same numbers: two fresh executions of a chapter glue identical values.

nbval executes the MyST chapters, which carry no stored outputs, so it checks that every cell runs
and every assert holds, not that numbers repeat. This test does the second part for the cheapest
chapters: each is executed twice, each time in a fresh kernel with an empty result cache (so cached
computations are recomputed, not read back), and every value the chapter glues into its prose must
be identical between the two runs. It also checks that cache keys do not depend on the process
(hash randomisation, dict order): a key computed in two fresh interpreters is the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
#: Cheap chapters whose every glued number must repeat exactly.
CHAPTERS = ("quickstart", "notation")


def glued_values(chapter: str, cache_dir: Path) -> dict[str, str]:
    """Execute ``book/<chapter>.md`` in a fresh kernel; return ``{glue name: its text/plain}``."""
    import jupytext
    from nbclient import NotebookClient

    nb = jupytext.read(str(BOOK / f"{chapter}.md"))
    env = {"COINFER_CACHE": str(cache_dir), "MPLBACKEND": "Agg", "PYTHONHASHSEED": "random"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        NotebookClient(nb, timeout=600, resources={"metadata": {"path": str(BOOK)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    out = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            meta = output.get("metadata", {}).get("scrapbook", {})
            if "name" in meta:
                out[meta["name"]] = output.get("data", {}).get("text/plain", "")
    return out


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_determinism_two_fresh_runs_glue_the_same(chapter, tmp_path):
    first = glued_values(chapter, tmp_path / "cache-1")
    second = glued_values(chapter, tmp_path / "cache-2")
    assert first == second
    if chapter == "quickstart":
        assert first, "the quick start glues its numbers; none were found"


_KEY = """
import json
from coinfer.cache import cache_key
from coinfer.system import Scenario
sc = Scenario.default("gpt2", 64).replace(latency=0.3, distance=250.0)
params = {"scenario": sc, "values": (0.1, 0.2), "methods": ("proposed", "on-device"),
          "nested": {"b": [1, 2.5], "a": None}}
print(json.dumps(cache_key("sweep", params, ("coinfer.studies.sweeps",))))
"""


def test_cache_key_determinism_across_processes():
    keys = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", _KEY], env=env, capture_output=True, text=True, check=True
        )
        keys.add(json.loads(out.stdout))
    assert len(keys) == 1
