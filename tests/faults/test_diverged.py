"""A diverged run is not complete (issue 28, item 6).

`--lr 1e12` on tiny: cross-entropy 3.45 -> 14.36, prompt values near 1e14, all finite, and the run
was marked complete. Now a run whose training cross-entropy ends above where it began and above
chance (ln K) ends with one line naming the epoch and the loss; its state is kept, so the same
command with `--keep-diverged` finishes it, marked in run.yaml; `report` marks any such run.
"""

from __future__ import annotations

import math

import yaml

from septctl.engine.health import diverged
from tests.faults.conftest import Result, assert_refused, snapshot


def _train(world, out, *extra) -> list:
    return ["train", world.data, "--backbone", "tiny", "--epochs", "3", "--shots", "2", "--lr", "1e12", "--out", out,
            "-q", *extra]


def test_the_rule():
    k = 4  # ln 4 = 1.386
    assert diverged([{"epoch": 1, "ce": 3.45}, {"epoch": 2, "ce": 14.36}], k).describe() == (
        "training loss rose from 3.45 (epoch 1) to 14.36 (epoch 2), above chance ln K = 1.386")
    assert diverged([{"epoch": 1, "ce": 3.45}, {"epoch": 2, "ce": 2.0}], k) is None  # fell
    assert diverged([{"epoch": 1, "ce": 0.5}, {"epoch": 2, "ce": 1.2}], k) is None  # rose, but below chance
    assert diverged([{"epoch": 1, "ce": 3.0}], k) is None  # one epoch: nothing to compare
    # the cross-entropy, not the total with SEPT's term, is what is compared
    assert diverged([{"epoch": 1, "ce": 2.0, "loss": 9.0}, {"epoch": 2, "ce": 1.9, "loss": 12.0}], k) is None
    assert diverged([{"epoch": 1, "loss": 2.0}, {"epoch": 5, "loss": math.log(k) + 1}], k).epoch == 5


def test_diverged_run_is_refused_then_kept_on_request(world, tmp_path, cli):
    run = tmp_path / "run"
    before = snapshot(world.root, run)
    result = cli(*_train(world, run))
    errors = [ln for ln in result.err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and result.err.strip().splitlines()[-1] == errors[0], result.err  # after train's summary
    line = assert_refused(Result(result.code, result.out, errors[0]), str(run), "diverged", "(epoch 3)", "ln K",
                          "--keep-diverged")
    assert "rose from" in line
    after = snapshot(world.root, run)  # (the embeddings cache may gain an entry: that is its job)
    assert set(after) - set(before) == {str(run / "state.safetensors")}  # kept for --keep-diverged; nothing else
    assert all(after[k] == v for k, v in before.items())

    kept = cli(*_train(world, run, "--keep-diverged"))
    assert kept.code == 0, kept.err
    card = yaml.safe_load((run / "run.yaml").read_text())
    assert card["status"] == "complete" and "rose from" in card["diverged"], card.get("diverged")

    assert cli("eval", run, "--classes", "base").code == 0
    verified = cli("verify", run, "--retrain")  # retrained as it was kept: bit-identical, diverged too
    assert verified.code == 0, verified.out + verified.err

    report = cli("report", run)
    assert report.code == 0, report.err
    marks = [ln for ln in report.err.splitlines() if ln.startswith("warning:") and "diverged" in ln]
    assert len(marks) == 1 and str(run) in marks[0], report.err


def test_report_marks_a_diverged_run_made_before_the_check(world, tmp_path, cli):
    """A run finished by an older septctl has no `diverged:` in its card: its losses tell."""
    run = world.copy_run(tmp_path / "old")
    card = yaml.safe_load((run / "run.yaml").read_text())
    card["losses"] = [{"epoch": 1, "ce": 3.45, "loss": 3.45}, {"epoch": 2, "ce": 14.36, "loss": 14.36}]
    (run / "run.yaml").write_text(yaml.safe_dump(card, sort_keys=False))
    report = cli("report", run)
    assert report.code == 0, report.err
    assert any("diverged" in ln and str(run) in ln for ln in report.err.splitlines()), report.err
    clean = cli("report", world.run)
    assert "diverged" not in clean.err
