"""Preparers: turn a dataset's original release into the common layout.

A preparer reads a release folder and returns a Plan (which files go where, which
rows each split CSV holds, which listed files are missing or unreadable); `prepare`
checks the plan and writes it atomically. Preparers never modify the release.
PALM's published copies (train.csv / csv_files/ at the top) go through `palm`.
"""

from __future__ import annotations

import csv
import importlib
from dataclasses import dataclass, field
from pathlib import Path

from septctl.data.layout import Row, write_layout
from septctl.errors import SeptctlError

# registry name -> module in this package defining `plan(source: Path, name: str) -> Plan`
PREPARERS = {
    "beijing-opera": "beijing_opera",
    "crema-d": "crema_d",
    "esc50": "esc50",
    "esc50-actions": "esc50",
    "gt-music-genre": "gtzan",
    "ns-instruments": "nsynth",
    "ravdess": "ravdess",
    "sesa": "sesa",
    "tut2017": "tut2017",
    "urbansound8k": "urbansound8k",
    "vocalsound": "vocalsound",
}


@dataclass
class Plan:
    files: dict[str, Path] = field(default_factory=dict)  # destination relpath -> source file
    splits: dict[str, list[Row]] = field(default_factory=dict)  # csv relpath -> rows
    missing: list[str] = field(default_factory=list)  # listed by the release's metadata, not on disk
    unreadable: list[str] = field(default_factory=list)
    source_meta: str = ""  # what listed the files (for messages)

    def drop(self, bad: set[str]) -> None:
        """Remove files (by destination relpath) from the plan and every split."""
        for rel in bad:
            self.files.pop(rel, None)
        self.splits = {k: [r for r in rows if r.path not in bad] for k, rows in self.splits.items()}


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


def cv_splits(labelled: list[tuple[Row, int]], folds: int) -> dict[str, list[Row]]:
    """Cross-validation CSVs: fold k is csv_files/test_k.csv, the other folds csv_files/train_k.csv.

    All `folds` folds are written, so a fold emptied by missing files is reported, not skipped.
    """
    splits: dict[str, list[Row]] = {}
    for k in range(1, folds + 1):
        splits[f"csv_files/train_{k}.csv"] = [r for r, fold in labelled if fold != k]
        splits[f"csv_files/test_{k}.csv"] = [r for r, fold in labelled if fold == k]
    return splits


def _check_classes(plan: Plan, name: str, source: Path) -> None:
    """Every label must be one of the registry's (= PALM's) class names, spelled the same."""
    from septctl.data.registry import find_dataset

    info = find_dataset(name)
    if info is None:
        return
    labels = {r.classname for rows in plan.splits.values() for r in rows}
    unknown = sorted(labels - set(info.classes))
    if unknown:
        raise SeptctlError(
            f"{source}: class {unknown[0]!r} is not one of {info.name}'s classes ({', '.join(info.classes)}); "
            f"is --source the {info.name} release?"
        )


def _unreadable(files: dict[str, Path]) -> list[str]:
    import soundfile as sf

    bad = []
    for rel, src in files.items():
        try:
            if sf.info(str(src)).frames == 0:
                bad.append(rel)
        except Exception:
            bad.append(rel)
    return bad


def make_plan(name: str, source: Path, variant: str | None = None) -> Plan:
    if name not in PREPARERS:
        raise SeptctlError(f"no preparer for {name!r}; available: {', '.join(sorted(PREPARERS))}")
    source = Path(source)
    if not source.is_dir():
        raise SeptctlError(f"{source}: release folder not found; pass the unpacked release with --source")
    from septctl.data.preparers.palm import is_palm_copy

    module_name = "palm" if is_palm_copy(source) else PREPARERS[name]
    module = importlib.import_module(f"septctl.data.preparers.{module_name}")
    plan = module.plan(source, name)
    _check_classes(plan, name, source)
    plan.unreadable = _unreadable(plan.files)
    return plan


def prepare(name: str, source: Path, out: Path, allow_missing: bool = False, link: bool = False) -> Plan:
    plan = make_plan(name, source)
    problems = [(plan.missing, "missing"), (plan.unreadable, "unreadable")]
    for bad, what in problems:
        if bad and not allow_missing:
            listed = len(plan.files) + len(plan.missing)
            raise SeptctlError(
                f"{source}: {len(bad)} of {listed} files listed by {plan.source_meta or 'the release'} are {what} "
                f"(first: {', '.join(bad[:3])}); re-download the release, or pass --allow-missing "
                f"to prepare from the {len(plan.files) - len(plan.unreadable)} good files"
            )
    plan.drop(set(plan.unreadable))
    empty = [k for k, rows in plan.splits.items() if not rows]
    if empty:
        raise SeptctlError(f"{source}: nothing left for {empty[0]} after dropping bad files; get a complete release")
    write_layout(out, plan.files, plan.splits, link=link)
    return plan
