"""Preparers on tiny fake releases in each release's own layout, on the real samples, and `data download`."""

from __future__ import annotations

import csv
import json
import sys
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from septctl.data.layout import DatasetFolder, read_csv
from septctl.data.prepare import make_plan, prepare
from septctl.data.registry import DATASETS, find_dataset
from septctl.errors import SeptctlError

from .conftest import needs_shared


def wav(path: Path, seconds: float = 0.05, sr: int = 8000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.sin(np.arange(int(seconds * sr)) * 0.3).astype("float32") * 0.1, sr)
    return path


def corrupt(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF\x00\x00not really a wav file")
    return path


def classes_of(root: Path, rel: str) -> set[str]:
    return {r.classname for r in read_csv(root / rel, root)}


def assert_cv_layout(root: Path, folds: int) -> None:
    """Every file in exactly one test fold; train_k is the complement of test_k."""
    ds = DatasetFolder(root)
    assert ds.folds == folds and ds.default_fold() == 1
    assert not (root / "train.csv").exists()
    everything = set(ds.all_files())
    tests = [{r.path for r in ds.rows("test", k)} for k in range(1, folds + 1)]
    assert sum(map(len, tests)) == len(everything) == len(set().union(*tests))
    for k, test in enumerate(tests, start=1):
        assert {r.path for r in ds.rows("train", k)} == everything - test


# --- Beijing Opera ------------------------------------------------------------------------------

def beijing_release(root: Path, counts: dict[str, int], absent: int = 0, broken: int = -1) -> Path:
    """The release: a flat folder of <id>__ajaysm__<class>-NN.wav plus the Freesound pack readme."""
    lines = ["Sound pack downloaded from Freesound", "", "Sounds in this pack", "-------------------", ""]
    sid = 205000
    for label, n in counts.items():
        for i in range(1, n + 1):
            sid += 1
            listed = f"{sid}__ajaysm__{label}.wav" if i == 1 else f"{sid}__ajaysm__{label}-{i:02d}.wav"
            lines += [f"  * {listed}", f"    * url: https://freesound.org/s/{sid}/", "    * license: Attribution"]
            on_disk = root / f"{sid}__ajaysm__{label}-{i:02d}.wav"  # files carry -NN even where the readme has none
            if sid == absent:
                continue
            (corrupt if sid == broken else wav)(on_disk)
    (root / "_readme_and_license.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_beijing_opera_folds_match_palm_sizes_and_are_stratified(tmp_path):
    counts = {"bangu": 59, "daluo": 50, "naobo": 62, "xiaoluo": 65}  # 236 clips, as released
    src = beijing_release(tmp_path / "beijing_opera_percussion_instrument_1.0", counts)
    out = tmp_path / "Beijing-Opera"
    plan = prepare("beijing-opera", src, out)
    assert not plan.missing and not plan.unreadable
    assert_cv_layout(out, 5)
    ds = DatasetFolder(out)
    assert [len(ds.rows("test", k)) for k in range(1, 6)] == [48, 47, 47, 47, 47]
    for label, n in counts.items():
        per_fold = [sum(r.classname == label for r in ds.rows("test", k)) for k in range(1, 6)]
        assert max(per_fold) - min(per_fold) <= 1 and sum(per_fold) == n


def test_beijing_opera_missing_and_corrupt(tmp_path):
    src = beijing_release(tmp_path / "rel", {"bangu": 6, "daluo": 5, "naobo": 5, "xiaoluo": 5},
                          absent=205003, broken=205010)
    plan = make_plan("beijing-opera", src)
    assert plan.missing == ["205003__ajaysm__bangu-03.wav"]
    assert plan.unreadable == ["audios/205010__ajaysm__daluo-04.wav"]
    with pytest.raises(SeptctlError, match="1 of 21 files listed by _readme_and_license.txt are missing"):
        prepare("beijing-opera", src, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    prepare("beijing-opera", src, tmp_path / "out", allow_missing=True)
    assert len(DatasetFolder(tmp_path / "out").all_files()) == 19
    # the folds come from the full list: a missing file does not move the others
    full = make_plan("beijing-opera", beijing_release(tmp_path / "full", {"bangu": 6, "daluo": 5, "naobo": 5,
                                                                           "xiaoluo": 5}))
    for k in range(1, 6):
        kept = {r.path for r in plan.splits[f"csv_files/test_{k}.csv"]}
        assert kept <= {r.path for r in full.splits[f"csv_files/test_{k}.csv"]}


def test_beijing_opera_rejects_foreign_file(tmp_path):
    src = beijing_release(tmp_path / "rel", {"bangu": 2, "daluo": 2, "naobo": 2, "xiaoluo": 2})
    wav(src / "notes.wav")
    with pytest.raises(SeptctlError, match="notes.wav: not named"):
        make_plan("beijing-opera", src)


def test_beijing_opera_real_sample(tmp_path):
    src = needs_shared("samples", "beijing_opera_percussion_instrument_1.0")
    plan = make_plan("beijing-opera", src)
    assert len(plan.files) == 20 and len(plan.missing) == 216 and not plan.unreadable
    with pytest.raises(SeptctlError, match="216 of 236 files"):
        prepare("beijing-opera", src, tmp_path / "bo")
    assert {r.classname for r in plan.splits["csv_files/train_1.csv"]} == {"bangu", "daluo", "naobo", "xiaoluo"}
    # the sample's 20 clips leave fold 2 of the full release's folds empty: said, not silently dropped
    assert plan.splits["csv_files/test_2.csv"] == []
    with pytest.raises(SeptctlError, match="nothing left for csv_files/test_2.csv"):
        prepare("beijing-opera", src, tmp_path / "bo", allow_missing=True, link=True)
    assert not (tmp_path / "bo").exists()


# --- CREMA-D ------------------------------------------------------------------------------------

def test_crema_d_split_by_actor(tmp_path):
    src = tmp_path / "CREMA-D"
    for actor in (1001, 1005, 1010, 1013):
        for emo in ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD"):
            wav(src / "AudioWAV" / f"{actor}_DFA_{emo}_XX.wav")
    corrupt(src / "AudioWAV" / "1013_IEO_SAD_HI.wav")
    plan = make_plan("crema-d", src)
    assert plan.unreadable == ["audios/1013_IEO_SAD_HI.wav"]
    prepare("crema-d", src, tmp_path / "out", allow_missing=True)
    root = tmp_path / "out"
    test = read_csv(root / "test.csv", root)
    assert {r.path.split("/")[1][:4] for r in test} == {"1005", "1010"}
    assert classes_of(root, "train.csv") == set(find_dataset("crema-d").classes)
    assert len(read_csv(root / "train.csv", root)) == 12
    assert ("audios/1001_DFA_NEU_XX.wav", "neutral") in {(r.path, r.classname) for r in read_csv(root / "train.csv", root)}


def test_crema_d_rejects_unknown_emotion(tmp_path):
    wav(tmp_path / "AudioWAV" / "1001_DFA_XXX_XX.wav")
    with pytest.raises(SeptctlError, match="1001_DFA_XXX_XX.wav"):
        make_plan("crema-d", tmp_path)


# --- GTZAN --------------------------------------------------------------------------------------

GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")


@pytest.mark.parametrize("layout", ["genres", "Data/genres_original"])
def test_gtzan_blocks_of_tracks(tmp_path, layout):
    src = tmp_path / "gtzan"
    for g in GENRES:
        for n in (0, 79, 80, 99):
            wav(src / layout / g / f"{g}.{n:05d}.wav")
    corrupt(src / layout / "jazz" / "jazz.00054.wav")  # the file known to be broken in common copies
    plan = make_plan("gt-music-genre", src)
    assert plan.unreadable == ["audios/jazz/jazz.00054.wav"]
    prepare("gt-music-genre", src, tmp_path / "out", allow_missing=True)
    test = read_csv(tmp_path / "out" / "test.csv", tmp_path / "out")
    assert len(test) == 20 and Counter(r.classname for r in test) == Counter({g: 2 for g in GENRES})
    assert all(int(r.path[-9:-4]) >= 80 for r in test)
    assert len(read_csv(tmp_path / "out" / "train.csv", tmp_path / "out")) == 20


def test_gtzan_needs_all_genre_folders(tmp_path):
    wav(tmp_path / "genres" / "blues" / "blues.00000.wav")
    with pytest.raises(SeptctlError, match="ten genre folders"):
        make_plan("gt-music-genre", tmp_path)


# --- NSynth -------------------------------------------------------------------------------------

FAMILIES = ("bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed", "string", "vocal")


def nsynth_split(root: Path, split: str, families, absent: str = "") -> None:
    examples = {}
    for i, fam in enumerate(families):
        note = f"{fam}_acoustic_{i:03d}-060-100"
        examples[note] = {"note_str": note, "instrument_family_str": fam, "pitch": 60}
        if note != absent:
            wav(root / f"nsynth-{split}" / "audio" / f"{note}.wav")
    (root / f"nsynth-{split}" / "examples.json").write_text(json.dumps(examples), encoding="utf-8")


def test_nsynth_valid_as_train_test_as_test(tmp_path):
    src = tmp_path / "nsynth"
    nsynth_split(src, "valid", FAMILIES)
    nsynth_split(src, "test", (*FAMILIES, "synth_lead"), absent="flute_acoustic_002-060-100")
    plan = make_plan("ns-instruments", src)
    assert plan.missing == ["nsynth-test/audio/flute_acoustic_002-060-100.wav"]
    assert plan.source_meta.startswith("nsynth-valid/")
    assert "synth_lead" not in {r.classname for r in plan.splits["test.csv"]}
    prepare("ns-instruments", src, tmp_path / "out", allow_missing=True)
    assert classes_of(tmp_path / "out", "train.csv") == set(find_dataset("ns-instruments").classes)
    assert len(read_csv(tmp_path / "out" / "test.csv", tmp_path / "out")) == 9
    nsynth_split(src, "train", FAMILIES)
    assert make_plan("ns-instruments", src).source_meta.startswith("nsynth-train/")


def test_nsynth_bad_examples_json(tmp_path):
    nsynth_split(tmp_path, "valid", FAMILIES)
    (tmp_path / "nsynth-test").mkdir()
    (tmp_path / "nsynth-test" / "examples.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(SeptctlError, match="instrument_family_str"):
        make_plan("ns-instruments", tmp_path)


# --- RAVDESS ------------------------------------------------------------------------------------

def test_ravdess_speech_and_song_split_by_actor(tmp_path):
    src = tmp_path / "ravdess"
    for actor in (1, 2, 5, 10):
        for emo in range(1, 9):
            wav(src / "Audio_Speech_Actors_01-24" / f"Actor_{actor:02d}" / f"03-01-{emo:02d}-01-01-01-{actor:02d}.wav")
        wav(src / "Audio_Song_Actors_01-24" / f"Actor_{actor:02d}" / f"03-02-03-02-01-02-{actor:02d}.wav")
    corrupt(src / "Audio_Speech_Actors_01-24" / "Actor_02" / "03-01-08-02-02-02-02.wav")
    plan = make_plan("ravdess", src)
    assert plan.unreadable == ["audios/Actor_02/03-01-08-02-02-02-02.wav"]
    prepare("ravdess", src, tmp_path / "out", allow_missing=True)
    root = tmp_path / "out"
    test = read_csv(root / "test.csv", root)
    assert {r.path.split("/")[1] for r in test} == {"Actor_05", "Actor_10"} and len(test) == 18
    assert classes_of(root, "train.csv") == set(find_dataset("ravdess").classes)
    labels = {r.path: r.classname for r in read_csv(root / "train.csv", root)}
    assert labels["audios/Actor_01/03-01-02-01-01-01-01.wav"] == "calm"
    assert labels["audios/Actor_01/03-02-03-02-01-02-01.wav"] == "happy"


def test_ravdess_actor_mismatch(tmp_path):
    wav(tmp_path / "Actor_01" / "03-01-01-01-01-01-02.wav")
    with pytest.raises(SeptctlError, match="Actor_NN folder"):
        make_plan("ravdess", tmp_path)


# --- TUT2017 ------------------------------------------------------------------------------------

SCENES = ("beach", "bus", "cafe/restaurant", "car", "city_center", "forest_path", "grocery_store", "home", "library",
          "metro_station", "office", "park", "residential_area", "train", "tram")


def tut_release(root: Path, absent: str = "", broken: str = "") -> list[tuple[str, str]]:
    meta = []
    for i, scene in enumerate(SCENES):
        for seg in range(4):  # one recording per fold and scene
            meta.append((f"audio/r{i:02d}{seg}_0_10.wav", scene, f"r{i:02d}{seg}"))
    for name, scene, _ in meta:
        if name == absent:
            continue
        (corrupt if name == broken else wav)(root / name)
    (root / "meta.txt").write_text("".join("\t".join(m) + "\n" for m in meta), encoding="utf-8")
    setup = root / "evaluation_setup"
    setup.mkdir()
    for k in range(1, 5):
        test = [m for m in meta if int(m[2][-1]) == k - 1]
        train = [m for m in meta if m not in test]
        (setup / f"fold{k}_train.txt").write_text("".join(f"{n}\t{s}\n" for n, s, _ in train), encoding="utf-8")
        (setup / f"fold{k}_evaluate.txt").write_text("".join(f"{n}\t{s}\n" for n, s, _ in test), encoding="utf-8")
        (setup / f"fold{k}_test.txt").write_text("".join(f"{n}\n" for n, _, _ in test), encoding="utf-8")
    return meta


def test_tut2017_official_folds(tmp_path):
    src = tmp_path / "TUT-acoustic-scenes-2017-development"
    tut_release(src, absent="audio/r031_0_10.wav", broken="audio/r052_0_10.wav")
    plan = make_plan("tut2017", src)
    assert plan.missing == ["audio/r031_0_10.wav"] and plan.unreadable == ["audios/r052_0_10.wav"]
    with pytest.raises(SeptctlError, match="listed by meta.txt are missing"):
        prepare("tut2017", src, tmp_path / "out")
    prepare("tut2017", src, tmp_path / "out", allow_missing=True)
    root = tmp_path / "out"
    assert_cv_layout(root, 4)
    assert classes_of(root, "csv_files/test_1.csv") == set(SCENES)
    assert {r.path for r in read_csv(root / "csv_files/test_3.csv", root)} == {
        f"audios/r{i:02d}2_0_10.wav" for i in range(15)} - {"audios/r052_0_10.wav"}


def test_tut2017_fold_lists_unknown_file(tmp_path):
    src = tmp_path / "tut"
    tut_release(src)
    with open(src / "evaluation_setup" / "fold2_train.txt", "a", encoding="utf-8") as f:
        f.write("audio/zzz.wav\tbeach\n")
    with pytest.raises(SeptctlError, match="zzz.wav, which meta.txt lacks"):
        make_plan("tut2017", src)


# --- UrbanSound8K -------------------------------------------------------------------------------

US8K = ("air_conditioner", "car_horn", "children_playing", "dog_bark", "drilling", "engine_idling", "gun_shot",
        "jackhammer", "siren", "street_music")


def us8k_release(root: Path, label_of=lambda i: US8K[i // 2]) -> Path:
    (root / "metadata").mkdir(parents=True)
    with open(root / "metadata" / "UrbanSound8K.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"])
        for i in range(20):
            fold, name = i % 10 + 1, f"{1000 + i}-{i % 10}-0-0.wav"
            w.writerow([name, 1000 + i, 0, 0.05, 1, fold, i // 2, label_of(i)])
            if i == 7:
                continue  # listed, not on disk
            (corrupt if i == 13 else wav)(root / "audio" / f"fold{fold}" / name)
    return root


def test_urbansound8k_ten_folds(tmp_path):
    src = us8k_release(tmp_path / "UrbanSound8K")
    plan = make_plan("urbansound8k", src)
    assert plan.missing == ["fold8/1007-7-0-0.wav"] and plan.unreadable == ["audios/fold4/1013-3-0-0.wav"]
    prepare("urbansound8k", src, tmp_path / "out", allow_missing=True)
    root = tmp_path / "out"
    assert_cv_layout(root, 10)
    assert classes_of(root, "csv_files/train_1.csv") == set(find_dataset("urbansound8k").classes)
    assert all(r.path.startswith("audios/fold1/") for r in read_csv(root / "csv_files/test_1.csv", root))


def test_class_outside_registry_is_refused(tmp_path):
    src = us8k_release(tmp_path / "UrbanSound8K", label_of=lambda i: "cat" if i == 3 else US8K[i // 2])
    with pytest.raises(SeptctlError, match="class 'cat' is not one of urbansound8k's classes"):
        make_plan("urbansound8k", src)


# --- VocalSound ---------------------------------------------------------------------------------

SOUNDS = ("cough", "laughter", "sigh", "sneeze", "sniff", "throatclearing")


def test_vocalsound_release_split(tmp_path):
    src = tmp_path / "vs_release_16k"
    datafiles = {"tr.json": ["f0003", "m0004"], "val.json": ["f0010"], "te.json": ["m0020", "f0021"]}
    (src / "datafiles").mkdir(parents=True)
    for name, speakers in datafiles.items():
        entries = [{"wav": f"/data/sls/vocalsound/audio_16k/{spk}_0_{s}.wav", "labels": "/m/vs_0000"}
                   for spk in speakers for s in SOUNDS]
        (src / "datafiles" / name).write_text(json.dumps({"data": entries}), encoding="utf-8")
        for e in entries:
            wav(src / "audio_16k" / Path(e["wav"]).name)
    (src / "audio_16k" / "m0020_0_sniff.wav").unlink()
    corrupt(src / "audio_16k" / "f0010_0_sigh.wav")
    plan = make_plan("vocalsound", src)
    assert plan.missing == ["m0020_0_sniff.wav"] and plan.unreadable == ["audios/f0010_0_sigh.wav"]
    prepare("vocalsound", src, tmp_path / "out", allow_missing=True)
    root = tmp_path / "out"
    assert len(read_csv(root / "train.csv", root)) == 17 and len(read_csv(root / "test.csv", root)) == 11
    assert classes_of(root, "train.csv") == {"Cough", "Laughter", "Sigh", "Sneeze", "Sniff", "Throat clearing"}


# --- the lead's preparers on the real data ------------------------------------------------------

def test_sesa_real(tmp_path):
    src = needs_shared("SESA")
    prepare("sesa", src, tmp_path / "SESA", link=True)
    ds = DatasetFolder(tmp_path / "SESA")
    train, test = ds.splits()
    assert (len(train), len(test)) == (480, 105)
    assert {r.classname for r in train} == {"casual", "explosion", "gunshot", "siren"}


def test_esc50_sample_reports_missing(tmp_path, run_cli):
    src = needs_shared("samples", "ESC-50-master")
    code, _, err = run_cli("data", "prepare", "esc50", "--source", src, "--out", tmp_path / "esc")
    assert code != 0 and "1980 of 2000" in " ".join(err.split())
    assert not (tmp_path / "esc").exists()
    code, _, err = run_cli("data", "prepare", "esc50", "--source", src, "--out", tmp_path / "esc", "--allow-missing")
    assert code == 0 and "skipped 1980 missing" in " ".join(err.split())


# --- PALM pass-through --------------------------------------------------------------------------

def palm_copy(root: Path, info_name: str, per_class: int = 2, extra_root_csvs: bool = True) -> Path:
    """A copy in PALM's layout: audios/, CSVs (multi-fold: csv_files/*_k.csv plus PALM's extra CSVs)."""
    info = find_dataset(info_name)
    rows = []
    for c in info.classes:
        for i in range(per_class * max(info.folds, 2)):
            rel = f"audios/{c.replace('/', '_')}_{i}.wav"
            wav(root / rel)
            rows.append((rel, c))

    def write(rel: str, subset) -> None:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        with open(root / rel, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["path", "classname"])
            w.writerows(subset)

    if info.folds == 1:
        write("train.csv", rows[::2])
        write("test.csv", rows[1::2])
        return root
    for k in range(1, info.folds + 1):
        write(f"csv_files/train_{k}.csv", [r for i, r in enumerate(rows) if i % info.folds != k - 1])
        write(f"csv_files/test_{k}.csv", [r for i, r in enumerate(rows) if i % info.folds == k - 1])
    if extra_root_csvs:
        write("train.csv", rows[:3])
        write("csv_files/train.csv", rows[:3])
    return root


def test_palm_multifold_keeps_only_fold_csvs(tmp_path):
    src = palm_copy(tmp_path / "hub" / "Beijing-Opera", "beijing-opera")
    plan = prepare("beijing-opera", src, tmp_path / "Beijing-Opera", link=True)
    assert plan.source_meta.startswith("PALM's CSVs")
    root = tmp_path / "Beijing-Opera"
    assert_cv_layout(root, 5)
    assert not (root / "csv_files" / "train.csv").exists()
    assert (root / "audios" / "bangu_0.wav").is_symlink()


def test_palm_single_fold_missing_file_and_bad_rows(tmp_path):
    src = palm_copy(tmp_path / "SESA", "sesa")
    (src / "audios" / "siren_1.wav").unlink()
    with pytest.raises(SeptctlError, match="1 of .* are missing"):
        prepare("sesa", src, tmp_path / "out")
    prepare("sesa", src, tmp_path / "out", allow_missing=True)
    assert len(read_csv(tmp_path / "out" / "test.csv", tmp_path / "out")) == 7
    with open(src / "test.csv", "a", encoding="utf-8") as f:
        f.write("/etc/passwd,siren\n")
    with pytest.raises(SeptctlError, match="path must be relative"):
        make_plan("sesa", src)


def test_palm_class_names_must_match_registry(tmp_path):
    src = palm_copy(tmp_path / "SESA", "sesa")
    text = (src / "train.csv").read_text(encoding="utf-8").replace(",gunshot", ",Gunshot")
    (src / "train.csv").write_text(text, encoding="utf-8")
    with pytest.raises(SeptctlError, match="class 'Gunshot' is not one of sesa's classes"):
        make_plan("sesa", src)


def test_palm_wrong_fold_count(tmp_path):
    src = palm_copy(tmp_path / "SESA", "sesa")  # a single-fold copy passed as a 5-fold dataset
    with pytest.raises(SeptctlError, match="csv_files/train_1.csv: not found; beijing-opera has 5 fold"):
        make_plan("beijing-opera", src)


# --- download -----------------------------------------------------------------------------------

def test_download_needs_huggingface_hub(tmp_path, monkeypatch):
    from septctl.data import download

    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails as if not installed
    with pytest.raises(SeptctlError, match="pip install huggingface_hub"):
        download.snapshot("MahiA/SESA", tmp_path)


def test_download_reports_hub_failure(tmp_path, monkeypatch):
    import huggingface_hub

    from septctl.data import download

    def offline(**kwargs):
        raise OSError("offline mode is enabled")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(SeptctlError, match="MahiA/SESA: download failed \\(offline mode is enabled\\)"):
        download.snapshot("MahiA/SESA", tmp_path)


def fake_hub(monkeypatch, build):
    """Replace the hub download with `build(local_dir)`; record what was asked for."""
    from septctl.data import download

    calls = []

    def snapshot(repo_id, local_dir):
        calls.append(repo_id)
        build(Path(local_dir))

    monkeypatch.setattr(download, "snapshot", snapshot)
    return calls


def test_download_palm_and_completeness(tmp_path, monkeypatch, run_cli):
    from septctl.data import download

    calls = fake_hub(monkeypatch, lambda d: palm_copy(d, "sesa"))
    monkeypatch.setitem(download.PALM_TEST_SIZES, "sesa", (8,))
    code, out, err = run_cli("data", "download", "sesa", "--out", tmp_path / "data")
    assert code == 0, err
    assert calls == ["MahiA/SESA"] and "ok test.csv: 8 files (PALM: 8)" in out
    assert DatasetFolder(tmp_path / "data" / "SESA").splits()[1]
    # a second call finds it prepared, downloads nothing, and checks it again
    monkeypatch.setitem(download.PALM_TEST_SIZES, "sesa", (105,))
    code, out, _ = run_cli("data", "download", "sesa", "--out", tmp_path / "data")
    assert code == 1 and calls == ["MahiA/SESA"] and "incomplete test.csv: 8 files (PALM: 105)" in out


def test_download_palm_zip_copy(tmp_path, monkeypatch):
    from septctl.data import download

    def build(d: Path) -> None:
        palm_copy(tmp_path / "staging" / "VocalSound", "vocalsound")
        d.mkdir(parents=True)
        with zipfile.ZipFile(d / "VocalSound.zip", "w") as zf:
            for f in (tmp_path / "staging").rglob("*"):
                if f.is_file():
                    zf.write(f, f.relative_to(tmp_path / "staging").as_posix())

    fake_hub(monkeypatch, build)
    dest = download.download_palm(find_dataset("vocalsound"), tmp_path / "data")
    counts = download.completeness(dest, find_dataset("vocalsound"))
    assert [(c.csv, c.rows, c.absent, c.expected) for c in counts] == [
        ("train.csv", 12, 0, None), ("test.csv", 12, 0, 3591)]
    assert not counts[1].ok and counts[0].ok


def test_completeness_counts_absent_files_and_csvs(tmp_path):
    from septctl.data import download

    root = palm_copy(tmp_path / "Beijing-Opera", "beijing-opera")
    (root / "audios" / "bangu_0.wav").unlink()
    (root / "csv_files" / "test_5.csv").unlink()
    counts = {c.csv: c for c in download.completeness(root, find_dataset("beijing-opera"))}
    assert counts["csv_files/test_1.csv"].absent == 1 and counts["csv_files/test_1.csv"].expected == 48
    assert counts["csv_files/test_5.csv"].rows == -1 and not counts["csv_files/test_5.csv"].ok
    assert counts["csv_files/train_2.csv"].absent == 1 and counts["csv_files/train_2.csv"].expected is None


def test_download_original_prints_directions(run_cli, monkeypatch):
    from septctl.data import download

    calls = fake_hub(monkeypatch, lambda d: None)
    code, out, _ = run_cli("data", "download", "tut2017", "--source", "original", "--out", "somewhere")
    text = " ".join(out.split())
    assert code == 0 and not calls
    assert "zenodo.org/record/400515" in text and "licence-gated" in text
    assert "septctl data prepare tut2017 --source RELEASE --out somewhere/TUT2017" in text
    assert set(download.RELEASES) == set(download.PALM_TEST_SIZES) == {d.name for d in DATASETS}
    code, _, err = run_cli("data", "download", "sesa", "--source", "kaggle")
    assert code == 2 and "'kaggle' is not one of 'palm', 'original'" in err
