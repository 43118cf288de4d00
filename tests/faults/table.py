"""The shape of one row of the fault table (see test_table.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    """A bad input: `make(world, tmp_path)` damages copies under tmp_path and returns
    the septctl command line and the strings its one error line must contain."""

    id: str
    make: Callable[..., tuple[list, tuple[str, ...]]]
    fix: str | None = None  # a word of the suggested fix the line must carry
