"""Where coinfer keeps results that are expensive to recompute (never inside the repository)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """The cache folder: ``$COINFER_CACHE`` if set, else ``~/.cache/coinfer``; created if missing."""
    folder = Path(os.environ.get("COINFER_CACHE") or Path.home() / ".cache" / "coinfer")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
