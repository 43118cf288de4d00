"""A folder of sounds is a dataset: HF AudioFolder layouts through every command, on real SESA audio."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
import yaml

from tests.conftest import needs_shared

CLASSES = ("casual", "explosion", "gunshot", "siren")


def _sesa_files(per_class: int) -> dict[str, list]:
    test = needs_shared("SESA", "test")
    return {c: sorted(test.glob(f"{c}_*.wav"))[:per_class] for c in CLASSES}


def _class_tree(root, per_class=5):
    """ROOT/<class>/<file>: SESA clips copied into class folders."""
    for cls, files in _sesa_files(per_class).items():
        (root / cls).mkdir(parents=True)
        for f in files:
            shutil.copy(f, root / cls / f.name)
    return root


def _metadata_folder(root, per_class=5):
    """metadata.csv with file_name and label, files under clips/ (no class folders)."""
    (root / "clips").mkdir(parents=True)
    with open(root / "metadata.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(("file_name", "label"))
        for cls, files in _sesa_files(per_class).items():
            for src in files:
                shutil.copy(src, root / "clips" / src.name)
                w.writerow((f"clips/{src.name}", cls))
    return root


def _recorded_split(cache):
    (folder,) = (cache / "splits").iterdir()
    return {s: (folder / f"{s}.csv").read_text(encoding="utf-8") for s in ("train", "test")}


@pytest.mark.parametrize("layout", [_class_tree, _metadata_folder], ids=["class-folders", "metadata-csv"])
def test_whole_flow_on_a_folder_of_sounds(run_cli, tmp_path, monkeypatch, layout):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SEPTCTL_CACHE", str(cache))
    monkeypatch.chdir(tmp_path)
    data = layout(tmp_path / "words")
    before = sorted(p.relative_to(data) for p in data.rglob("*"))

    code, out, err = run_cli("data", "check", data)
    assert code == 0, err
    assert "20 files" in out and "base/new split: base = casual, explosion; new = gunshot, siren" in out
    assert "1 channel(s) in 20 file(s)" in out and "split (per-file hash: adding files moves no other; recorded)" in out
    import soundfile as sf

    seconds = [sf.info(str(p)).duration for p in data.rglob("*.wav")]
    short, long = sum(s < 3.5 for s in seconds), sum(s > 14 for s in seconds)
    assert short + long > 0 and f"{short} file(s) under 3.5 s will be repeated to fill it, {long} over 14 s" in out
    split = _recorded_split(cache)
    rows = list(csv.DictReader(split["test"].splitlines()))
    assert {r["classname"] for r in rows} == set(CLASSES)  # every class of 2+ files is tested
    assert not set(split["test"].splitlines()[1:]) & set(split["train"].splitlines()[1:])
    shutil.rmtree(cache / "splits")  # a function of each file's name: made again, identical
    assert run_cli("data", "check", data)[0] == 0 and _recorded_split(cache) == split

    assert run_cli("embed", data, "--backbone", "tiny", "-q")[0] == 0
    neighbors = tmp_path / "neighbors.yaml"  # written by hand: no bank knows these classes' neighbors
    neighbors.write_text(yaml.safe_dump({"neighbors": {"casual": ["people chatting", "footsteps"],
                                                       "explosion": ["blast", "detonation"]}}))
    code, _, err = run_cli("neighbors", data, "--llm", "builtin", "--out", tmp_path / "bank.yaml")
    assert code == 0, err  # the folder's base classes, read from its recorded training split
    assert set(yaml.safe_load((tmp_path / "bank.yaml").read_text())["neighbors"]) == {"casual", "explosion"}
    code, out, err = run_cli("neighbors", "stats", neighbors, "--dataset", data, "--backbone", "tiny", "--json")
    assert code == 0, err
    stats = json.loads(out)[0]
    assert stats["classes"] == 2 and stats["new_overlap"] == 0.0  # new classes (gunshot, siren) from the folder
    assert run_cli("prefixes", "--llm", "builtin", "--n", "3", "--out", tmp_path / "prefixes.yaml")[0] == 0
    code, _, err = run_cli("margins", "--neighbors", neighbors, "--prefixes", tmp_path / "prefixes.yaml",
                           "--backbone", "tiny", "--out", tmp_path / "margins.safetensors")
    assert code == 0, err
    runs = tmp_path / "runs"
    code, out, err = run_cli("eval", "--zeroshot", data, "--backbone", "tiny", "--classes", "base", "--out", runs / "zs")
    assert code == 0, err
    assert out.startswith("words/fold0/base (2-way, n=") and "): accuracy" in out  # dataset, fold and classes
    keys = yaml.safe_load((runs / "zs" / "metrics.yaml").read_text())["evaluations"]
    assert [k.split("@")[0] for k in keys] == ["words"] and next(iter(keys)).endswith("/fold0/base")
    assert run_cli("eval", "--zeroshot", data, "--backbone", "tiny", "--classes", "new", "--out", runs / "zs")[0] == 0
    for name, sept in (("coop", []), ("coop-sept", ["--sept", "--neighbors", neighbors,
                                                    "--margins", tmp_path / "margins.safetensors"])):
        code, _, err = run_cli("train", data, "--backbone", "tiny", "--epochs", "2", "--shots", "2",
                               *sept, "--out", runs / name, "-q", "--keep-diverged")  # tiny's loss may rise
        assert code == 0, err
        for classes in ("base", "new"):
            code, out, err = run_cli("eval", runs / name, "--classes", classes, "--json")
            assert code == 0, err
            assert json.loads(out)["classes"] == classes
    code, out, err = run_cli("report", runs, "--format", "json")
    assert code == 0, err
    assert {r["method"] for r in json.loads(out)["rows"]} >= {"coop", "zeroshot"}
    code, _, err = run_cli("plot", "heatmap", runs / "coop", runs / "coop-sept", "--neighbors", neighbors,
                           "--out", tmp_path / "fig" / "heat")
    assert code == 0, err
    assert (tmp_path / "fig" / "heat.png").is_file()
    grid = ["grid", "base2new", data, "--backbone", "tiny", "--methods", "coop", "--seeds", "0", "--epochs", "1",
            "--runs", tmp_path / "grid", "--sept-dir", tmp_path / "sept"]
    code, _, err = run_cli(*grid)
    assert code == 0, err
    code, out, _ = run_cli(*grid, "--status")
    assert code == 0 and {line.split()[0] for line in out.splitlines()} == {"done"}
    from septctl.runs import dataset_id

    label = f"words-{dataset_id(data)}"  # a folder dataset's grid folders carry its id: two `words` never mix
    assert (tmp_path / "grid" / label / "tiny" / "zeroshot" / "fold0" / "metrics.yaml").is_file()
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before  # the user's folder is never written


def test_train_and_test_folders_are_the_split(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    files = _sesa_files(3)
    for cls in ("casual", "siren"):
        for i, f in enumerate(files[cls]):
            split = "test" if i == 0 else "train"
            (tmp_path / "d" / split / cls).mkdir(parents=True, exist_ok=True)
            shutil.copy(f, tmp_path / "d" / split / cls / f.name)
    code, out, err = run_cli("data", "check", tmp_path / "d")
    assert code == 0, err
    split = _recorded_split(tmp_path / "cache")
    assert split["test"].count("test/") == 2 and split["train"].count("train/") == 4


def test_a_symlink_out_of_the_folder_is_refused(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    data = _class_tree(tmp_path / "words", per_class=2)
    outside = tmp_path / "elsewhere.wav"
    shutil.copy(next((data / "siren").iterdir()), outside)
    (data / "siren" / "link.wav").symlink_to(outside)
    code, _, err = run_cli("data", "check", data)
    assert code == 2 and "outside" in err and "link.wav" in err
    monkeypatch.setenv("SEPTCTL_ALLOW_OUTSIDE", "1")
    assert run_cli("data", "check", data)[0] == 0


def test_labels_differing_by_case_are_refused_naming_both(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    files = _sesa_files(2)
    for split, cls in (("train", "Rain"), ("train", "siren"), ("test", "rain"), ("test", "siren")):
        (tmp_path / "d" / split / cls).mkdir(parents=True)
        for f in files["siren"]:
            shutil.copy(f, tmp_path / "d" / split / cls / f"{split}-{cls}-{f.name}")
    code, _, err = run_cli("data", "check", tmp_path / "d")
    assert code == 2 and "'rain' vs 'Rain'" in err
