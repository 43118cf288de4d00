"""Issue 33, item 9: the smaller things a newcomer met on the way."""

from __future__ import annotations

import json

import pytest

from septctl.errors import SeptctlError
from septctl.sept.neighbors import generate_neighbors
from septctl.sept.prefixes import generate_prefixes
from tests.test_sept_llm import CLASSES, GOOD, chat, client  # noqa: F401 (chat is a fixture)


def test_prefixes_failing_says_why_each_template_was_refused(chat):  # noqa: F811
    chat.script = [(200, json.dumps({"templates": ["A sound of dogs.", "{} {} twice", "Hear {}."]}), 0),
                   (200, "no JSON here", 0)]
    with pytest.raises(SeptctlError) as exc:
        generate_prefixes(client(chat), 3, max_rounds=2)
    text = str(exc.value)
    assert "only 1 of 3 valid templates (refused: reply 2 not JSON; 'A sound of dogs.' " in text
    assert "'{} {} twice' " in text and "raise --max-rounds" in text


def test_an_extra_class_in_a_reply_is_recorded(chat):  # noqa: F811
    chat.script = [(200, json.dumps({**GOOD, "cat": ["meow", "purr", "hiss"]}), 0)]
    gen = generate_neighbors(client(chat), CLASSES, 3)
    assert gen.names == GOOD and gen.requests[0]["dropped_classes"] == ["cat"]


def test_a_rerun_leaves_a_commented_neighbors_file_alone(run_cli, synth_dataset, tmp_path):
    out = tmp_path / "neighbors.yaml"
    assert run_cli("neighbors", synth_dataset, "--llm", "builtin", "--n", "3", "--out", out)[0] == 0
    commented = "# checked by hand\n" + out.read_text()
    out.write_text(commented)
    code, _, err = run_cli("neighbors", synth_dataset, "--llm", "builtin", "--n", "3", "--out", out)
    assert code == 0 and out.read_text() == commented, err
    out.write_text(commented.replace("neighbors:", "neighbors:  # edited", 1).replace("- ", "- x", 1))
    code, _, err = run_cli("neighbors", synth_dataset, "--llm", "builtin", "--n", "3", "--out", out)
    assert code == 2 and "exists and differs" in err  # a real edit is still protected


def test_an_unknown_dataset_says_where_it_looked(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("data", "check", "my-words")
    assert code == 2 and f"no folder {tmp_path / 'my-words'}" in err and "registered dataset name" in err


def test_data_check_measures_against_the_backbone_in_use(run_cli, synth_dataset, monkeypatch):
    code, out, _ = run_cli("data", "check", synth_dataset, "--backbone", "synth-clap")
    assert code == 0 and "clip length 1 s:" in out and "synth-clap's" in out
    monkeypatch.setenv("SEPTCTL_BACKBONE", "tiny")
    code, out, _ = run_cli("data", "check", synth_dataset)
    assert code == 0 and "clip length 2 s:" in out and "tiny's" in out
    code, out, _ = run_cli("data", "check", synth_dataset, "--clip-seconds", "7")
    assert code == 0 and "clip length 7 s:" in out


def test_data_help_names_your_own_folder(run_cli):
    code, out, _ = run_cli("data", "--help")
    assert code == 0 and "your own sounds" in " ".join(out.split())
