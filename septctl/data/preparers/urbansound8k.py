"""UrbanSound8K (urbansounddataset.weebly.com; Zenodo 1203745): metadata/UrbanSound8K.csv + audio/foldN/.

The CSV lists 8732 slices with `slice_file_name`, `fold` (1-10) and `class`
(air_conditioner, car_horn, ...). The ten official folds are kept: fold k is the
test split and the other nine train. Class names get spaces for underscores, as in
PALM's copy ("air conditioner").
"""

from __future__ import annotations

import csv
from pathlib import Path

from septctl.data.layout import Row
from septctl.errors import SeptctlError

COLUMNS = {"slice_file_name", "fold", "class"}
FOLDS = 10


def plan(source: Path, name: str = "urbansound8k"):
    from septctl.data.preparers import Plan, cv_splits

    meta = source / "metadata" / "UrbanSound8K.csv"
    if not meta.is_file():
        raise SeptctlError(f"{meta}: not found; --source must be the unpacked UrbanSound8K folder")
    with open(meta, newline="", encoding="utf-8") as f:
        records = list(csv.DictReader(f))
    if not records or not COLUMNS <= set(records[0]):
        raise SeptctlError(f"{meta}: expected columns slice_file_name, fold, class; is this UrbanSound8K's metadata?")
    result = Plan(source_meta="metadata/UrbanSound8K.csv")
    labelled: list[tuple[Row, int]] = []
    for line, rec in enumerate(records, start=2):
        try:
            fold = int(rec["fold"])
        except ValueError:
            fold = 0
        if not 1 <= fold <= FOLDS:
            raise SeptctlError(f"{meta}:{line}: fold {rec['fold']!r} is not 1..{FOLDS}; re-download the metadata")
        listed = f"fold{fold}/{rec['slice_file_name']}"
        src = source / "audio" / listed
        if not src.is_file():
            result.missing.append(listed)
            continue
        rel = f"audios/{listed}"
        result.files[rel] = src
        labelled.append((Row(rel, rec["class"].replace("_", " ")), fold))
    result.splits = cv_splits(labelled, FOLDS)
    return result
