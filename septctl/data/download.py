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

from septctl.data.registry import DATASETS
from septctl.data.schema import DatasetInfo, Release
from septctl.errors import SeptctlError

# Derived from the declarations (septctl/data/preparers/*.py), never written here.
PALM_TEST_SIZES: dict[str, tuple[int, ...]] = {d.name: d.palm_test_sizes for d in DATASETS}
RELEASES: dict[str, Release] = {d.name: d.release for d in DATASETS if d.release is not None}


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
    from septctl.data.prepare import prepare

    if info.hf_repo is None:
        raise SeptctlError(f"{info.name}: PALM published no copy of this {info.modality} dataset; get the original "
                           f"release: `septctl data download {info.name} --source original`")
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
