"""A dataset declared as septctl's release modules declare theirs: DATASETS and plan(source, name)."""

from pathlib import Path

from septctl.data.preparers.base import Plan
from septctl.data.schema import DatasetInfo, Release, Row

DATASETS = (
    DatasetInfo("toy-tones", "ToyTones", "toy tone classification", ("beep", "boop", "buzz", "hum"), 1,
                release=Release("https://example.org/toy-tones", "unzip it; --source is the folder of class folders")),
)


def plan(source: Path, name: str = "toy-tones") -> Plan:
    """The first two files of each class folder train, the rest test."""
    result = Plan(source_meta="class folders")
    for split in ("train", "test"):
        result.splits[f"{split}.csv"] = []
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        for i, wav in enumerate(sorted(folder.glob("*.wav"))):
            rel = f"audios/{folder.name}/{wav.name}"
            result.files[rel] = wav
            result.splits["train.csv" if i < 2 else "test.csv"].append(Row(rel, folder.name))
    return result
