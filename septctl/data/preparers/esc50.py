"""ESC-50 (release ESC-50-master): meta/esc50.csv lists 2000 clips in 5 folds.

Fold k is the test split and the other four train (csv_files/{train,test}_k.csv).
Class names get spaces for underscores, as in PALM's copy ("brushing teeth").
ESC50-Actions keeps the 10 human-action classes of the paper's Table 5.
"""

from __future__ import annotations

from pathlib import Path

from septctl.data.preparers.base import Plan, cv_splits, parse_fold, read_metadata
from septctl.data.schema import DatasetInfo, Release, Row, split_names

_ESC50 = (
    "airplane, breathing, brushing teeth, can opening, car horn, cat, chainsaw, chirping birds, church bells, "
    "clapping, clock alarm, clock tick, coughing, cow, crackling fire, crickets, crow, crying baby, dog, "
    "door wood creaks, door wood knock, drinking sipping, engine, fireworks, footsteps, frog, glass breaking, "
    "hand saw, helicopter, hen, insects, keyboard typing, laughing, mouse click, pig, pouring water, rain, "
    "rooster, sea waves, sheep, siren, sneezing, snoring, thunderstorm, toilet flush, train, vacuum cleaner, "
    "washing machine, water drops, wind"
)
ESC50_ACTIONS = (
    "breathing", "brushing teeth", "clapping", "coughing", "crying baby",
    "drinking sipping", "footsteps", "laughing", "sneezing", "snoring",
)

DATASETS = (
    DatasetInfo("esc50", "ESC50", "sound event classification", split_names(_ESC50), 5, ("esc-50",),
                release=Release("https://github.com/karolpiczak/ESC-50",
                                "download the repository's master zip and unzip it; --source is ESC-50-master/"),
                palm_test_sizes=(400,) * 5),
    DatasetInfo("esc50-actions", "ESC50-Actions", "sound event classification", ESC50_ACTIONS, 5,
                ("esc50_actions", "esc50actions"),
                release=Release("https://github.com/karolpiczak/ESC-50",
                                "as esc50 (same release; the 10 action classes are selected when preparing)"),
                palm_test_sizes=(80,) * 5),
)
FOLDS = DATASETS[0].folds


def plan(source: Path, name: str = "esc50") -> Plan:
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
    result.splits = cv_splits(labelled, FOLDS, present_only=True)  # samples of the release hold fewer folds
    return result
