"""The one disk cache of coinfer: results that are expensive to recompute, never inside the repository.

Every cached computation goes through :func:`cached`. A result is stored under a key made of

* the computation's name and its parameters (dataclasses, arrays and numbers rendered exactly), and
* the source code of exactly the coinfer modules the computation uses: the module that defines the
  computation and, transitively, every coinfer module it imports (read statically from the source,
  so nothing is imported to compute the key).

So editing a module the computation uses invalidates its cached results, and editing any other
module (the command line, a chapter, an unrelated study) keeps them. Writes are atomic (a temporary
file renamed into place), so parallel runs never read half a file.

The folder is ``$COINFER_CACHE`` if set, else ``~/.cache/coinfer`` (see :func:`cache_dir`).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import importlib.util
import json
import os
import pickle
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "cache_dir",
    "canonical",
    "module_closure",
    "source_digest",
    "cache_key",
    "cache_path",
    "atomic_write",
    "cached",
]

T = TypeVar("T")


def cache_dir() -> Path:
    """The cache folder: ``$COINFER_CACHE`` if set, else ``~/.cache/coinfer``; created if missing."""
    folder = Path(os.environ.get("COINFER_CACHE") or Path.home() / ".cache" / "coinfer")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def canonical(obj: Any) -> Any:
    """A JSON-serialisable, order-stable rendering of ``obj`` for cache keys.

    Handles dataclasses (by class name and fields), numpy arrays (a digest of their bytes, dtype and
    shape),
    mappings, sequences, numbers (``repr`` of floats round-trips, so equal floats give equal keys),
    strings, booleans, ``None`` and callables (by qualified name). Anything else raises ``TypeError``.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {f.name: canonical(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        return {"__class__": type(obj).__name__, **fields}
    if isinstance(obj, np.ndarray):
        data = np.ascontiguousarray(obj)
        digest = hashlib.sha256(data.tobytes()).hexdigest()
        return {"__array__": digest, "dtype": str(data.dtype), "shape": list(data.shape)}
    if isinstance(obj, dict):
        return {str(k): canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [canonical(v) for v in obj]
    if isinstance(obj, (bool, str, np.bool_)) or obj is None:
        return obj if not isinstance(obj, np.bool_) else bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return repr(float(obj))
    if callable(obj):
        return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', repr(obj))}"
    raise TypeError(f"cannot build a cache key from a {type(obj).__name__}: {obj!r}")


def _module_file(name: str) -> Path | None:
    """The source file of coinfer module ``name`` without importing it (``None`` if not found)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def _imports(name: str, path: Path) -> set[str]:
    """The coinfer modules that module ``name`` (file ``path``) imports anywhere in its source."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "coinfer")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "coinfer":
                continue
            found.add(target)
            for alias in node.names:  # ``from coinfer import system`` imports a submodule
                if _module_file(f"{target}.{alias.name}") is not None:
                    found.add(f"{target}.{alias.name}")
    return found


@functools.lru_cache(maxsize=256)
def _closure(root: str, stamp: tuple) -> tuple[str, ...]:
    seen: set[str] = set()
    todo = [root]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = _module_file(name)
        if path is None:
            continue
        seen.add(name)
        todo.extend(_imports(name, path) - seen)
        if path.name == "__init__.py":
            # a package may load its modules lazily (PEP 562): depending on the package means
            # depending on every module in its folder
            todo.extend(
                f"{name}.{p.stem}" for p in path.parent.glob("*.py") if p.stem != "__init__"
            )
    return tuple(sorted(seen))


def module_closure(*roots: str) -> tuple[str, ...]:
    """The coinfer modules ``roots`` use: themselves and, transitively, every coinfer module imported.

    Imports are read statically from the source files (inside functions too), so a lazily imported
    module counts; importing from a package counts as using every module in the package's folder.
    Sorted module names.
    """
    out: set[str] = set()
    for root in roots:
        path = _module_file(root)
        stamp = (path.stat().st_mtime_ns,) if path is not None else ()
        out.update(_closure(root, stamp))
    return tuple(sorted(out))


def source_digest(*roots: str) -> str:
    """A sha256 hex digest of the names and sources of :func:`module_closure` of ``roots``."""
    h = hashlib.sha256()
    for name in module_closure(*roots):
        path = _module_file(name)
        h.update(name.encode())
        h.update(path.read_bytes() if path is not None else b"")
    return h.hexdigest()


def cache_key(name: str, params: Any, depends: Iterable[str]) -> str:
    """A hex digest of ``name``, ``params`` (see :func:`canonical`) and the source of ``depends``."""
    payload = json.dumps(
        {"name": name, "params": canonical(params), "source": source_digest(*depends)},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def cache_path(name: str, params: Any, depends: Iterable[str], suffix: str = ".pkl") -> Path:
    """Where :func:`cached` keeps the result of ``name`` at ``params`` (the file may not exist)."""
    return cache_dir() / f"{name}-{cache_key(name, params, depends)}{suffix}"


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary path beside ``path``, then rename it to ``path``.

    A reader never sees a partial file; a failed write leaves nothing behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def cached(
    name: str,
    params: Any,
    compute: Callable[[], T],
    *,
    depends: Iterable[str] | None = None,
    use_cache: bool = True,
) -> T:
    """``compute()``, read from or written to the disk cache.

    Args:
        name: a short name of the computation (the file name starts with it).
        params: everything the result depends on besides code (see :func:`canonical`).
        compute: the computation, called with no arguments on a cache miss.
        depends: coinfer module names whose import closure keys the result (default: the module
            that defines ``compute``).
        use_cache: ``False`` computes without reading or writing.

    A corrupt or unreadable cache file is recomputed and overwritten.
    """
    if not use_cache:
        return compute()
    roots = tuple(depends) if depends is not None else (compute.__module__,)
    path = cache_path(name, params, roots)
    if path.exists():
        try:
            with path.open("rb") as fh:
                return pickle.load(fh)
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError):
            pass
    result = compute()

    def write(tmp: Path) -> None:
        with tmp.open("wb") as fh:
            pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)

    atomic_write(path, write)
    return result
