"""CREMA-D (github.com/CheyneyComputerScience/CREMA-D): AudioWAV/<actor>_<sentence>_<EMO>_<level>.wav.

91 actors (1001-1091) and 7442 clips; the emotion code is the third field. The
release has no train/test split (PALM used a random 80/20 one, 1489 test clips,
that cannot be recovered). Ours is speaker-independent and deterministic: actors
whose id is a multiple of 5 (1005, 1010, ..., 1090: 18 of 91) are the test set.
"""

from __future__ import annotations

import re
from pathlib import Path

from septctl.data.preparers.base import Plan
from septctl.data.schema import DatasetInfo, Release, Row
from septctl.errors import SeptctlError

DATASETS = (
    DatasetInfo("crema-d", "CREMA-D", "emotion recognition",
                ("anger", "disgust", "fear", "happy", "neutral", "sad"), 1, ("cremad", "crema_d"),
                release=Release("https://github.com/CheyneyComputerScience/CREMA-D",
                                "clone the repository with git-lfs (the audio is in LFS; Open Database License); --source"
                                " is the checkout (with AudioWAV/)",
                                gated=True),
                palm_test_sizes=(1489,)),
)


EMOTIONS = {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
_NAME = re.compile(r"(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})\.wav")


def is_test_actor(actor: int) -> bool:
    return actor % 5 == 0


def plan(source: Path, name: str = "crema-d") -> Plan:
    folder = source / "AudioWAV" if (source / "AudioWAV").is_dir() else source
    wavs = sorted(p for p in folder.glob("*.wav") if not p.name.startswith("._"))
    if not wavs:
        raise SeptctlError(
            f"{folder}: no wav files; --source must be the CREMA-D checkout (with AudioWAV/) or AudioWAV itself"
        )
    result = Plan(source_meta="AudioWAV/")
    train, test = [], []
    for wav in wavs:
        m = _NAME.fullmatch(wav.name)
        if m is None or m.group(3) not in EMOTIONS:
            raise SeptctlError(
                f"{wav}: not named <actor>_<sentence>_<ANG|DIS|FEA|HAP|NEU|SAD>_<level>.wav; remove it from {folder}"
            )
        rel = f"audios/{wav.name}"
        result.files[rel] = wav
        (test if is_test_actor(int(m.group(1))) else train).append(Row(rel, EMOTIONS[m.group(3)]))
    result.splits = {"train.csv": train, "test.csv": test}
    return result
