"""Bad datasets, CSVs, audio and releases: each refused in one line that names the file, nothing written."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


def _rewrite_csv(path: Path, edit) -> None:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(edit(rows))


def _first_train_file(data: Path) -> tuple[Path, str]:
    with open(data / "train.csv", newline="", encoding="utf-8") as f:
        rel = next(csv.DictReader(f))["path"]
    return data / rel, rel


# --- audio --------------------------------------------------------------------------------------

def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:30])  # cut inside the RIFF header


def _garbage(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())


def _zero_samples(path: Path) -> None:
    sf.write(path, np.zeros(0, dtype=np.float32), 16000, subtype="PCM_16")


def _zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


def _nan_samples(path: Path) -> None:
    x = np.zeros(8000, dtype=np.float32)
    x[100] = np.nan
    sf.write(path, x, 16000, subtype="FLOAT")


@pytest.mark.parametrize(
    "damage, fix",
    [(_truncate, "re-download"), (_garbage, "re-download"), (_zero_samples, "remove it"), (_zero_bytes, "re-download"),
     (_nan_samples, "re-encode")],
    ids=["truncated", "not-audio", "zero-length-clip", "zero-byte-file", "nan-samples"],
)
def test_bad_audio_is_refused_by_embed(world, tmp_path, refused, damage, fix):
    data = world.copy_data(tmp_path / "ds")
    wav, rel = _first_train_file(data)
    damage(wav)
    refused(["embed", "--backbone", "tiny", data], rel, fix=fix)


# --- split CSVs ---------------------------------------------------------------------------------

def _drop_classname_column(rows):
    return [[r[0]] for r in rows]


def _name_missing_file(rows):
    return [rows[0], ["audios/not_there.wav", rows[1][1]], *rows[2:]]


def _empty_classname(rows):
    return [rows[0], [rows[1][0], "  "], *rows[2:]]


def _duplicate_row(rows):
    return [*rows, rows[1]]


def _header_only(rows):
    return rows[:1]


@pytest.mark.parametrize(
    "edit, detail",
    [(_drop_classname_column, "missing column(s) classname"), (_name_missing_file, "not_there.wav"),
     (_empty_classname, "empty path or classname"), (_duplicate_row, "listed twice"), (_header_only, "no rows")],
    ids=["missing-column", "missing-file", "empty-classname", "duplicate-row", "no-rows"],
)
def test_bad_csv_is_refused(world, tmp_path, refused, edit, detail):
    data = world.copy_data(tmp_path / "ds")
    _rewrite_csv(data / "train.csv", edit)
    refused(["embed", "--backbone", "tiny", data], "train.csv", detail)


def test_non_utf8_csv_is_refused(world, tmp_path, refused):
    data = world.copy_data(tmp_path / "ds")
    text = (data / "test.csv").read_text(encoding="utf-8").replace("siren", "sirène")
    assert "sirène" in text
    (data / "test.csv").write_bytes(text.encode("latin-1"))
    refused(["embed", "--backbone", "tiny", data], "test.csv", fix="UTF-8")


def test_test_class_missing_from_train_is_refused(world, tmp_path, refused):
    data = world.copy_data(tmp_path / "ds")
    dropped = "siren"
    _rewrite_csv(data / "train.csv", lambda rows: [r for r in rows if r[1] != dropped])
    assert dropped in (data / "test.csv").read_text()
    refused(["train", "--backbone", "tiny", data, "--epochs", "1", "--shots", "1", "--out", tmp_path / "run", "-q"], "test.csv",
            f"'{dropped}'")


# --- dataset names and roots ----------------------------------------------------------------------

def test_unknown_dataset_name_is_refused(refused):
    refused(["embed", "--backbone", "tiny", "no-such-dataset"], "no-such-dataset", fix="septctl data list")


def test_registered_dataset_not_prepared_is_refused(tmp_path, refused):
    refused(["embed", "--backbone", "tiny", "esc50", "--data-root", tmp_path / "empty-root"], "empty-root", fix="septctl data prepare")


def test_missing_fold_is_refused(world, refused):
    refused(["eval", world.run, "--fold", "3"], "_3.csv", "fold 3", fix="no folds")


# --- releases (data prepare) ----------------------------------------------------------------------

def _esc50_release(root: Path, listed_but_absent: int = 0) -> Path:
    """A two-class, two-fold stand-in for ESC-50-master: meta/esc50.csv and audio/*.wav."""
    (root / "audio").mkdir(parents=True)
    (root / "meta").mkdir()
    rows = []
    for i, cat in enumerate(["dog", "dog", "rain", "rain"]):
        name = f"{i % 2 + 1}-{i}-A-0.wav"
        rows.append([name, str(i % 2 + 1), cat])
        sf.write(root / "audio" / name, np.sin(np.arange(4000) / 5).astype(np.float32), 16000)
    for j in range(listed_but_absent):
        rows.append([f"1-9{j}-A-0.wav", "1", "dog"])
    with open(root / "meta" / "esc50.csv", "w", newline="") as f:
        csv.writer(f).writerows([["filename", "fold", "category"], *rows])
    return root


def test_release_with_missing_files_needs_allow_missing(tmp_path, refused):
    src = _esc50_release(tmp_path / "ESC-50-master", listed_but_absent=1)
    refused(["data", "prepare", "esc50", "--source", src, "--out", tmp_path / "prepared"], "ESC-50-master",
            "1-90-A-0.wav", fix="--allow-missing")
    assert not (tmp_path / "prepared").exists()


def test_release_with_unreadable_file_is_refused(tmp_path, refused):
    src = _esc50_release(tmp_path / "ESC-50-master")
    _garbage(src / "audio" / "1-0-A-0.wav")
    refused(["data", "prepare", "esc50", "--source", src, "--out", tmp_path / "prepared"], "1-0-A-0.wav", "unreadable")


def test_release_metadata_without_columns_is_refused(tmp_path, refused):
    src = _esc50_release(tmp_path / "ESC-50-master")
    (src / "meta" / "esc50.csv").write_text("file,label\na.wav,dog\n")
    refused(["data", "prepare", "esc50", "--source", src, "--out", tmp_path / "prepared"], "esc50.csv", "category")


def test_release_metadata_with_a_stray_fold_is_refused(tmp_path, refused):
    src = _esc50_release(tmp_path / "ESC-50-master")
    meta = src / "meta" / "esc50.csv"
    meta.write_text(meta.read_text().replace(",2,rain", ",x,rain", 1))
    refused(["data", "prepare", "esc50", "--source", src, "--out", tmp_path / "prepared"], "esc50.csv:", "'x'",
            fix="re-download the metadata")
    assert not (tmp_path / "prepared").exists()


def test_prepare_into_existing_out_is_refused(tmp_path, refused):
    src = _esc50_release(tmp_path / "ESC-50-master")
    (tmp_path / "prepared").mkdir()
    (tmp_path / "prepared" / "keep.txt").write_text("mine")
    refused(["data", "prepare", "esc50", "--source", src, "--out", tmp_path / "prepared"], "prepared",
            fix="choose another --out")
    assert (tmp_path / "prepared" / "keep.txt").read_text() == "mine"


def test_prepare_unknown_dataset_is_refused(tmp_path, refused):
    refused(["data", "prepare", "esc-5O", "--source", tmp_path, "--out", tmp_path / "x"], "esc-5O", fix="data list")


def test_synth_into_existing_out_is_refused(world, refused):
    refused(["data", "synth", "--out", world.data], str(world.data), fix="choose another --out")
