"""UrbanSound8K (urbansounddataset.weebly.com; Zenodo 1203745): metadata/UrbanSound8K.csv + audio/foldN/.

The CSV lists 8732 slices with `slice_file_name`, `fold` (1-10) and `class`
(air_conditioner, car_horn, ...). The ten official folds are kept: fold k is the
test split and the other nine train. Class names get spaces for underscores, as in
PALM's copy ("air conditioner").
"""

from __future__ import annotations

from pathlib import Path

from septctl.data.preparers.base import Plan, cv_splits, parse_fold, read_metadata
from septctl.data.schema import DatasetInfo, Release, Row, split_names

DATASETS = (
    DatasetInfo("urbansound8k", "UrbanSound8K", "sound event classification",
                split_names("air conditioner, car horn, children playing, dog bark, drilling, engine idling, gun shot, "
                       "jackhammer, siren, street music"), 10, ("us8k", "urbansound"),
                release=Release("https://urbansounddataset.weebly.com/urbansound8k.html",
                                "fill in the request form (CC BY-NC 3.0) or use the Zenodo record 1203745, then unpack "
                                "UrbanSound8K.tar.gz; --source is UrbanSound8K/",
                                gated=True),
                palm_test_sizes=(873, 888, 925, 990, 936, 823, 838, 806, 816, 837)),
)
FOLDS = DATASETS[0].folds


def plan(source: Path, name: str = "urbansound8k") -> Plan:
    meta = source / "metadata" / "UrbanSound8K.csv"
    records = read_metadata(meta, ("slice_file_name", "fold", "class"), "UrbanSound8K",
                            "the unpacked UrbanSound8K folder")
    result = Plan(source_meta="metadata/UrbanSound8K.csv")
    labelled: list[tuple[Row, int]] = []
    for line, rec in enumerate(records, start=2):
        fold = parse_fold(rec["fold"], FOLDS, f"{meta}:{line}")
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
