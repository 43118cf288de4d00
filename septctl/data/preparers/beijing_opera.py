"""Beijing Opera percussion (beijing_opera_percussion_instrument_1.0): a flat folder of Freesound clips.

Files are `<freesound id>__ajaysm__<class>-NN.wav`; the label is the word after
`__ajaysm__`. `_readme_and_license.txt` lists all 236 sounds of the pack, though
under their upload names (some without the `-NN` suffix), so clips are matched to
it by Freesound id to find missing ones.

The release has no folds; PALM's copy has 5. Ours: every listed or present clip,
sorted by (class, Freesound id), is dealt round-robin to folds 1..5. Each class is
spread evenly (stratified) and the 236 clips give test folds of 48, 47, 47, 47, 47
as in PALM's copy. The folds are fixed by the full list, so missing files do not
move the others.
"""

from __future__ import annotations

import re
from pathlib import Path

from septctl.data.preparers.base import Plan, cv_splits
from septctl.data.schema import DatasetInfo, Release, Row
from septctl.errors import SeptctlError

DATASETS = (
    DatasetInfo("beijing-opera", "Beijing-Opera", "instrument classification",
                ("bangu", "daluo", "naobo", "xiaoluo"), 5, ("beijing_opera", "beijingopera"),
                release=Release("https://zenodo.org/record/1285212",
                                "download beijing_opera_percussion_instrument_1.0.zip and unzip it; --source is the "
                                "folder of wav files and _readme_and_license.txt"),
                palm_test_sizes=(48, 47, 47, 47, 47)),
)
FOLDS = DATASETS[0].folds
README = "_readme_and_license.txt"
_NAME = re.compile(r"(\d+)__ajaysm__([a-z]+)(?:-\d+)?\.wav")


def _listed(readme: Path) -> dict[int, tuple[str, str]]:
    """Freesound id -> (file name as listed, class) for every sound the readme names."""
    listed = {}
    for line in readme.read_text(encoding="utf-8", errors="replace").splitlines():
        m = _NAME.fullmatch(line.strip().removeprefix("* ").strip())
        if m:
            listed[int(m.group(1))] = (m.group(0), m.group(2))
    return listed


def plan(source: Path, name: str = "beijing-opera") -> Plan:
    readme = source / README
    listed = _listed(readme) if readme.is_file() else {}
    present: dict[int, tuple[Path, str]] = {}
    for wav in sorted(source.glob("*.wav")):
        m = _NAME.fullmatch(wav.name)
        if m is None:
            raise SeptctlError(
                f"{wav}: not named <id>__ajaysm__<class>-NN.wav; remove it, or point --source at the Beijing Opera release"
            )
        present[int(m.group(1))] = (wav, m.group(2))
    if not present:
        raise SeptctlError(f"{source}: no <id>__ajaysm__<class>-NN.wav files; --source must be the unpacked release folder")
    classes = {sid: label for sid, (_, label) in listed.items()} | {sid: label for sid, (_, label) in present.items()}
    order = sorted(classes, key=lambda sid: (classes[sid], sid))
    result = Plan(source_meta=README if listed else "the *.wav files")
    labelled: list[tuple[Row, int]] = []
    for index, sid in enumerate(order):
        if sid not in present:
            result.missing.append(listed[sid][0])
            continue
        wav, label = present[sid]
        rel = f"audios/{wav.name}"
        result.files[rel] = wav
        labelled.append((Row(rel, label), index % FOLDS + 1))
    result.splits = cv_splits(labelled, FOLDS)
    return result
