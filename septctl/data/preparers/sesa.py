"""SESA (Zenodo 3519845): train/*.wav and test/*.wav; the label is the file-name prefix."""

from __future__ import annotations

from pathlib import Path

from septctl.data.preparers.base import Plan
from septctl.data.schema import DatasetInfo, Release, Row
from septctl.errors import SeptctlError

DATASETS = (
    DatasetInfo("sesa", "SESA", "surveillance sound classification",
                ("casual", "explosion", "gunshot", "siren"), 1,
                release=Release("https://zenodo.org/record/3519845",
                                "download the SESA zip and unzip it; --source is the folder with train/ and test/"),
                palm_test_sizes=(105,)),
)


def plan(source: Path, name: str = "sesa") -> Plan:
    result = Plan(source_meta="train/ and test/")
    for split in ("train", "test"):
        folder = source / split
        if not folder.is_dir():
            raise SeptctlError(f"{folder}: not found; --source must be the SESA release folder with train/ and test/")
        rows = []
        for wav in sorted(folder.glob("*.wav")):
            label = wav.stem.rsplit("_", 1)[0]
            rel = f"audios/{split}/{wav.name}"
            result.files[rel] = wav
            rows.append(Row(rel, label))
        result.splits[f"{split}.csv"] = rows
    return result
