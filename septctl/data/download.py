"""Fetching datasets: PALM's copies from the HF hub, or directions to the original releases.

PALM's copy is downloaded as published into <out>/palm-hub/<Folder> and passed
through the `palm` preparer into <out>/<Folder> with symlinks, so the prepared
folder has exactly one CSV per split and fold. The original releases are behind
licence pages or large archives, so for them we print where to get them and the
`septctl data prepare` line to run afterwards. Either way the result is checked
against the split sizes of PALM's copies (palm-pengi notes, section 4).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from septctl.data.registry import DatasetInfo
from septctl.errors import SeptctlError

# Test-split sizes of PALM's copies, per fold (palm-pengi notes, section 4, from PALM's logs).
PALM_TEST_SIZES: dict[str, tuple[int, ...]] = {
    "beijing-opera": (48, 47, 47, 47, 47),
    "crema-d": (1489,),
    "esc50": (400,) * 5,
    "esc50-actions": (80,) * 5,
    "gt-music-genre": (200,),
    "ns-instruments": (4096,),
    "ravdess": (491,),
    "sesa": (105,),
    "tut2017": (1170, 3507, 3507, 3510),
    "urbansound8k": (873, 888, 925, 990, 936, 823, 838, 806, 816, 837),
    "vocalsound": (3591,),
}


@dataclass(frozen=True)
class Release:
    url: str
    steps: str  # what to fetch and unpack, and what --source is
    gated: bool = False  # a licence must be accepted or a form filled in by hand


RELEASES: dict[str, Release] = {
    "beijing-opera": Release("https://zenodo.org/record/1285212",
                             "download beijing_opera_percussion_instrument_1.0.zip and unzip it; --source is the "
                             "folder of wav files and _readme_and_license.txt"),
    "crema-d": Release("https://github.com/CheyneyComputerScience/CREMA-D",
                       "clone the repository with git-lfs (the audio is in LFS; Open Database License); "
                       "--source is the checkout (with AudioWAV/)", gated=True),
    "esc50": Release("https://github.com/karolpiczak/ESC-50",
                     "download the repository's master zip and unzip it; --source is ESC-50-master/"),
    "esc50-actions": Release("https://github.com/karolpiczak/ESC-50",
                             "as esc50 (same release; the 10 action classes are selected when preparing)"),
    "gt-music-genre": Release("http://marsyas.info/downloads/datasets.html",
                              "download genres.tar.gz (or the Kaggle mirror's Data/genres_original/); --source is "
                              "the folder holding the ten genre folders"),
    "ns-instruments": Release("https://magenta.tensorflow.org/datasets/nsynth",
                              "download nsynth-test.jsonwav.tar.gz and nsynth-valid (or nsynth-train).jsonwav.tar.gz "
                              "and unpack them side by side; --source is the folder holding nsynth-test/"),
    "ravdess": Release("https://zenodo.org/record/1188976",
                       "download Audio_Speech_Actors_01-24.zip and Audio_Song_Actors_01-24.zip (CC BY-NC-SA 4.0) "
                       "and unzip them under one folder; --source is that folder"),
    "sesa": Release("https://zenodo.org/record/3519845",
                    "download the SESA zip and unzip it; --source is the folder with train/ and test/"),
    "tut2017": Release("https://zenodo.org/record/400515",
                       "accept the TUT licence (academic, non-commercial), download "
                       "TUT-acoustic-scenes-2017-development.audio.1-10.zip and .meta.zip and unzip them in one "
                       "place; --source is TUT-acoustic-scenes-2017-development/", gated=True),
    "urbansound8k": Release("https://urbansounddataset.weebly.com/urbansound8k.html",
                            "fill in the request form (CC BY-NC 3.0) or use the Zenodo record 1203745, then "
                            "unpack UrbanSound8K.tar.gz; --source is UrbanSound8K/", gated=True),
    "vocalsound": Release("https://github.com/YuanGongND/vocalsound",
                          "download vs_release_16k.zip (link in the README; CC BY-SA 4.0) and unzip it; --source "
                          "is the folder with audio_16k/ and datafiles/"),
}


@dataclass(frozen=True)
class SplitCount:
    csv: str  # relative to the dataset folder
    rows: int  # files listed (-1: the CSV is absent)
    absent: int  # listed files not on disk
    expected: int | None  # PALM's size, where known

    @property
    def ok(self) -> bool:
        return self.rows >= 0 and self.absent == 0 and self.expected in (None, self.rows)


def completeness(root: Path, info: DatasetInfo) -> list[SplitCount]:
    """Count each split's files against PALM's sizes; never raises for absent files or CSVs."""
    from septctl.data.preparers.palm import read_rows, split_csvs

    sizes = PALM_TEST_SIZES.get(info.name, ())
    counts = []
    for index, rel in enumerate(split_csvs(info.folds)):
        fold = index // 2
        expected = sizes[fold] if rel.rsplit("/", 1)[-1].startswith("test") and fold < len(sizes) else None
        path = root / rel
        if not path.is_file():
            counts.append(SplitCount(rel, -1, 0, expected))
            continue
        rows = read_rows(path)
        counts.append(SplitCount(rel, len(rows), sum(not (root / r.path).is_file() for r in rows), expected))
    return counts


def _layout_root(folder: Path) -> Path | None:
    """The folder holding PALM's CSVs: `folder` itself or one up to two levels below it."""
    from septctl.data.preparers.palm import is_palm_copy

    for cand in (folder, *sorted(folder.glob("*/")), *sorted(folder.glob("*/*/"))):
        if cand.is_dir() and is_palm_copy(cand):
            return cand
    return None


def _unzip(folder: Path) -> None:
    """NS-Instruments and VocalSound are published as one zip; unpack it beside itself, refusing unsafe paths."""
    for archive in sorted(folder.glob("*.zip")):
        target = folder / archive.stem
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                dest = (target / member).resolve()
                if not dest.is_relative_to(target.resolve()):
                    raise SeptctlError(f"{archive}: member {member!r} would unpack outside {target}; delete the archive")
            zf.extractall(target)


def snapshot(repo_id: str, local_dir: Path) -> None:
    """Download a HF dataset repo (huggingface_hub is optional, so imported here)."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise SeptctlError(
            "downloading PALM's copies needs huggingface_hub; run `pip install huggingface_hub` and retry"
        ) from None
    try:
        snapshot_download(repo_id=repo_id, repo_type="dataset", local_dir=str(local_dir))
    except Exception as exc:  # network, auth and hub errors have many types
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SeptctlError(f"{repo_id}: download failed ({first}); check the network and retry (it resumes)") from None


def download_palm(info: DatasetInfo, out: Path) -> Path:
    """Fetch PALM's copy into out/palm-hub/<Folder> and prepare out/<Folder> from it (symlinks)."""
    from septctl.data.preparers import prepare

    raw = out / "palm-hub" / info.folder
    dest = out / info.folder
    if dest.exists():
        return dest
    snapshot(info.hf_repo, raw)
    root = _layout_root(raw)
    if root is None:
        _unzip(raw)
        root = _layout_root(raw)
    if root is None:
        raise SeptctlError(f"{raw}: no train.csv or csv_files/ in {info.hf_repo}; the copy's layout changed - report it")
    prepare(info.name, root, dest, link=True)
    return dest
