"""Every name a chapter imports from coinfer exists (the book and the package must not drift apart)."""

import ast
import importlib
import sys
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from conftest import toc_chapters  # noqa: E402


def _coinfer_imports(chapter: Path):
    """(module, name) pairs imported from coinfer by the chapter's code cells."""
    notebook = jupytext.read(str(chapter))
    pairs = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(
            line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))
        )
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("coinfer"):
                pairs += [(node.module, alias.name) for alias in node.names]
            elif isinstance(node, ast.Import):
                pairs += [(a.name, None) for a in node.names if a.name.startswith("coinfer")]
    return pairs


CHAPTERS = toc_chapters(ROOT)


def test_every_toc_chapter_exists():
    missing = [str(p.relative_to(ROOT)) for p in CHAPTERS if not p.exists()]
    assert not missing, missing


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_imports_resolve(chapter):
    for module, name in _coinfer_imports(chapter):
        mod = importlib.import_module(module)
        if name is not None and name != "*":
            assert hasattr(mod, name) or importlib.util.find_spec(f"{module}.{name}"), (
                f"{chapter.name} imports {name!r} from {module}, which does not define it"
            )


def test_public_modules_declare_all():
    """Each public module lists its public names in __all__, and every one of them exists."""
    package = ROOT / "src" / "coinfer"
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package.parent).with_suffix("")
        if any(part.startswith("_") and part != "__init__" for part in rel.parts):
            continue
        name = ".".join(rel.parts[:-1] if rel.parts[-1] == "__init__" else rel.parts)
        if name in ("coinfer.real", "coinfer.app"):
            continue  # these packages' __init__ import nothing on purpose
        mod = importlib.import_module(name)
        names = getattr(mod, "__all__", None)
        assert names is not None, f"{name} has no __all__"
        for item in names:
            assert hasattr(mod, item), f"{name}.__all__ lists missing {item!r}"


def test_the_front_door():
    import coinfer

    for item in (
        "Scenario",
        "solve",
        "solve_batch",
        "evaluate",
        "on_device",
        "on_server",
        "fixed_split",
        "fixed_rho",
        "max_resources",
        "Solution",
    ):
        assert item in coinfer.__all__ and hasattr(coinfer, item)
    from coinfer.optimize import solve, solve_batch  # noqa: F401  (the documented paths)
    from coinfer.system import Budget, Device, EdgeServer, ModelProfile, Scenario, Uplink  # noqa: F401

    sc = coinfer.Scenario.default().replace(latency=0.5)
    sol = coinfer.solve(sc)
    assert sol.feasible
    assert len(repr(sol)) < 200 and len(repr(sc)) < 300
    text = sol.summary()
    assert f"split s = {sol.split}" in text and "latency" in text and "energy" in text
    d = sol.to_dict()
    assert d["rho"] == sol.rho and d["split"] == sol.split
    batch = coinfer.solve_batch(sc, [sc.uplink.gain, sc.uplink.gain / 10])
    assert len(batch) == 2 and batch[0].rho == sol.rho and batch[1].rho >= sol.rho
