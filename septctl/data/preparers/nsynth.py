"""NSynth (magenta, json/wav release): nsynth-{train,valid,test}/examples.json + audio/<note_str>.wav.

examples.json maps each note_str to its attributes; the label is
`instrument_family_str`. The test split is nsynth-test (4096 notes, PALM's test
size). Training notes come from nsynth-train (289,205 notes) when it is there,
else from nsynth-valid (12,678), since a few-shot run only ever samples 16 per
class. `synth_lead` exists only in nsynth-train and is not one of the paper's 10
classes, so its notes are left out.
"""

from __future__ import annotations

import json
from pathlib import Path

from septctl.data.preparers.base import Plan
from septctl.data.schema import DatasetInfo, Release, Row, split_names
from septctl.errors import SeptctlError

DATASETS = (
    DatasetInfo("ns-instruments", "NS-Instruments", "instrument classification",
                split_names("bass, brass, flute, guitar, keyboard, mallet, organ, reed, string, vocal"), 1,
                ("nsynth", "ns_instruments"),
                release=Release("https://magenta.tensorflow.org/datasets/nsynth",
                                "download nsynth-test.jsonwav.tar.gz and nsynth-valid (or nsynth-train).jsonwav.tar.gz "
                                "and unpack them side by side; --source is the folder holding nsynth-test/"),
                palm_test_sizes=(4096,)),
)


LEFT_OUT = {"synth_lead"}


def _split(folder: Path, split: str, result) -> list[Row]:
    meta = folder / "examples.json"
    try:
        examples = json.loads(meta.read_text(encoding="utf-8"))
        labels = {note: ex["instrument_family_str"] for note, ex in examples.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise SeptctlError(
            f"{meta}: not NSynth's examples.json (note_str -> attributes with instrument_family_str); re-download it"
        ) from None
    rows = []
    for note in sorted(labels):
        if labels[note] in LEFT_OUT:
            continue
        src = folder / "audio" / f"{note}.wav"
        if not src.is_file():
            result.missing.append(f"{folder.name}/audio/{note}.wav")
            continue
        rel = f"audios/{split}/{note}.wav"
        result.files[rel] = src
        rows.append(Row(rel, labels[note]))
    return rows


def plan(source: Path, name: str = "ns-instruments") -> Plan:
    test = source / "nsynth-test"
    train = next((source / d for d in ("nsynth-train", "nsynth-valid") if (source / d / "examples.json").is_file()), None)
    if not (test / "examples.json").is_file() or train is None:
        raise SeptctlError(
            f"{source}: needs nsynth-test/examples.json and nsynth-train/ or nsynth-valid/ (unpacked "
            "nsynth-*.jsonwav.tar.gz); pass the folder holding them with --source"
        )
    result = Plan(source_meta=f"{train.name}/examples.json and nsynth-test/examples.json")
    result.splits = {"train.csv": _split(train, "train", result), "test.csv": _split(test, "test", result)}
    return result
