"""Results never overwritten, run identity checked, a changed dataset named (issue 28 items 1-5).

(And issue 33 item 6: two class folders that are one class once '_' is read as a space.)

Each row refuses: an evaluation into another model's folder, `train --out` onto files septctl
did not make, a run.yaml edited by hand, and a run whose dataset changed since training.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from tests.faults.table import Case


def _zeroshot_into_trained_run(world, tmp_path):
    run = world.copy_run(tmp_path / "run")
    return ["eval", "--zeroshot", world.data, "--backbone", "tiny", "--out", run], (str(run), "trained coop run")


def _zeroshot_of_another_template(world, tmp_path):
    from septctl.engine.evaluate import evaluate_zeroshot

    out = tmp_path / "zs"
    evaluate_zeroshot(str(world.data), "tiny", "a sound of {}.", "new", out=out)
    return (["eval", "--zeroshot", world.data, "--backbone", "tiny", "--template", "the noise of {}", "--out", out],
            (str(out), "template", "'a sound of {}.'"))


def _zeroshot_into_foreign_files(world, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("a user's own notes")
    return ["eval", "--zeroshot", world.data, "--backbone", "tiny", "--out", out], (str(out), "notes.txt", "no run.yaml")


def _train_onto_a_users_prompt(world, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "prompt.safetensors").write_bytes(b"a user's own prompt")
    return (["train", world.data, "--backbone", "tiny", "--epochs", "1", "--shots", "1", "--out", out],
            (str(out), "prompt.safetensors", "did not make"))


def _train_into_the_working_folder(world, tmp_path):
    return ["train", world.data, "--backbone", "tiny", "--epochs", "1", "--out", ""], ("--out", "working folder")


def _edited_card(key: str, value):
    def make(world, tmp_path):
        run = world.copy_run(tmp_path / "run")
        card = yaml.safe_load((run / "run.yaml").read_text())
        card["config"][key] = value if value is not None else str(world.copy_data(tmp_path / "other"))
        (run / "run.yaml").write_text(yaml.safe_dump(card, sort_keys=False))
        return ["eval", run], (str(run / "run.yaml"), "edited by hand")

    return make


def _run_on_a_copy(world, tmp_path) -> tuple[Path, Path]:
    """A copy of the world's run whose card points at its own copy of the dataset (hash recomputed as train would)."""
    from septctl.engine.config import TrainConfig
    from septctl.runs import config_hash

    data = world.copy_data(tmp_path / "data")
    run = world.copy_run(tmp_path / "run")
    card = yaml.safe_load((run / "run.yaml").read_text())
    card["config"]["dataset"] = card["dataset_path"] = card["identity"]["dataset_path"] = str(data)
    card["config_sha256"] = config_hash(TrainConfig.from_dict(card["config"]), card["identity"])
    (run / "run.yaml").write_text(yaml.safe_dump(card, sort_keys=False))
    return run, data


def _csv_lines(data: Path, split: str) -> list[str]:
    return (data / f"{split}.csv").read_text(encoding="utf-8").splitlines()


def _write_lines(data: Path, split: str, lines: list[str]) -> None:
    (data / f"{split}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _moved(world, tmp_path):
    run, data = _run_on_a_copy(world, tmp_path)
    train, test = _csv_lines(data, "train"), _csv_lines(data, "test")
    _write_lines(data, "train", [train[0], *train[2:]])
    _write_lines(data, "test", [*test, train[1]])
    return ["eval", run], (str(run), "1 file moved between splits", "(train -> test)", "retrain")


def _removed(world, tmp_path):
    run, data = _run_on_a_copy(world, tmp_path)
    test = _csv_lines(data, "test")
    _write_lines(data, "test", [test[0], *test[2:]])
    return ["eval", run], (str(run), "1 file removed", test[1].split(",")[0])


def _relabelled(world, tmp_path):
    run, data = _run_on_a_copy(world, tmp_path)
    test = _csv_lines(data, "test")
    other = test[2].rsplit(",", 1)[1]
    _write_lines(data, "test", [test[0], f"{test[1].rsplit(',', 1)[0]},{other}", *test[2:]])
    return ["eval", run], (str(run), "1 file relabelled", f"-> {other}")


def _modified(world, tmp_path):
    run, data = _run_on_a_copy(world, tmp_path)
    wav = data / _csv_lines(data, "test")[1].split(",")[0]
    st = wav.stat()
    os.utime(wav, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    return ["eval", run], (str(run), "1 file modified")


def _split_record_edited(world, tmp_path):
    run = world.copy_run(tmp_path / "run")
    (run / "split.csv").write_text("file,label\na.wav,x\n", encoding="utf-8")
    return ["eval", run], (str(run / "split.csv"), "not the split record")


def _two_zeroshot_datasets(world, tmp_path):
    return ["eval", "--zeroshot", world.data, world.data, "--backbone", "tiny"], ("--zeroshot scores one dataset",)


def _no_runs_in_folder(world, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    return ["eval", empty], (str(empty), "no trained run folders")


def _out_for_a_run(world, tmp_path):
    return ["eval", world.run, "--out", tmp_path / "x"], ("--out applies to --zeroshot only",)


def _classes_one_name_apart(world, tmp_path):
    import shutil

    root = tmp_path / "sounds"
    wavs = sorted(world.data.rglob("*.wav"))
    for i, cls in enumerate(("alarm_clock", "alarm clock")):
        (root / cls).mkdir(parents=True)
        for wav in wavs[2 * i : 2 * i + 2]:
            shutil.copy(wav, root / cls / wav.name)
    return ["data", "check", root], (str(root), "'alarm clock'", "'alarm_clock'", "one class")


CASES = [
    Case("identity-zeroshot-out-is-a-trained-run", _zeroshot_into_trained_run, fix="another --out"),
    Case("identity-zeroshot-out-holds-another-template", _zeroshot_of_another_template, fix="another --out"),
    Case("identity-zeroshot-out-holds-foreign-files", _zeroshot_into_foreign_files, fix="new or empty folder"),
    Case("identity-train-out-holds-a-users-prompt", _train_onto_a_users_prompt, fix="new or empty folder"),
    Case("identity-train-out-empty", _train_into_the_working_folder, fix="new folder"),
    Case("identity-run-yaml-dataset-edited", _edited_card("dataset", None), fix="restore"),
    Case("identity-run-yaml-lr-edited", _edited_card("lr", 0.5), fix="restore"),
    Case("identity-dataset-file-moved-between-splits", _moved, fix="retrain"),
    Case("identity-dataset-file-removed", _removed, fix="retrain"),
    Case("identity-dataset-file-relabelled", _relabelled, fix="retrain"),
    Case("identity-dataset-file-modified", _modified, fix="retrain"),
    Case("identity-split-record-edited", _split_record_edited, fix="retrain"),
    Case("identity-eval-zeroshot-two-datasets", _two_zeroshot_datasets, fix="once per dataset"),
    Case("identity-eval-folder-without-runs", _no_runs_in_folder, fix="septctl train"),
    Case("identity-eval-out-for-a-trained-run", _out_for_a_run, fix="--zeroshot"),
    Case("identity-folder-classes-one-name-apart", _classes_one_name_apart, fix="rename"),
]
