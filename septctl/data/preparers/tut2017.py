"""TUT Acoustic Scenes 2017, development set (Zenodo 400515): audio/, meta.txt, evaluation_setup/.

meta.txt lines are `audio/<segment>.wav<TAB><scene><TAB><recording id>` (4680
10-s segments, 15 scenes spelled as PALM's: cafe/restaurant, city_center, ...).
evaluation_setup/fold{k}_train.txt and fold{k}_evaluate.txt (k = 1..4) list each
fold's files; the official folds keep a recording's segments on one side. Fold k's
evaluate list becomes csv_files/test_k.csv. (PALM's copy has test sizes 1170,
3507, 3507, 3510: its folds 2-4 look like train/test swapped; we keep the official
folds, about 1170 test segments each.)
"""

from __future__ import annotations

from pathlib import Path

from septctl.data.preparers.base import Plan
from septctl.data.schema import DatasetInfo, Release, Row, split_names
from septctl.errors import SeptctlError

DATASETS = (
    DatasetInfo("tut2017", "TUT2017", "acoustic scene classification",
                split_names("beach, bus, cafe/restaurant, car, city_center, forest_path, grocery_store, home, library, "
                       "metro_station, office, park, residential_area, train, tram"), 4, ("tut-2017",),
                release=Release("https://zenodo.org/record/400515",
                                "accept the TUT licence (academic, non-commercial), download TUT-acoustic-"
                                "scenes-2017-development.audio.1-10.zip and .meta.zip and unzip them in one place; "
                                "--source is TUT-acoustic-scenes-2017-development/",
                                gated=True),
                palm_test_sizes=(1170, 3507, 3507, 3510)),
)
FOLDS = DATASETS[0].folds


def _lines(path: Path) -> list[list[str]]:
    if not path.is_file():
        raise SeptctlError(f"{path}: not found; --source must be the unpacked TUT-acoustic-scenes-2017-development folder")
    text = path.read_text(encoding="utf-8", errors="replace")
    return [line.split("\t") if "\t" in line else line.split() for line in text.splitlines() if line.strip()]


def plan(source: Path, name: str = "tut2017") -> Plan:
    labels = {}
    for fields in _lines(source / "meta.txt"):
        if len(fields) < 2:
            raise SeptctlError(f"{source / 'meta.txt'}: line {fields!r} lacks a scene label; re-download the meta zip")
        labels[fields[0].strip()] = fields[1].strip()
    result = Plan(source_meta="meta.txt")
    for listed in sorted(labels):
        src = source / listed
        if not src.is_file():
            result.missing.append(listed)
            continue
        result.files[f"audios/{Path(listed).name}"] = src
    setup = source / "evaluation_setup"
    for k in range(1, FOLDS + 1):
        for split, listing in (("train", f"fold{k}_train.txt"), ("test", f"fold{k}_evaluate.txt")):
            listed = sorted({f[0].strip() for f in _lines(setup / listing)})
            unknown = [p for p in listed if p not in labels]
            if unknown:
                raise SeptctlError(f"{setup / listing}: lists {unknown[0]}, which meta.txt lacks; re-download the meta zip")
            rows = [Row(f"audios/{Path(p).name}", labels[p]) for p in listed]
            result.splits[f"csv_files/{split}_{k}.csv"] = [r for r in rows if r.path in result.files]
    return result
