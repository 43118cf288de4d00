"""GTZAN (GT-Music-Genre): genres/<genre>/<genre>.000NN.{wav,au}, 100 clips x 10 genres.

The marsyas tarball ships `genres/` with .au files; the Kaggle mirror ships
`Data/genres_original/` with .wav. Either, or the folder holding the ten genre
folders, works as --source. There is no official split (PALM's test split has 200
clips); ours: tracks 00080-00099 of each genre are the test set (20 per genre, 200
in all). Consecutive track numbers often share an artist, so a contiguous block
leaks fewer artists across the split than a scattered one.
"""

from __future__ import annotations

import re
from pathlib import Path

from septctl.data.preparers.base import Plan
from septctl.data.schema import DatasetInfo, Release, Row, split_names
from septctl.errors import SeptctlError

DATASETS = (
    DatasetInfo("gt-music-genre", "GT-Music-Genre", "music genre classification",
                split_names("blues, classical, country, disco, hiphop, jazz, metal, pop, reggae, rock"), 1,
                ("gtzan", "gt_music_genre"),
                release=Release("http://marsyas.info/downloads/datasets.html",
                                "download genres.tar.gz (or the Kaggle mirror's Data/genres_original/); --source is the "
                                "folder holding the ten genre folders"),
                palm_test_sizes=(200,)),
)


GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
TEST_FROM = 80
_NAME = re.compile(r"([a-z]+)\.(\d{5})\.(wav|au)")


def _genre_root(source: Path) -> Path:
    for cand in (source, source / "genres", source / "genres_original", source / "Data" / "genres_original"):
        if all((cand / g).is_dir() for g in GENRES):
            return cand
    raise SeptctlError(
        f"{source}: no folder with the ten genre folders (blues/ ... rock/); pass the GTZAN genres/ "
        "(marsyas) or Data/genres_original/ (Kaggle) folder with --source"
    )


def plan(source: Path, name: str = "gt-music-genre") -> Plan:
    root = _genre_root(source)
    result = Plan(source_meta="the genre folders")
    train, test = [], []
    for genre in GENRES:
        for clip in sorted((root / genre).iterdir()):
            if clip.name.startswith(".") or clip.suffix not in (".wav", ".au"):
                continue
            m = _NAME.fullmatch(clip.name)
            if m is None or m.group(1) != genre:
                raise SeptctlError(f"{clip}: not named {genre}.000NN.wav; remove it from {root / genre}")
            rel = f"audios/{genre}/{clip.name}"
            result.files[rel] = clip
            (test if int(m.group(2)) >= TEST_FROM else train).append(Row(rel, genre))
    result.splits = {"train.csv": train, "test.csv": test}
    return result
