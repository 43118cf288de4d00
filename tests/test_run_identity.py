"""Run identity is content, not spelling; results are never overwritten; a folder dataset's split moves no file.

Issue 28 items 1-5 and issue 33 item 1: one run per experiment whatever the path's spelling, two
runs for two datasets whose folders share a name, evaluations keyed by dataset identity, runs
scored on the dataset they were trained on (and refused when it changed), and `eval` of many runs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.faults.conftest import snapshot

TRAIN = ["--backbone", "tiny", "--epochs", "1", "--shots", "1", "-q"]


def _one_line_refusal(result: tuple[int, str, str], *names: str) -> str:
    code, _, err = result
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and all(n in lines[0] for n in names), lines[0]
    return lines[0]


def _run_folders(root: Path) -> list[Path]:
    return sorted(p.parent.relative_to(root) for p in root.rglob("run.yaml"))


def test_four_spellings_of_one_dataset_are_one_run(run_cli, synth_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    shutil.copytree(synth_dataset, tmp_path / "words")
    monkeypatch.chdir(tmp_path)
    for i, spelling in enumerate(("words/", "words", "./words/")):
        code, _, err = run_cli("train", spelling, *TRAIN)
        assert code == 0 and ("already complete" in err) == (i > 0), err
    (folder,) = _run_folders(tmp_path / "runs")  # one folder for three spellings
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    code, _, err = run_cli("train", "../words", *TRAIN)
    assert code == 0, err
    assert _run_folders(tmp_path / "elsewhere" / "runs") == [folder]  # the same name from another folder
    cards = [yaml.safe_load((root / folder / "run.yaml").read_text()) for root in (tmp_path / "runs",
                                                                                   tmp_path / "elsewhere" / "runs")]
    assert cards[0]["config_sha256"] == cards[1]["config_sha256"]
    assert cards[0]["config"]["dataset"] == str((tmp_path / "words").resolve())
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("train", "elsewhere/../words/", *TRAIN[:-1])
    assert code == 0 and "already complete" in err, err


def test_two_datasets_with_one_folder_name_are_two_runs_and_two_entries(run_cli, synth_dataset, tmp_path,
                                                                        monkeypatch):
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    a, b = (shutil.copytree(synth_dataset, tmp_path / side / "ds") for side in ("a", "b"))
    for ds in (a, b):
        assert run_cli("train", ds, *TRAIN)[0] == 0
    folders = _run_folders(tmp_path / "runs")
    assert len(folders) == 2 and folders[0].parts[0] == folders[1].parts[0] == "ds"
    run = next(tmp_path / "runs" / f for f in folders
               if yaml.safe_load((tmp_path / "runs" / f / "run.yaml").read_text())["dataset_path"] == str(a))
    assert run_cli("eval", run, "--classes", "new")[0] == 0
    assert run_cli("eval", run, "--classes", "new", "--dataset", b)[0] == 0  # the other `ds`: its own entry
    entries = yaml.safe_load((run / "metrics.yaml").read_text())["evaluations"]
    assert len(entries) == 2 and {e["dataset_path"] for e in entries.values()} == {str(a), str(b)}


def test_grid_plans_two_datasets_with_one_folder_name_apart(synth_dataset, tmp_path):
    from septctl.grid.plan import Knobs, plan

    a, b = (shutil.copytree(synth_dataset, tmp_path / side / "ds") for side in ("a", "b"))
    jobs = plan("base2new", Knobs(backbone="tiny", methods=("coop",), seeds=(0,), runs=str(tmp_path / "runs"),
                                  sept_dir=str(tmp_path / "sept")), [str(a), str(b)])
    runs = [j.run_dir for j in jobs if j.stage == "runs"]
    assert len(runs) == len(set(runs)) == 6  # per dataset: zero-shot, coop, coop + SEPT
    assert len({j.run_dir for j in jobs if j.stage == "prep"}) == 2  # each its own SEPT files
    keys = [{k.split("/")[0] for j in jobs if j.stage == "runs" and str(ds) in " ".join(j.line().split())
             for k in j.eval_keys} for ds in (a, b)]
    assert len(keys[0]) == len(keys[1]) == 1 and keys[0] != keys[1]  # NAME@ID8: each dataset its own key


def test_zeroshot_into_a_trained_run_is_refused(run_cli, synth_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    assert run_cli("train", synth_dataset, *TRAIN, "--out", run)[0] == 0
    assert run_cli("eval", run)[0] == 0
    before = snapshot(run)
    _one_line_refusal(run_cli("eval", "--zeroshot", synth_dataset, "--backbone", "tiny", "--out", run),
                      str(run), "trained coop run")
    zs = tmp_path / "zs"
    assert run_cli("eval", "--zeroshot", synth_dataset, "--backbone", "tiny", "--out", zs)[0] == 0
    zs_before = snapshot(zs)
    _one_line_refusal(run_cli("eval", "--zeroshot", synth_dataset, "--backbone", "tiny", "--out", zs,
                              "--template", "the noise of {}"), "template")
    assert snapshot(run) == before and snapshot(zs) == zs_before


@pytest.mark.parametrize("what", ["prompt", "empty"])
def test_train_never_writes_over_files_it_did_not_make(run_cli, synth_dataset, tmp_path, monkeypatch, what):
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "prompt.safetensors").write_bytes(b"a user's own file")
    before = snapshot(tmp_path)
    out = mine if what == "prompt" else ""
    _one_line_refusal(run_cli("train", synth_dataset, *TRAIN, "--out", out), "--out")
    assert snapshot(tmp_path) == before


def test_eval_scores_the_recorded_dataset_whatever_the_working_folder(run_cli, synth_dataset, tmp_path,
                                                                      monkeypatch):
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    (tmp_path / "one").mkdir()
    shutil.copytree(synth_dataset, tmp_path / "one" / "ds")
    monkeypatch.chdir(tmp_path / "one")
    assert run_cli("train", "ds", *TRAIN, "--out", tmp_path / "run")[0] == 0
    other = tmp_path / "two" / "ds"  # another `ds` beside the working folder of the eval
    shutil.copytree(synth_dataset, other)
    (other / "test.csv").write_text("\n".join((other / "test.csv").read_text().splitlines()[:5]) + "\n")
    monkeypatch.chdir(tmp_path / "two")
    assert run_cli("eval", tmp_path / "run")[0] == 0
    entries = yaml.safe_load((tmp_path / "run" / "metrics.yaml").read_text())["evaluations"]
    assert {e["dataset_path"] for e in entries.values()} == {str(tmp_path / "one" / "ds")}


def test_old_run_folders_still_load_and_are_recognised(run_cli, synth_dataset, tmp_path, monkeypatch):
    """A card as septctl 0.x wrote it (the literal config hashed, no identity, no split.csv) still evaluates."""
    from septctl.engine.config import TrainConfig
    from septctl.runs import legacy_config_hash

    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    assert run_cli("train", synth_dataset, *TRAIN, "--out", run)[0] == 0
    card = yaml.safe_load((run / "run.yaml").read_text())
    del card["identity"]
    card["config_sha256"] = legacy_config_hash(TrainConfig.from_dict(card["config"]))
    (run / "run.yaml").write_text(yaml.safe_dump(card, sort_keys=False))
    (run / "split.csv").unlink()
    old_key = f"{card['dataset']}/fold0/new"
    assert run_cli("eval", run, "--classes", "new")[0] == 0
    data = yaml.safe_load((run / "metrics.yaml").read_text())
    data["evaluations"] = {old_key: next(iter(data["evaluations"].values()))}  # the key as 0.x wrote it
    (run / "metrics.yaml").write_text(yaml.safe_dump(data))
    code, out, err = run_cli("verify", run)
    assert code == 0, out + err
    code, _, err = run_cli("train", synth_dataset, *TRAIN[:-1], "--out", run)
    assert code == 0 and "already complete" in err, err
    assert run_cli("eval", run, "--classes", "new")[0] == 0  # the old key is read as today's: one entry
    assert len(yaml.safe_load((run / "metrics.yaml").read_text())["evaluations"]) == 1


def _sound_folder(src: Path, dest: Path, per_class: int) -> Path:
    """ROOT/<class>/<file> from a prepared dataset's clips."""
    import csv

    with open(src / "train.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    count: dict[str, int] = {}
    for r in rows:
        if count.get(r["classname"], 0) < per_class:
            count[r["classname"]] = count.get(r["classname"], 0) + 1
            (dest / r["classname"]).mkdir(parents=True, exist_ok=True)
            shutil.copy(src / r["path"], dest / r["classname"] / Path(r["path"]).name)
    return dest


def _split_of(cache: Path) -> dict[str, str]:
    import csv

    (folder,) = (cache / "splits").iterdir()
    split = {}
    for name in ("train", "test"):
        with open(folder / f"{name}.csv", newline="", encoding="utf-8") as f:
            split.update({r["path"]: name for r in csv.DictReader(f)})
    return split


def test_adding_files_moves_none_and_eval_and_report_say_the_dataset_changed(run_cli, synth_dataset, tmp_path,
                                                                               monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SEPTCTL_CACHE", str(cache))
    data = _sound_folder(synth_dataset, tmp_path / "sounds", per_class=4)
    run = tmp_path / "runs" / "coop"
    assert run_cli("train", data, *TRAIN, "--out", run)[0] == 0
    assert run_cli("eval", run)[0] == 0
    split = _split_of(cache)
    metrics = (run / "metrics.yaml").read_bytes()
    extra = sorted(p for p in synth_dataset.rglob("*.wav") if p.name not in {Path(k).name for k in split})
    first = sorted(p.name for p in data.iterdir())[0]
    for wav in extra[:6]:  # six new clips in one class
        shutil.copy(wav, data / first / f"new-{wav.name}")
    code, out, err = run_cli("data", "check", data)
    assert code == 0, err
    now = _split_of(cache)
    assert {p: s for p, s in now.items() if p in split} == split  # no file changed split
    assert len(now) == len(split) + 6
    line = _one_line_refusal(run_cli("eval", run), "changed since training", "6 files added")
    assert "retrain" in line
    assert (run / "metrics.yaml").read_bytes() == metrics
    code, out, err = run_cli("report", tmp_path / "runs")
    assert code == 0 and "dataset changed since training: 6 files added" in err, err


def test_a_moved_file_is_named(run_cli, synth_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    data = shutil.copytree(synth_dataset, tmp_path / "data")
    run = tmp_path / "run"
    assert run_cli("train", data, *TRAIN, "--out", run)[0] == 0
    train, test = ((data / f"{s}.csv").read_text().splitlines() for s in ("train", "test"))
    (data / "train.csv").write_text("\n".join([train[0], *train[2:]]) + "\n")
    (data / "test.csv").write_text("\n".join([*test, train[1]]) + "\n")
    moved = train[1].split(",")[0]
    _one_line_refusal(run_cli("eval", run), "1 file moved between splits", f"{moved} (train -> test)")


def test_split_keeps_every_class_trained_and_tested_and_near_a_quarter():
    from septctl.data.audiofolder import hashed_split

    for n in range(2, 40):
        rows = [(f"c{n}/{i:03d}.wav", f"c{n}") for i in range(n)]
        train, test = hashed_split(rows)
        assert test and train and len(train) + len(test) == n
    rows = [(f"c{k}/{i:03d}.wav", f"c{k}") for k in range(20) for i in range(40)]
    _, test = hashed_split(rows)
    assert 0.18 < len(test) / len(rows) < 0.32


def test_eval_of_three_seeds_loads_the_backbone_once(run_cli, synth_dataset, tmp_path, monkeypatch):
    import septctl.engine.evaluate as ev
    from septctl.console import out as stdout

    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(type(stdout), "is_terminal", property(lambda self: True))  # next: lines are for a person
    code, _, err = run_cli("train", synth_dataset, "--seeds", "0,1,2", *TRAIN[:-1], "--out",
                           tmp_path / "runs" / "seed{seed}")
    assert code == 0, err
    seeds = [tmp_path / "runs" / f"seed{s}" for s in range(3)]
    assert "next: septctl eval " + " ".join(map(str, seeds)) in " ".join(err.split())
    loads = []
    real = ev.load_backbone
    monkeypatch.setattr(ev, "load_backbone", lambda *a, **k: loads.append(a) or real(*a, **k))
    assert run_cli("eval", "--zeroshot", synth_dataset, "--backbone", "tiny", "--out", tmp_path / "runs" / "zs")[0] == 0
    loads.clear()
    code, out, err = run_cli("eval", tmp_path / "runs")  # a folder of runs (and zero-shot results, skipped)
    assert code == 0, err
    assert len(loads) == 1 and "skipped 1 zero-shot result folder" in err
    assert all(f"{s}:" in out for s in seeds) and out.count("accuracy") == 6  # base and new of each
    assert "scored 3 runs" in err and "next: septctl report " + " ".join(map(str, seeds)) in " ".join(err.split())
    assert all(len(yaml.safe_load((s / "metrics.yaml").read_text())["evaluations"]) == 2 for s in seeds)


def test_a_split_recorded_before_keeps_every_file_where_it_was(run_cli, synth_dataset, tmp_path, monkeypatch):
    """A recorded split septctl 0.x made (another rule) loads unchanged; new files join it without moving any."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SEPTCTL_CACHE", str(cache))
    data = _sound_folder(synth_dataset, tmp_path / "sounds", per_class=4)
    assert run_cli("data", "check", data)[0] == 0
    (folder,) = (cache / "splits").iterdir()
    train, test = ((folder / f"{s}.csv").read_text().splitlines() for s in ("train", "test"))
    swapped = [train[0], *train[2:], test[1]], [test[0], *test[2:], train[1]]  # one file each way: another rule
    for name, lines in zip(("train", "test"), swapped):
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n")
    old = _split_of(cache)
    assert run_cli("data", "check", data)[0] == 0 and _split_of(cache) == old  # kept as recorded
    extra = next(p for p in synth_dataset.rglob("*.wav") if p.name not in {Path(k).name for k in old})
    shutil.copy(extra, data / Path(train[1].split(",")[0]).parent.name / "added.wav")
    assert run_cli("data", "check", data)[0] == 0
    now = _split_of(cache)
    assert {p: s for p, s in now.items() if p in old} == old and len(now) == len(old) + 1


def test_folder_names_with_underscores_are_spaced_in_prompts_and_said_by_data_check(run_cli, synth_dataset, tmp_path,
                                                                                   monkeypatch):
    import json

    cache = tmp_path / "cache"
    monkeypatch.setenv("SEPTCTL_CACHE", str(cache))
    data = _sound_folder(synth_dataset, tmp_path / "sounds", per_class=3)
    for d in sorted(data.iterdir()):
        d.rename(data / d.name.replace(" ", "_"))  # alarm_clock/ as a user names it
    code, out, err = run_cli("data", "check", data)
    assert code == 0, err
    assert "class names: folder names (or labels) with '_' read as a space" in " ".join(out.split())
    assert "clock_alarm -> 'clock alarm'" in out
    (folder,) = (cache / "splits").iterdir()
    import csv

    with open(folder / "train.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {r["classname"] for r in rows if r["path"].startswith("clock_alarm/")} == {"clock alarm"}
    code, out, err = run_cli("eval", "--zeroshot", data, "--backbone", "tiny", "--classes", "all", "--json",
                             "--out", tmp_path / "zs")
    assert code == 0, err
    assert "clock alarm" in json.loads(out)["class_names"]
    assert sorted(p.name for p in data.iterdir())[2] == "clock_alarm"  # the folder itself is never renamed


def test_report_on_another_machine_says_once_that_datasets_were_not_checked(run_cli, synth_dataset, tmp_path,
                                                                            monkeypatch):
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    data = shutil.copytree(synth_dataset, tmp_path / "data")
    code, _, err = run_cli("train", data, "--seeds", "0,1", *TRAIN, "--out", tmp_path / "runs" / "seed{seed}")
    assert code == 0, err
    assert run_cli("eval", tmp_path / "runs")[0] == 0
    shutil.rmtree(data)  # the results travel without their dataset
    code, out, err = run_cli("report", tmp_path / "runs")
    assert code == 0 and "coop" in out, err
    assert err.count("not checked for dataset changes") == 1 and "2 run(s)" in err


def test_a_run_made_by_default_before_is_found_by_the_same_command(run_cli, synth_dataset, tmp_path, monkeypatch):
    """septctl 0.x put the run under a HASH8 of the literal config; the same `train` finds it there."""
    import json

    from septctl.artifacts import sha256_text
    from septctl.engine.config import TrainConfig
    from septctl.runs import legacy_config_hash

    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    shutil.copytree(synth_dataset, tmp_path / "words")
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("train", "words", *TRAIN)
    assert code == 0, err
    (new,) = _run_folders(tmp_path / "runs")
    given = TrainConfig(dataset="words", backbone="tiny", epochs=1, shots=1)  # as the command spells it
    card = yaml.safe_load((tmp_path / "runs" / new / "run.yaml").read_text())
    del card["identity"]
    card["config"], card["config_sha256"] = given.as_dict(), legacy_config_hash(given)
    old_dict = {k: v for k, v in given.as_dict().items() if k not in ("device", "seed", "fold")}
    old = (tmp_path / "runs" / new).with_name(f"seed0-{sha256_text(json.dumps(old_dict, sort_keys=True))[:8]}")
    (tmp_path / "runs" / new).rename(old)
    (old / "run.yaml").write_text(yaml.safe_dump(card, sort_keys=False))
    code, _, err = run_cli("train", "words", *TRAIN[:-1])
    assert code == 0 and f"{old.relative_to(tmp_path)}: already complete" in err, err
    assert _run_folders(tmp_path / "runs") == [old.relative_to(tmp_path / "runs")]
