"""SEPT inside training: the offline pipeline on `tiny`, and lambda = 0 equals plain CoOp bit for bit."""

import json

from safetensors.torch import load_file


def _sept_files(run_cli, tmp_path, classes):
    (tmp_path / "classes.txt").write_text("\n".join(classes) + "\n")
    code, _, err = run_cli("neighbors", "--classes", tmp_path / "classes.txt", "--llm", "builtin",
                           "--out", tmp_path / "neighbors.yaml")
    assert code == 0, err
    code, _, err = run_cli("prefixes", "--llm", "builtin", "--n", "10", "--out", tmp_path / "prefixes.yaml")
    assert code == 0, err
    code, _, err = run_cli("margins", "--backbone", "tiny", "--neighbors", tmp_path / "neighbors.yaml", "--prefixes",
                           tmp_path / "prefixes.yaml", "--backbone", "tiny", "--out", tmp_path / "margins.safetensors")
    assert code == 0, err
    return ["--neighbors", tmp_path / "neighbors.yaml", "--margins", tmp_path / "margins.safetensors"]


BASE = ["chirping birds", "church bells", "clock alarm", "clock tick"]


def test_offline_pipeline_with_sept_rows(run_cli, tmp_path, synth_dataset):
    sept = _sept_files(run_cli, tmp_path, BASE)
    common = ["--epochs", "2", "--shots", "4", "-q"]
    assert run_cli("train", "--backbone", "tiny", synth_dataset, *common, "--out", tmp_path / "runs" / "coop")[0] == 0
    code, _, err = run_cli("train", "--backbone", "tiny", synth_dataset, *common, "--sept", *sept, "--out", tmp_path / "runs" / "sept")
    assert code == 0, err
    for run in ("coop", "sept"):
        for classes in ("base", "new"):
            code, _, err = run_cli("eval", tmp_path / "runs" / run, "--classes", classes)
            assert code == 0, err
    code, out, _ = run_cli("report", tmp_path / "runs", "--format", "json")
    assert {r["method"] for r in json.loads(out)["rows"]} == {"coop", "coop + SEPT"}
    import yaml

    card = yaml.safe_load((tmp_path / "runs" / "sept" / "run.yaml").read_text())
    assert all("se" in e and "ce" in e for e in card["losses"])
    assert card["card"]["neighbors_sha256"]


def test_lambda_zero_is_plain_coop(run_cli, tmp_path, synth_dataset):
    sept = _sept_files(run_cli, tmp_path, BASE)
    common = ["--epochs", "2", "--shots", "4", "--seed", "3", "-q"]
    assert run_cli("train", "--backbone", "tiny", synth_dataset, *common, "--out", tmp_path / "coop")[0] == 0
    code, _, err = run_cli("train", "--backbone", "tiny", synth_dataset, *common, "--sept", *sept, "--lambda", "0", "--out", tmp_path / "l0")
    assert code == 0, err
    a = load_file(str(tmp_path / "coop" / "prompt.safetensors"))["ctx"]
    b = load_file(str(tmp_path / "l0" / "prompt.safetensors"))["ctx"]
    assert a.equal(b)


def test_margins_for_other_classes_refused(run_cli, tmp_path, synth_dataset):
    sept = _sept_files(run_cli, tmp_path, ["rain", "siren"])
    code, _, err = run_cli("train", "--backbone", "tiny", synth_dataset, "--epochs", "1", "--sept", *sept, "--out", tmp_path / "x")
    assert code == 2 and "neighbors.yaml" in err
    assert not (tmp_path / "x" / "run.yaml").exists()
