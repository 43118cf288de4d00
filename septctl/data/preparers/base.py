"""What every preparer shares: the Plan it returns, metadata reading, fold parsing, cross-validation splits."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from septctl.data.schema import Row
from septctl.errors import SeptctlError


@dataclass
class Plan:
    files: dict[str, Path] = field(default_factory=dict)  # destination relpath -> source file
    splits: dict[str, list[Row]] = field(default_factory=dict)  # csv relpath -> rows
    missing: list[str] = field(default_factory=list)  # listed by the release's metadata, not on disk
    unreadable: list[str] = field(default_factory=list)
    source_meta: str = ""  # what listed the files (for messages)
    class_order: list[str] | None = None  # the release's label order, where base/new must not sort names

    def classes(self) -> set[str]:
        """The classes some split still holds."""
        return {r.classname for rows in self.splits.values() for r in rows}

    def drop(self, bad: set[str]) -> None:
        """Remove files (by destination relpath) from the plan and every split."""
        for rel in bad:
            self.files.pop(rel, None)
        self.splits = {k: [r for r in rows if r.path not in bad] for k, rows in self.splits.items()}
        if self.class_order is not None:  # a class whose every file went goes from the order too
            self.class_order = [c for c in self.class_order if c in self.classes()]


def read_metadata(meta: Path, columns: tuple[str, ...], release: str, source_hint: str) -> list[dict[str, str]]:
    """The rows of a release's metadata CSV, refused with the fix when the file or a column is missing."""
    if not meta.is_file():
        raise SeptctlError(f"{meta}: not found; --source must be {source_hint}")
    with open(meta, newline="", encoding="utf-8") as f:
        records = list(csv.DictReader(f))
    if not records or not set(columns) <= set(records[0]):
        raise SeptctlError(f"{meta}: expected columns {', '.join(columns)}; is this {release}'s metadata?")
    return records


def parse_fold(value: str, folds: int, where: str) -> int:
    """A metadata row's fold number, refused unless it is one of 1..folds (a stray fold would leak into training)."""
    try:
        fold = int(value)
    except ValueError:
        fold = 0
    if not 1 <= fold <= folds:
        raise SeptctlError(f"{where}: fold {value!r} is not 1..{folds}; re-download the metadata")
    return fold


def cv_splits(labelled: list[tuple[Row, int]], folds: int, present_only: bool = False) -> dict[str, list[Row]]:
    """Cross-validation CSVs: fold k is csv_files/test_k.csv, the other folds csv_files/train_k.csv.

    All `folds` folds are written, so a fold emptied by missing files is reported, not skipped;
    `present_only` writes only the folds some file belongs to (ESC-50's release samples hold fewer).
    """
    splits: dict[str, list[Row]] = {}
    for k in sorted({fold for _, fold in labelled}) if present_only else range(1, folds + 1):
        splits[f"csv_files/train_{k}.csv"] = [r for r, fold in labelled if fold != k]
        splits[f"csv_files/test_{k}.csv"] = [r for r, fold in labelled if fold == k]
    return splits
