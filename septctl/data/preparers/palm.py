"""Pass-through for PALM's published copies (MahiA/<Folder> on the HF hub), already in the common layout.

Such a copy is recognised by a top-level train.csv or csv_files/train_*.csv. Its
CSVs are validated (columns path/classname, relative paths inside the copy, class
names exactly the registry's) and copied, with the files they name, into a clean
folder. Multi-fold copies also carry a root train.csv/test.csv (whichever fold
PALM's scripts copied there last) and csv_files/train.csv/test.csv (a non-CV
split); only csv_files/{train,test}_k.csv are kept for them, so a fold is always
chosen explicitly.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from septctl.data import csvfile
from septctl.data.preparers.base import Plan
from septctl.data.registry import require_dataset
from septctl.data.schema import Row
from septctl.errors import SeptctlError


def is_palm_copy(source: Path) -> bool:
    return (source / "train.csv").is_file() or any((source / "csv_files").glob("train_*.csv"))


def split_csvs(folds: int) -> list[str]:
    """The CSVs (relative to the copy's root) that define a dataset with `folds` folds."""
    if folds > 1:
        return [f"csv_files/{split}_{k}.csv" for k in range(1, folds + 1) for split in ("train", "test")]
    return ["train.csv", "test.csv"]


def read_rows(csv_path: Path) -> list[Row]:
    """A PALM CSV's rows; each path must stay inside the copy (the file itself may be missing)."""
    rows = csvfile.read_rows(csv_path)
    for line, r in enumerate(rows, start=2):
        rel = PurePosixPath(r.path)
        if rel.is_absolute() or ".." in rel.parts:
            raise SeptctlError(f"{csv_path}:{line}: path must be relative to the dataset folder (got {r.path!r}); "
                               "fix the row")
    return rows


def plan(source: Path, name: str):
    info = require_dataset(name)
    result = Plan(source_meta=f"PALM's CSVs in {source}")
    for rel_csv in split_csvs(info.folds):
        csv_path = source / rel_csv
        if not csv_path.is_file():
            raise SeptctlError(f"{csv_path}: not found; {info.name} has {info.folds} fold(s) - re-download PALM's copy")
        kept = []
        for row in read_rows(csv_path):
            if row.path in result.files:
                kept.append(row)
            elif (source / row.path).is_file():
                result.files[row.path] = source / row.path
                kept.append(row)
            elif row.path not in result.missing:
                result.missing.append(row.path)
        result.splits[rel_csv] = kept
    absent = sorted(set(info.classes) - {r.classname for rows in result.splits.values() for r in rows})
    if absent:
        raise SeptctlError(f"{source}: no file of class {absent[0]!r} in the CSVs; is this PALM's {info.folder}?")
    return result
