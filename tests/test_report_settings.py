"""Runs of different settings never merge into one row; two runs of one setting are refused."""

from __future__ import annotations

import json

import pytest

from septctl.errors import SeptctlError
from septctl.report.paper_tables import build_tables, render_tables
from septctl.report.tables import harmonic
from tests.test_report import FULL, cell, make_run, records


def _b2n(ds: str, b: float, n: float) -> dict:
    return {(ds, "base"): b, (ds, "new"): n}


def test_runs_of_two_epoch_counts_give_two_labelled_rows(tmp_path):
    for ds in ("sesa", "crema-d"):
        make_run(tmp_path, ds, "coop", 0, None, _b2n(ds, 60.0, 40.0), config={"epochs": 5}, name=f"{ds}-e5")
        make_run(tmp_path, ds, "coop", 0, None, _b2n(ds, 80.0, 20.0), config={"epochs": 50}, name=f"{ds}-e50")
        make_run(tmp_path, ds, "coop", 0, None, _b2n(ds, 70.0, 50.0), sept=FULL)
    b2n, _, shots, ablation = build_tables(records(tmp_path), "all")
    assert {c["row"][0] for c in b2n.cells} == {"coop (epochs=5)", "coop (epochs=50)", "coop + SEPT"}
    assert cell(b2n, ["coop (epochs=5)"], "sesa")["h"] == pytest.approx(48.0)
    assert cell(b2n, ["coop (epochs=50)"], "Average (2)")["h"] == pytest.approx(harmonic(80, 20))
    assert {c["row"][0] for c in shots.cells} == {"coop (epochs=5)", "coop (epochs=50)", "coop + SEPT"}
    groups = {(c["row"][0], c["group"]) for c in ablation.cells}  # full SEPT ran 50 epochs (the default)
    assert groups == {("1", "coop (epochs=5) Average (2)"), ("1", "coop (epochs=50) Average (2)"),
                      ("7", "coop (epochs=50) Average (2)")}
    assert "coop (epochs=5)" in render_tables([b2n], "md")


def test_a_setting_run_on_only_one_dataset_still_gets_its_own_row(tmp_path):
    """The average row never mixes settings across datasets either."""
    make_run(tmp_path, "sesa", "coop", 0, None, _b2n("sesa", 60.0, 40.0), config={"lr": 0.002})
    make_run(tmp_path, "crema-d", "coop", 0, None, _b2n("crema-d", 60.0, 40.0))
    (b2n,) = build_tables(records(tmp_path), "b2n")
    assert {c["row"][0] for c in b2n.cells} == {"coop (lr=0.002)", "coop (lr=0.0125)"}
    assert "coop (lr=0.002) on crema-d: no runs" in b2n.missing


def test_two_runs_of_one_setting_seed_and_fold_are_refused_by_name(tmp_path):
    a = make_run(tmp_path, "sesa", "coop", 0, None, _b2n("sesa", 60.0, 40.0), name="a")
    b = make_run(tmp_path, "sesa", "coop", 0, None, _b2n("sesa", 70.0, 40.0), name="b",
                 config={"device": "cuda", "data_root": "/elsewhere"})  # not settings: still the same run
    with pytest.raises(SeptctlError, match=f"{a} and {b}: two runs of one setting, seed 0"):
        build_tables(records(tmp_path), "b2n")


def test_the_cli_refuses_duplicates_with_exit_2(run_cli, tmp_path):
    for name in ("a", "b"):
        make_run(tmp_path / "runs", "sesa", "coop", 0, None, _b2n("sesa", 60.0, 40.0), name=name)
    code, _, err = run_cli("report", tmp_path / "runs")
    assert code == 2 and "two runs of one setting" in err


def test_different_neighbors_files_on_one_dataset_are_told_apart(tmp_path):
    for name, sha in (("gpt", "aa" * 32), ("builtin", "bb" * 32)):
        make_run(tmp_path, "sesa", "coop", 0, None, _b2n("sesa", 60.0, 40.0), sept=FULL, name=name,
                 card={"neighbors_sha256": sha})
    make_run(tmp_path, "crema-d", "coop", 0, None, _b2n("crema-d", 60.0, 40.0), sept=FULL,
             card={"neighbors_sha256": "cc" * 32})  # its own dataset's file: not a second setting
    (b2n,) = build_tables(records(tmp_path), "b2n")
    rows = {c["row"][0] for c in b2n.cells}
    assert {"coop + SEPT (neighbors_sha256=aaaaaaaa)", "coop + SEPT (neighbors_sha256=bbbbbbbb)"} <= rows


def test_short_classes_are_flagged_and_the_title_states_the_shots(tmp_path):
    make_run(tmp_path, "sesa", "coop", 0, None, _b2n("sesa", 60.0, 40.0), shots=8, short={"gunshot": 5})
    make_run(tmp_path, "sesa", "coop", 1, None, _b2n("sesa", 60.0, 40.0), shots=8)
    (b2n,) = build_tables(records(tmp_path), "b2n")
    assert b2n.title == "Base-to-new generalization (8-shot*)"
    assert cell(b2n, ["coop"], "sesa")["short"] is True
    assert "* coop on sesa: fewer files than 8 shots: 'gunshot' 5" in b2n.notes
    md = render_tables([b2n], "md")
    assert "48.00 ±0.00*" in md and "- * coop on sesa: fewer files than 8 shots: 'gunshot' 5\n" in md
    assert '"short_classes": true' in render_tables([b2n], "json")


def test_cli_h_of_means_and_the_cross_table_follows_the_same_grouping(run_cli, tmp_path):
    runs = tmp_path / "runs"
    for seed, (b, n) in enumerate([(90.0, 10.0), (50.0, 50.0)]):
        make_run(runs, "sesa", "coop", seed, None, _b2n("sesa", b, n))
    for shots in (4, 16):
        make_run(runs, "ravdess", "coop", 0, None, {("ravdess", "all"): 40.0 + shots, ("crema-d", "all"): 20.0},
                 classes="all", shots=shots, short={"calm": 3} if shots == 16 else None)
    code, out, err = run_cli("report", runs, "--format", "json", "--table", "all")
    assert code == 0, err
    data = json.loads(out)
    assert data["b2n"]["rows"][0]["h"] == 34.0  # mean of H(90, 10) = 18 and H(50, 50) = 50
    cross = {r["method"]: r for r in data["cross"]["rows"]}
    assert set(cross) == {"coop (shots=4)", "coop (shots=16)"}
    assert cross["coop (shots=16)"]["source"] == 56.0 and cross["coop (shots=16)"]["short_classes"] is True
    assert data["cross"]["title"] == "Cross-dataset transfer (accuracy, 4/16-shot*)"
    code, out, err = run_cli("report", runs, "--format", "json", "--h-of-means")
    assert code == 0, err
    assert json.loads(out)["rows"][0]["h"] == 42.0  # H(70, 30)


def test_short_classes_of_a_multi_fold_dataset_name_their_fold(tmp_path):
    for seed in (0, 1):
        make_run(tmp_path, "beijing-opera", "coop", seed, 2, _b2n("beijing-opera", 60.0, 40.0),
                 short={"bangu": 7})
    (b2n,) = build_tables(records(tmp_path), "b2n")
    assert b2n.notes[1:] == ["* coop on beijing-opera: fewer files than 16 shots: 'bangu' 7 (fold 2)"]
