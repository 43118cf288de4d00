"""Methods, backbones and datasets that other installed packages register (docs/extending.md).

A plug-in distribution declares Python entry points in one group per kind, each loading an
object declared exactly like a built-in one:

    [project.entry-points."septctl.methods"]     NAME = "pkg.module:SPEC"   (a MethodSpec)
    [project.entry-points."septctl.backbones"]   NAME = "pkg.module:SPEC"   (a BackboneSpec)
    [project.entry-points."septctl.datasets"]    NAME = "pkg.module"        (DATASETS and plan)

Each registry merges its group once, when it is first imported. A plug-in that cannot be
used is named in one line on stderr and skipped, so the rest of the CLI keeps working. The
module an entry point names is imported at every start-up: keep it torch-free, as septctl's
own registries are (a spec names its heavy class or factory by import path), and import
from septctl only the registry the object is declared for: that registry is still being
built when it loads the plug-in, and another may in turn load this one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from functools import lru_cache
from importlib import metadata
from typing import Any, TypeVar

T = TypeVar("T")
CYCLE_HINT = "; declare each kind in its own module that imports only the registry it declares into"


@lru_cache(maxsize=1)
def _entry_points() -> metadata.EntryPoints:
    """Every installed entry point, read once per process (one scan of the installed distributions)."""
    return metadata.entry_points()


def report(entry: metadata.EntryPoint, why: str) -> None:
    """The one line a broken plug-in gets."""
    dist = f" from {entry.dist.name} {entry.dist.version}" if entry.dist else ""
    print(f"septctl: skipped plug-in {entry.name!r} ({entry.group}{dist}): {why}", file=sys.stderr)


def load(group: str, check: Callable[[Any], T]) -> Iterable[tuple[metadata.EntryPoint, T]]:
    """(entry point, object) for each plug-in of `group` that loads and passes `check`.

    `check` returns the object to register or raises ValueError with the reason to skip it.
    """
    for entry in _entry_points().select(group=group):
        try:
            obj = entry.load()
        except Exception as exc:  # a plug-in's import may fail in any way; it must not stop septctl
            hint = CYCLE_HINT if "circular import" in str(exc) else ""
            report(entry, f"import failed: {type(exc).__name__}: {exc}{hint}")
            continue
        try:
            yield entry, check(obj)
        except ValueError as exc:
            report(entry, str(exc))


def merge(table: dict[str, T], group: str, kind: type, name: Callable[[T], str] = lambda obj: obj.name,
          check: Callable[[T], None] = lambda obj: None) -> None:
    """Add the plug-ins of `group` to `table` (a registry keyed by name): each must be a `kind`, take
    no name already there and pass `check` (which raises ValueError with its reason otherwise)."""

    def usable(obj: Any) -> T:
        if not isinstance(obj, kind):
            raise ValueError(f"loads a {type(obj).__name__}, not a {kind.__name__}")
        if name(obj) in table:
            raise ValueError(f"{name(obj)!r} is already taken")
        check(obj)
        return obj

    for _, obj in load(group, usable):
        table[name(obj)] = obj
