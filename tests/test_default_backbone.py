"""No --backbone anywhere means Pengi; without its weights every command says in one line what to do."""

from __future__ import annotations

import pytest

from septctl.defaults import DEFAULT_BACKBONE


def _commands(data, tmp_path):
    neighbors = tmp_path / "neighbors.yaml"
    neighbors.write_text("neighbors:\n  siren: [ambulance, police car, alarm, horn, wail, whoop, klaxon, beacon, "
                         "emergency, warble]\n  rain: [drizzle, shower, downpour, storm, droplets, patter, "
                         "sprinkle, deluge, precipitation, wet weather]\n")
    return {
        "embed": ["embed", data],
        "train": ["train", data, "--epochs", "1", "--shots", "1", "--out", tmp_path / "run"],
        "eval --zeroshot": ["eval", "--zeroshot", data, "--out", tmp_path / "zs"],
        "margins": ["margins", "--neighbors", neighbors, "--single-template", "This is a sound of {}.",
                    "--out", tmp_path / "m.safetensors"],
        "neighbors stats": ["neighbors", "stats", neighbors],
    }


def test_the_default_is_pengi():
    from septctl.engine.config import TrainConfig

    assert DEFAULT_BACKBONE == "pengi" and TrainConfig(dataset="x").backbone == "pengi"


@pytest.mark.parametrize("name", ["embed", "train", "eval --zeroshot", "margins", "neighbors stats"])
def test_without_weights_one_line_says_what_to_do(name, run_cli, synth_dataset, tmp_path):
    code, out, err = run_cli(*_commands(synth_dataset, tmp_path)[name])
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert "septctl download pengi" in err and "--weights" in err and "--backbone synth-clap" in err, err
    assert "tiny (random weights)" in err and "SEPTCTL_BACKBONE=NAME" in err, err
    assert "Traceback" not in err and not (tmp_path / "run" / "run.yaml").exists()


@pytest.mark.parametrize("name", ["embed", "eval --zeroshot", "margins"])
def test_septctl_backbone_sets_the_default_of_every_command(name, run_cli, synth_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("SEPTCTL_BACKBONE", "tiny")
    code, out, err = run_cli(*_commands(synth_dataset, tmp_path)[name])
    assert code == 0 and "septctl download pengi" not in err, err


def test_septctl_backbone_is_named_in_every_backbone_help(run_cli):
    from septctl.cli.main import app
    from septctl.cli.numbers import callbacks, declared_options

    with_backbone = []
    for callback in callbacks(app):
        options = declared_options(callback)
        if "backbone" in options:
            with_backbone.append(callback.__name__)
            assert "SEPTCTL_BACKBONE" in (options["backbone"][1].help or ""), callback.__name__
    assert {"train", "embed", "evaluate", "margins", "grid"} <= set(with_backbone)
    code, out, err = run_cli("train", "--help")
    assert "SEPTCTL_BACKBONE" in out


def test_a_misspelt_septctl_backbone_is_refused_in_one_line(run_cli, synth_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("SEPTCTL_BACKBONE", "synthclap")
    for args in (["eval", "--zeroshot", synth_dataset, "--out", tmp_path / "zs"], ["embed", synth_dataset]):
        code, out, err = run_cli(*args)
        assert code == 2 and "synthclap" in err and "SEPTCTL_BACKBONE" in err and "synth-clap" in err, err


def test_eval_of_a_run_ignores_septctl_backbone(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("SEPTCTL_BACKBONE", "tiny")
    code, out, err = run_cli("eval", tmp_path / "some-run")
    assert code == 2 and "--backbone applies" not in err, err


def test_eval_of_a_run_refuses_another_backbone(run_cli, tmp_path):
    code, out, err = run_cli("eval", tmp_path / "some-run", "--backbone", "tiny")
    assert code == 2 and "--backbone applies to --zeroshot only" in err and len(err.strip().splitlines()) == 1
