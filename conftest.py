"""Collect every chapter listed in ``_toc.yml`` as an nbval notebook test.

Chapters are MyST markdown notebooks (``book/*.md``, paired with jupytext). pytest reads each one with
jupytext and hands it to nbval, which executes it cell by cell in a fresh kernel whose working
directory is ``book/`` (the same as the book build). The ``.md`` files carry no stored outputs, so
nbval checks that every cell runs without error; the values are checked by ``assert`` cells in the
chapters and by the unit tests in ``tests/``. Pass ``--skip-chapters`` to run the unit tests alone.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")  # chapters' figures render off-screen under pytest


def toc_chapters(root: Path = ROOT) -> list[Path]:
    """The chapter files listed in ``_toc.yml``, in book order."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return [(root / f).with_suffix(".md") for f in files]


def pytest_addoption(parser):
    parser.addoption(
        "--skip-chapters",
        action="store_true",
        default=False,
        help="do not execute the book's chapters (run the unit tests only)",
    )


def pytest_configure(config):
    # Chapters run in the kernel of the interpreter that runs pytest (the project's virtual env).
    if hasattr(config.option, "nbval_current_env"):
        config.option.nbval_current_env = True


def pytest_collect_file(file_path, parent):
    if file_path.suffix != ".md" or parent.config.getoption("--skip-chapters"):
        return None
    if file_path.resolve() not in {p.resolve() for p in toc_chapters()}:
        return None
    return MystChapter.from_parent(parent, path=file_path)


from nbval.plugin import IPyNbFile  # noqa: E402  (after the hooks, which pytest reads by name)


class MystChapter(IPyNbFile):
    """An nbval notebook read from a MyST markdown chapter through jupytext."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.compare_outputs = False  # no stored outputs to compare in a .md notebook

    def collect(self):
        import jupytext
        import nbformat

        notebook = jupytext.read(str(self.fspath))
        read = nbformat.read
        # nbval's collector reads the path with nbformat: hand it the jupytext notebook instead.
        nbformat.read = lambda *args, **kwargs: notebook
        try:
            yield from super().collect()
        finally:
            nbformat.read = read


# Fixtures shared by the unit tests.


@pytest.fixture()
def tmp_cache(tmp_path, monkeypatch):
    """An empty result cache for one test (``COINFER_CACHE`` pointed at a fresh folder)."""
    monkeypatch.setenv("COINFER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def scenario():
    """A small GPT-2 scenario (64 tokens, 0.3 s, 50 mJ) for studies and caches."""
    from coinfer.system import Budget, Scenario

    return Scenario.default("gpt2", seq_len=64, budget=Budget(latency=0.3, energy=0.05))
