"""RAVDESS (Zenodo 1188976): Actor_NN/MM-VV-EE-II-SS-RR-AA.wav from the audio-only zips.

Fields: modality (03 = audio-only), vocal channel (01 speech, 02 song), emotion
(01-08), intensity, statement, repetition, actor (01-24, odd = male). Speech
(1440 clips) and song (1012) may both be unpacked under --source; every
Actor_NN folder below it is read. PALM's test size (491 = 20% of 2452) says it
used both, split at random. Ours is speaker-independent and deterministic: actors
05, 10, 15 and 20 (two male, two female) are the test set.
"""

from __future__ import annotations

import re
from pathlib import Path

from septctl.data.preparers.base import Plan
from septctl.data.schema import DatasetInfo, Release, Row, split_names
from septctl.errors import SeptctlError

DATASETS = (
    DatasetInfo("ravdess", "RAVDESS", "emotion recognition",
                split_names("angry, calm, disgust, fearful, happy, neutral, sad, surprised"), 1,
                release=Release("https://zenodo.org/record/1188976",
                                "download Audio_Speech_Actors_01-24.zip and Audio_Song_Actors_01-24.zip (CC BY-NC-SA 4.0)"
                                " and unzip them under one folder; --source is that folder"),
                palm_test_sizes=(491,)),
)


EMOTIONS = {1: "neutral", 2: "calm", 3: "happy", 4: "sad", 5: "angry", 6: "fearful", 7: "disgust", 8: "surprised"}
TEST_ACTORS = {5, 10, 15, 20}
_NAME = re.compile(r"03-0[12]-(0[1-8])-0[12]-0[12]-0[12]-(\d\d)\.wav")


def plan(source: Path, name: str = "ravdess") -> Plan:
    found = source.rglob("Actor_*/*.wav")
    wavs = sorted(p for p in found if "__MACOSX" not in p.parts and not p.name.startswith("._"))
    if not wavs:
        raise SeptctlError(f"{source}: no Actor_NN/*.wav files; pass the unpacked Audio_Speech (and Song) zips")
    result = Plan(source_meta="the Actor_NN folders")
    train, test = [], []
    for wav in wavs:
        m = _NAME.fullmatch(wav.name)
        if m is None or f"Actor_{m.group(2)}" != wav.parent.name:
            raise SeptctlError(
                f"{wav}: not an audio-only RAVDESS name 03-VV-EE-II-SS-RR-AA.wav matching its Actor_NN folder; remove it"
            )
        rel = f"audios/{wav.parent.name}/{wav.name}"
        if rel in result.files:
            raise SeptctlError(f"{wav}: also found at {result.files[rel]}; keep one copy of the release under --source")
        result.files[rel] = wav
        row = Row(rel, EMOTIONS[int(m.group(1))])
        (test if int(m.group(2)) in TEST_ACTORS else train).append(row)
    result.splits = {"train.csv": train, "test.csv": test}
    return result
