"""What `train` and `report` say that a newcomer needs: the clips actually used, the runs a table leaves out,
and a run that learned nothing (issue 33, items 2, 3 and 7)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch

from septctl.artifacts import read_yaml
from septctl.data.sampling import few_shot_summary, sample_few_shot
from septctl.data.schema import Row
from septctl.engine.learned import learning_warnings
from septctl.report.paper_tables import build_tables, left_out
from tests.test_report import make_run, records


def _rows(per_class: dict[str, int]) -> list[Row]:
    return [Row(f"{c}/{i}.wav", c) for c, n in per_class.items() for i in range(n)]


def test_the_summary_names_the_classes_and_the_clips_each_had():
    few = sample_few_shot(_rows({"bell": 10, "buzz": 10}), 16, 0)
    line = few_shot_summary(few.rows, 16, ["bell", "buzz"])
    assert line == ("2 classes (bell, buzz), 10 clips each: fewer than --shots 16 in every class, so all they have; "
                    "20 in all")
    few = sample_few_shot(_rows({"bell": 20, "buzz": 9, "hiss": 20}), 16, 0)
    line = few_shot_summary(few.rows, 16, ["bell", "buzz", "hiss"])
    assert "16 clips each except buzz 9 (fewer than --shots 16, so all they have); 41 in all" in line
    assert few_shot_summary(_rows({"a": 4}), 4, ["a"]) == "1 class (a), 4 clips each, 4 in all"
    many = [f"c{i:02d}" for i in range(12)]
    assert few_shot_summary(_rows(dict.fromkeys(many, 1)), 1, many).startswith(
        "12 classes (c00, c01, c02, c03, c04, c05, c06, c07, c08, c09, ... (+2 more)), 1 clip each")


def test_train_says_which_classes_and_how_many_clips_at_the_start(run_cli, synth_dataset, tmp_path):
    code, out, err = run_cli("train", synth_dataset, "--backbone", "tiny", "--epochs", "1", "--out", tmp_path / "r")
    assert code == 0, err
    assert "coop on" in err and "4 classes (" in err and "6 clips each: fewer than --shots 16 in every class" in err
    assert "24 in all" in err


class _Collapsed(torch.nn.Module):
    """A method whose class prompts are one point, whatever the class."""

    backbone = SimpleNamespace(modality="audio")

    def encode_names(self, names, audio=None):
        return torch.ones(len(names), 8)


class _Apart(_Collapsed):
    def encode_names(self, names, audio=None):
        return torch.eye(len(names), 8)


def test_a_run_above_chance_or_collapsed_is_named_and_a_learning_one_is_not():
    k = 5
    chance = math.log(k)
    said = learning_warnings(_Collapsed(), list("abcde"), [{"epoch": 1, "ce": chance + 0.1, "loss": 9.0}], None)
    assert len(said) == 2
    assert said[0].startswith(f"final training loss {chance + 0.1:.3f} is above chance (ln 5 = {chance:.3f})")
    assert "class prompts collapsed onto one point" in said[1]
    assert learning_warnings(_Apart(), list("abcde"), [{"epoch": 1, "ce": chance - 0.1}], None) == []
    assert learning_warnings(_Apart(), list("abcde"), [], None) == []  # --epochs 0: no loss to judge
    per_clip = type("PerClip", (_Collapsed,), {"encode_names": lambda self, n, a=None: torch.ones(3, len(n), 8)})()
    assert "collapsed" in learning_warnings(per_clip, list("ab"), [], torch.zeros(3, 4))[0]  # CoCoOp's [B, K, D]


def test_train_ends_saying_the_run_learned_nothing_and_report_marks_it(run_cli, synth_dataset, tmp_path):
    run = tmp_path / "r"
    code, out, err = run_cli("train", synth_dataset, "--backbone", "tiny", "--epochs", "1", "--lr", "1e-9",
                             "--out", run)  # tiny's random prompts at chance and a step too small to move them
    assert code == 0, err
    card = read_yaml(run / "run.yaml")
    assert card["learning_warnings"] and f"warning: {run}: final training loss" in " ".join(err.split())
    code, out, err = run_cli("eval", run)
    assert code == 0, err
    code, out, err = run_cli("report", run)
    assert code == 0 and "!" in out.split("\n\n")[1] and f"! coop on {card['dataset']}: seed 0" in out, out
    assert "1 run learned nothing" in err


def test_report_names_the_runs_a_table_leaves_out_and_the_option(tmp_path):
    for shots in (16, 8):
        for seed in (0, 1):
            make_run(tmp_path, "sesa", "coop", seed, None, {("sesa", "base"): 60.0, ("sesa", "new"): 50.0},
                     shots=shots)
    make_run(tmp_path, "sesa", "coop", 0, None, {("sesa", "all"): 60.0}, classes="all")
    recs = records(tmp_path)
    tables = build_tables(recs, "b2n")
    lines = left_out(recs, tables)
    assert lines[0].startswith("left out 2 runs (8-shot): ") and "sesa-coop-base-8-fNone-s0" in lines[0]
    assert lines[0].endswith("--shots 8 (or --table shots) shows them")
    assert lines[1].startswith("left out 1 run (trained on all classes)") and "--table cross" in lines[1]
    assert left_out(recs, build_tables(recs, "all")) == []  # the shots and cross tables show the rest


def test_report_says_it_on_stderr(run_cli, tmp_path):
    for shots in (16, 8):
        make_run(tmp_path, "sesa", "coop", 0, None, {("sesa", "base"): 60.0, ("sesa", "new"): 50.0}, shots=shots)
    code, out, err = run_cli("report", tmp_path)
    assert code == 0 and "left out 1 run (8-shot)" in err and "--shots 8" in err, err
    code, out, err = run_cli("report", tmp_path, "--shots", "8")
    assert code == 0 and "left out 1 run (16-shot)" in err, err
