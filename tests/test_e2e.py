"""The whole flow through the CLI on `tiny`: prepare -> embed -> zero-shot -> train -> eval -> report."""

import json

from septctl.data.synth import synthesize_dataset


def test_whole_flow(run_cli, tmp_path):
    code, out, err = run_cli("--help")
    assert code == 0 and all(c in out for c in ("data", "embed", "train", "eval", "report"))
    data = tmp_path / "synth"
    synthesize_dataset(data, train_per_class=6, test_per_class=4, seconds=1.0)
    assert run_cli("embed", "--backbone", "tiny", data)[0] == 0
    code, _, err = run_cli("embed", "--backbone", "tiny", data, "-q")
    assert code == 0 and "cache hit" in err
    for classes in ("base", "new"):
        code, _, err = run_cli("eval", "--zeroshot", "--backbone", "tiny", data, "--classes", classes, "--out", tmp_path / "runs" / "zs")
        assert code == 0, err
    code, _, err = run_cli("train", "--backbone", "tiny", data, "--epochs", "3", "--shots", "4", "--out", tmp_path / "runs" / "coop", "-q")
    assert code == 0, err
    for classes in ("base", "new"):
        code, out, err = run_cli("eval", tmp_path / "runs" / "coop", "--classes", classes, "--json")
        assert code == 0, err
        assert json.loads(out)["classes"] == classes
    code, out, err = run_cli("report", tmp_path / "runs", "--format", "json")
    assert code == 0, err
    rows = json.loads(out)["rows"]
    assert {r["method"] for r in rows} == {"coop", "zeroshot"}
    for r in rows:
        assert abs(r["h"] - 2 * r["base"] * r["new"] / (r["base"] + r["new"])) < 0.01


def test_report_lists_missing_runs(run_cli, tmp_path, synth_dataset):
    code, _, err = run_cli("train", "--backbone", "tiny", synth_dataset, "--epochs", "1", "--shots", "2", "--out", tmp_path / "r", "-q")
    assert code == 0, err
    assert run_cli("eval", tmp_path / "r", "--classes", "base")[0] == 0
    code, out, err = run_cli("report", tmp_path / "r")
    assert code == 0
    assert "no new-class evaluation" in out and "missing" in err


def test_user_error_is_one_line(run_cli, tmp_path):
    code, out, err = run_cli("train", "--backbone", "tiny", tmp_path / "nothing")
    assert code == 2
    assert err.strip().count("\n") == 0 and "nothing" in err and "septctl data list" in err
