"""Issue 15 item 5: each command names the natural next one (at a terminal, without --quiet); eval's default classes."""

from __future__ import annotations

import json
import re

import pytest


@pytest.fixture
def terminal(monkeypatch):
    """Pretend stdout is a terminal (the hint is for a person, not for pipes or logs)."""
    from septctl.console import out

    monkeypatch.setattr(type(out), "is_terminal", property(lambda self: True))


def test_next_steps_from_embed_to_report(run_cli, synth_dataset, tmp_path, terminal, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("embed", synth_dataset, "--backbone", "tiny", "-q")
    assert code == 0 and "next:" not in err  # --quiet
    code, _, err = run_cli("embed", synth_dataset, "--backbone", "tiny")
    assert code == 0 and f"next: septctl train {synth_dataset} --backbone tiny" in err
    code, _, err = run_cli("neighbors", synth_dataset, "--llm", "builtin", "--n", "3")
    assert code == 0, err
    assert "next: septctl prefixes --llm builtin && septctl margins --neighbors neighbors.yaml" in err
    code, _, err = run_cli("margins", "--neighbors", "neighbors.yaml", "--single-template", "a sound of {}.",
                           "--backbone", "tiny", "--out", "m.safetensors")
    assert code == 0, err
    assert (f"next: septctl train {synth_dataset} --backbone tiny --sept --neighbors neighbors.yaml "
            "--margins m.safetensors") in err
    code, _, err = run_cli("train", synth_dataset, "--backbone", "tiny", "--epochs", "1", "--shots", "1",
                           "--out", "run")
    assert code == 0 and "next: septctl eval run" in err
    code, out, err = run_cli("eval", "run", "--json")
    assert code == 0 and "next: septctl report run" in err
    assert [len(r["class_names"]) for r in json.loads(out)] == [4, 4]  # base, then new
    code, out, err = run_cli("eval", "run", "-q")
    assert code == 0 and "next:" not in err
    assert "/base (" in out and "/new (" in out  # trained on base: base, then new (by metrics key)


def test_no_hint_when_not_a_terminal(run_cli, synth_dataset):
    code, _, err = run_cli("embed", synth_dataset, "--backbone", "tiny")
    assert code == 0 and "next:" not in err


def test_the_training_bar_shows_the_loss_terms(run_cli, synth_dataset, tmp_path, monkeypatch):
    from septctl.console import err

    monkeypatch.setattr(type(err), "is_terminal", property(lambda self: True))
    code, _, text = run_cli("train", synth_dataset, "--backbone", "tiny", "--epochs", "2", "--shots", "1",
                            "--out", tmp_path / "run")
    assert code == 0, text
    assert "2/2" in text and re.search(r"2/2 .* loss \d+\.\d{4}", text), text
