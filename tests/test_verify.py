"""run.yaml says what made a run; `septctl verify` recomputes it and flags what no longer matches."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml


@pytest.fixture(scope="module")
def trained(tmp_path_factory, synth_dataset):
    """One evaluated run (base and new) and its dataset, shared read-only by the verify tests."""
    from septctl.engine.config import TrainConfig
    from septctl.engine.evaluate import evaluate_run
    from septctl.engine.train import train

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEPTCTL_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        root = tmp_path_factory.mktemp("repro")
        run = train(TrainConfig(backbone="tiny", dataset=str(synth_dataset), epochs=2, shots=2, seed=3), root / "run", progress=False,
                    echo=lambda _: None)
        for classes in ("base", "new"):
            evaluate_run(run, classes)
    return run


def test_run_yaml_records_versions_weights_device_and_seeds(trained):
    run = yaml.safe_load((trained / "run.yaml").read_text())
    card = run["card"]
    for key in ("septctl_version", "torch_version", "torchaudio_version", "numpy_version", "python_version",
                "weights_id", "device", "command", "created"):
        assert card.get(key), f"run.yaml card lacks {key}"
    assert card["device"] == "cpu" and len(card["weights_id"]) == 16
    assert run["config"]["seed"] == 3 and run["few_shot"]["seed"] == 3  # context init, batch order, few-shot rows
    assert card["embeddings"]["crop_seed"] == 0 and card["embeddings"]["crop"] == "seeded"
    assert len(run["config_sha256"]) == 64


def test_verify_passes_on_an_untouched_run(run_cli, trained):
    code, out, err = run_cli("verify", trained, "--json")
    assert code == 0, err
    checks = json.loads(out)[str(trained)]
    names = [c["what"] for c in checks]
    assert {"config sha256", "few-shot rows", "dataset fingerprint", "weights id"} <= set(names)
    assert sum(n.endswith(" accuracy") for n in names) == 2  # base and new entries were both recomputed
    assert all(c["ok"] for c in checks)


def test_verify_retrain_reproduces_the_prompt(run_cli, trained):
    code, out, err = run_cli("verify", trained, "--retrain", "--json")
    assert code == 0, err
    retrained = [c for c in json.loads(out)[str(trained)] if c["what"] == "retrained prompt"]
    assert retrained and retrained[0]["now"] == "bit-identical"


def test_verify_flags_an_edited_metric(run_cli, trained, tmp_path):
    run = shutil.copytree(trained, tmp_path / "run")
    data = yaml.safe_load((run / "metrics.yaml").read_text())
    key = next(k for k in data["evaluations"] if k.endswith("/new"))
    data["evaluations"][key]["accuracy"] += 5.0
    (run / "metrics.yaml").write_text(yaml.safe_dump(data))
    code, out, err = run_cli("verify", run)
    assert code == 1
    assert "MISMATCH" in out and f"{key} accuracy" in err
    code, _, _ = run_cli("verify", run, "--tolerance", "5.5")  # a stated tolerance absorbs it
    assert code == 0


def test_a_hand_edited_dataset_is_flagged_by_verify_and_refused_by_eval(run_cli, trained, tmp_path):
    run = shutil.copytree(trained, tmp_path / "run")
    data = shutil.copytree(yaml.safe_load((run / "run.yaml").read_text())["config"]["dataset"], tmp_path / "data")
    card = yaml.safe_load((run / "run.yaml").read_text())
    card["config"]["dataset"] = str(data)  # another dataset: before, this one was scored
    (run / "run.yaml").write_text(yaml.safe_dump(card, sort_keys=False))
    metrics = (run / "metrics.yaml").read_bytes()
    code, out, err = run_cli("verify", run, "--json")
    assert code == 1
    assert {c["what"] for c in json.loads(out)[str(run)] if not c["ok"]} == {"config sha256"}
    code, out, err = run_cli("eval", run)
    assert code == 2 and err.count("\n") == 1 and "edited by hand" in err and "Traceback" not in err
    assert (run / "metrics.yaml").read_bytes() == metrics


def test_verify_flags_a_changed_dataset(run_cli, synth_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    data = shutil.copytree(synth_dataset, tmp_path / "data")
    run = tmp_path / "run"
    assert run_cli("train", data, "--backbone", "tiny", "--epochs", "1", "--shots", "2", "--out", run, "-q")[0] == 0
    assert run_cli("eval", run)[0] == 0
    lines = (data / "train.csv").read_text().splitlines()
    (data / "train.csv").write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n")  # same rows, new order
    code, out, err = run_cli("verify", run, "--json")
    assert code == 1
    failed = {c["what"] for c in json.loads(out)[str(run)] if not c["ok"]}
    assert {"few-shot rows", "dataset fingerprint"} <= failed


def test_verify_checks_a_zeroshot_result(run_cli, tmp_path, synth_dataset):
    out_dir = tmp_path / "zs"
    assert run_cli("eval", "--zeroshot", "--backbone", "tiny", synth_dataset, "--classes", "all", "--out", out_dir)[0] == 0
    code, out, err = run_cli("verify", out_dir)
    assert code == 0, err
    assert "all checks match" in err


def test_verify_refuses_a_folder_without_results(run_cli, tmp_path, trained):
    run = shutil.copytree(trained, tmp_path / "run")
    (run / "metrics.yaml").unlink()
    code, _, err = run_cli("verify", run)
    assert code == 2 and err.count("\n") == 1 and "metrics.yaml" in err and "septctl eval" in err
