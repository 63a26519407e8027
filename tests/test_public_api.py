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
    for path in sorted(package.glob("*.py")):
        if path.name.startswith("_"):
            continue
        mod = importlib.import_module(f"coinfer.{path.stem}")
        names = getattr(mod, "__all__", None)
        assert names is not None, f"coinfer.{path.stem} has no __all__"
        for name in names:
            assert hasattr(mod, name), f"coinfer.{path.stem}.__all__ lists missing {name!r}"
