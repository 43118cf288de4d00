"""VocalSound (github.com/YuanGongND/vocalsound, vs_release_16k.zip): audio_16k/ + datafiles/{tr,val,te}.json.

Files are `<f|m><speaker>_<session>_<sound>.wav` (sound: cough, laughter, sigh,
sneeze, sniff, throatclearing); the label comes from the file name. The release's
speaker-independent split is kept: te.json is the test set (3594 clips; PALM's
copy has 3591), tr.json + val.json the training set. Each datafile is
{"data": [{"wav": <path>, "labels": ...}]}; only the wav's file name is used,
since the paths in it are the authors' own. The 44.1 kHz release (audio_44k/) is
used when audio_16k/ is absent.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from septctl.data.preparers.base import Plan
from septctl.data.schema import DatasetInfo, Release, Row
from septctl.errors import SeptctlError

DATASETS = (
    DatasetInfo("vocalsound", "VocalSound", "vocal sound classification",
                ("Cough", "Laughter", "Sigh", "Sneeze", "Sniff", "Throat clearing"), 1, ("vocal-sound",),
                release=Release("https://github.com/YuanGongND/vocalsound",
                                "download vs_release_16k.zip (link in the README; CC BY-SA 4.0) and unzip it; --source is"
                                " the folder with audio_16k/ and datafiles/"),
                palm_test_sizes=(3591,)),
)


SOUNDS = {"cough": "Cough", "laughter": "Laughter", "sigh": "Sigh", "sneeze": "Sneeze", "sniff": "Sniff",
          "throatclearing": "Throat clearing"}
_NAME = re.compile(r"[fm]\d+_\d+_([a-z]+)\.wav")


def _names(datafile: Path) -> list[str]:
    try:
        entries = json.loads(datafile.read_text(encoding="utf-8"))["data"]
        return [Path(e["wav"]).name for e in entries]
    except FileNotFoundError:
        raise SeptctlError(
            f"{datafile}: not found; --source must be the unpacked VocalSound release (with datafiles/)"
        ) from None
    except (ValueError, KeyError, TypeError):
        raise SeptctlError(f"{datafile}: not a VocalSound datafile ({{'data': [{{'wav': ...}}]}}); re-download") from None


def plan(source: Path, name: str = "vocalsound") -> Plan:
    audio = next((source / d for d in ("audio_16k", "audio_44k") if (source / d).is_dir()), None)
    if audio is None:
        raise SeptctlError(
            f"{source}: no audio_16k/ or audio_44k/ folder; pass the unpacked VocalSound release with --source"
        )
    result = Plan(source_meta="datafiles/{tr,val,te}.json")
    splits: dict[str, list[Row]] = {"train.csv": [], "test.csv": []}
    for split, datafile in (("train.csv", "tr.json"), ("train.csv", "val.json"), ("test.csv", "te.json")):
        listing = source / "datafiles" / datafile
        for wav in _names(listing):
            m = _NAME.fullmatch(wav)
            if m is None or m.group(1) not in SOUNDS:
                raise SeptctlError(f"{listing}: lists {wav}, not a VocalSound file name; re-download it")
            rel = f"audios/{wav}"
            if rel in result.files or wav in result.missing:
                raise SeptctlError(f"{listing}: {wav} is also in another datafile; re-download the release")
            if not (audio / wav).is_file():
                result.missing.append(wav)
                continue
            result.files[rel] = audio / wav
            splits[split].append(Row(rel, SOUNDS[m.group(1)]))
    result.splits = splits
    return result
