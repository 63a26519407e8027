"""The package's shape: imports only go downward between layers, no cycles, a numpy-only core.

Layers, from the bottom: the foundation (``coinfer.validation``, ``coinfer.cache``), ``theory``,
``system``, ``optimize`` (with ``network``), ``studies``, ``app``; ``real`` (torch, transformers) sits
beside them and may use the foundation, ``theory`` and ``system``. Nothing imports ``app``. The rule
is read from the source (every import statement, inside functions too), as ``ARCHITECTURE.md``
states it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "coinfer"

#: layer -> the layers it may import (besides itself)
ALLOWED = {
    "foundation": set(),
    "theory": {"foundation"},
    "system": {"foundation", "theory"},
    "optimize": {"foundation", "theory", "system"},
    "studies": {"foundation", "theory", "system", "optimize"},
    "app": {"foundation", "theory", "system", "optimize", "studies", "real", "root"},
    "real": {"foundation", "theory", "system"},
    "root": {"foundation", "theory", "system", "optimize"},
}
SUBPACKAGE_LAYER = {
    "theory": "theory",
    "system": "system",
    "optimize": "optimize",
    "network": "optimize",
    "studies": "studies",
    "app": "app",
    "real": "real",
}
HEAVY = ("torch", "transformers")


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> str:
    """The layer of a coinfer module name."""
    parts = module.split(".")
    if len(parts) == 1:
        return "root"
    if parts[1] in SUBPACKAGE_LAYER:
        return SUBPACKAGE_LAYER[parts[1]]
    return "foundation"  # coinfer.validation, coinfer.cache


def _runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:`` (annotations only)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            test = getattr(child, "test", None) if isinstance(child, ast.If) else None
            if test is not None and "TYPE_CHECKING" in ast.unparse(test):
                todo.extend(child.orelse)
                continue
            todo.append(child)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names), from any import statement in it."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if node.level > 1:
                    base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.add(target)
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                parts = candidate.split(".")
                if parts[0] == "coinfer" and (
                    (PACKAGE.parent / Path(*parts)).with_suffix(".py").exists()
                    or (PACKAGE.parent / Path(*parts) / "__init__.py").exists()
                ):
                    out.add(candidate)
    return out


MODULES = sorted(PACKAGE.rglob("*.py"))


def violations(modules=MODULES) -> list[str]:
    """Every import that breaks the layer rule, as readable lines."""
    found = []
    for path in modules:
        src = _module_name(path)
        src_layer = layer_of(src)
        for target in sorted(imports_of(path)):
            top = target.split(".")[0]
            if top in HEAVY and src_layer not in ("real", "app"):
                found.append(f"{src} ({src_layer}) imports {target}: only coinfer.real may")
            if top != "coinfer":
                continue
            dst_layer = layer_of(target)
            if dst_layer != src_layer and dst_layer not in ALLOWED[src_layer]:
                found.append(f"{src} ({src_layer}) imports {target} ({dst_layer})")
    return found


def test_imports_only_go_downward():
    bad = violations()
    print(f"{len(MODULES)} modules checked; {len(bad)} violations")
    assert not bad, "\n".join(bad)


def test_the_rule_catches_a_planted_violation(tmp_path, monkeypatch):
    planted = PACKAGE / "theory" / "_planted_for_test.py"
    planted.write_text("from ..optimize import solve\nimport torch\n")
    try:
        bad = violations([planted])
    finally:
        planted.unlink()
    assert any("imports coinfer.optimize" in b for b in bad)
    assert any("imports torch" in b for b in bad)


def test_no_import_cycles_between_modules():
    graph = {}
    names = {_module_name(p): p for p in MODULES}
    for name, path in names.items():
        graph[name] = {t for t in imports_of(path) if t in names and t != name}
    # a package imports its own submodules in __init__: an edge from a module to its own parent
    # package is the normal way back, not a cycle between modules
    for name in graph:
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


_CORE = textwrap.dedent(
    """
    import sys
    import coinfer
    solution = coinfer.solve(coinfer.Scenario.default())
    assert solution.feasible
    from coinfer.app.cli import main
    for argv in (["solve"], ["solve", "--set", "budget.latency=0.5"],
                 ["sweep", "--field", "budget.latency", "--values", "0.1,0.5"]):
        assert main(argv) == 0
    heavy = sorted(m for m in ("torch", "transformers") if m in sys.modules)
    print("HEAVY", heavy)
    """
)


@pytest.mark.parametrize("module", ["torch", "transformers"])
def test_solving_and_the_command_line_never_import_the_deep_learning_stack(module, tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", _CORE], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    line = [x for x in out.stdout.splitlines() if x.startswith("HEAVY")][-1]
    assert module not in line, line
