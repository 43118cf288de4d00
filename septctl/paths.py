"""Where septctl keeps its caches: $SEPTCTL_CACHE, else $XDG_CACHE_HOME/septctl."""

from __future__ import annotations

import os
from pathlib import Path

from septctl.errors import SeptctlError, doing


def cache_dir(*parts: str) -> Path:
    """Return (and create) a folder inside septctl's cache."""
    root = os.environ.get("SEPTCTL_CACHE")
    if root:
        base = Path(root)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        base = Path(xdg) / "septctl"
    if base.exists() and not base.is_dir():
        raise SeptctlError(f"{base}: septctl's cache is a file, not a folder; point $SEPTCTL_CACHE at a folder")
    path = base.joinpath(*parts)
    with doing("creating the cache folder", path):
        path.mkdir(parents=True, exist_ok=True)
    return path
