"""ESC-50 (release ESC-50-master): meta/esc50.csv lists 2000 clips in 5 folds.

Fold k is the test split and the other four train (csv_files/{train,test}_k.csv).
Class names get spaces for underscores, as in PALM's copy ("brushing teeth").
ESC50-Actions keeps the 10 human-action classes of the paper's Table 5.
"""

from __future__ import annotations

import csv
from pathlib import Path

from septctl.data.layout import Row
from septctl.data.registry import ESC50_ACTIONS
from septctl.errors import SeptctlError


def plan(source: Path, name: str = "esc50"):
    from septctl.data.preparers import Plan

    meta = source / "meta" / "esc50.csv"
    if not meta.is_file():
        raise SeptctlError(f"{meta}: not found; --source must be the ESC-50-master release folder")
    with open(meta, newline="", encoding="utf-8") as f:
        records = list(csv.DictReader(f))
    if not records or not {"filename", "fold", "category"} <= set(records[0]):
        raise SeptctlError(f"{meta}: expected columns filename, fold, category; is this ESC-50's metadata?")
    keep = set(ESC50_ACTIONS) if name == "esc50-actions" else None
    result = Plan(source_meta="meta/esc50.csv")
    labelled: list[tuple[Row, int]] = []
    for rec in records:
        label = rec["category"].replace("_", " ")
        if keep is not None and label not in keep:
            continue
        src = source / "audio" / rec["filename"]
        rel = f"audios/{rec['filename']}"
        if not src.is_file():
            result.missing.append(rec["filename"])
            continue
        result.files[rel] = src
        labelled.append((Row(rel, label), int(rec["fold"])))
    for k in sorted({fold for _, fold in labelled}):
        result.splits[f"csv_files/train_{k}.csv"] = [r for r, fold in labelled if fold != k]
        result.splits[f"csv_files/test_{k}.csv"] = [r for r, fold in labelled if fold == k]
    return result
