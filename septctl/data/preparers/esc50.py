"""ESC-50 (release ESC-50-master): meta/esc50.csv lists 2000 clips in 5 folds.

Fold k is the test split and the other four train (csv_files/{train,test}_k.csv).
Class names get spaces for underscores, as in PALM's copy ("brushing teeth").
ESC50-Actions keeps the 10 human-action classes of the paper's Table 5.
"""

from __future__ import annotations

from pathlib import Path

from septctl.data.layout import Row
from septctl.data.registry import ESC50_ACTIONS

FOLDS = 5


def plan(source: Path, name: str = "esc50"):
    from septctl.data.preparers import Plan, parse_fold, read_metadata

    meta = source / "meta" / "esc50.csv"
    records = read_metadata(meta, ("filename", "fold", "category"), "ESC-50", "the ESC-50-master release folder")
    keep = set(ESC50_ACTIONS) if name == "esc50-actions" else None
    result = Plan(source_meta="meta/esc50.csv")
    labelled: list[tuple[Row, int]] = []
    for line, rec in enumerate(records, start=2):
        fold = parse_fold(rec["fold"], FOLDS, f"{meta}:{line}")
        label = rec["category"].replace("_", " ")
        if keep is not None and label not in keep:
            continue
        src = source / "audio" / rec["filename"]
        rel = f"audios/{rec['filename']}"
        if not src.is_file():
            result.missing.append(rec["filename"])
            continue
        result.files[rel] = src
        labelled.append((Row(rel, label), fold))
    for k in sorted({fold for _, fold in labelled}):  # only the folds present: samples of the release have fewer
        result.splits[f"csv_files/train_{k}.csv"] = [r for r, fold in labelled if fold != k]
        result.splits[f"csv_files/test_{k}.csv"] = [r for r, fold in labelled if fold == k]
    return result
