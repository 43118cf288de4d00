"""User text with rich markup and control characters, through every command that echoes it.

A dataset folder and class names carrying `[/]`, `[red]` and an ANSI escape go through
data check, embed, train, eval and report; neighbor names carrying them through margins.
Nothing may crash (MarkupError), lose the brackets to styling, or send ESC to the terminal.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from septctl.console import visible

FOLDER = "ds [red]x[bold] \x1b[31mred"  # no "/": it would make two folders
CLASS = "[/]siren[red]"  # control characters in class names are refused (see the test below)


def _hostile_dataset(world, tmp_path: Path) -> Path:
    """The world's dataset in a hostile folder name, with one class renamed to a hostile name."""
    data = Path(shutil.copytree(world.data, tmp_path / FOLDER))
    for split in data.glob("*.csv"):
        with open(split, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        old = rows[1][1]
        rows = [rows[0]] + [[p, CLASS if c == old else c] for p, c in rows[1:]]
        with open(split, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(rows)
    return data


def _shown_safely(result, *expected: str) -> str:
    text = result.out + result.err
    assert "\x1b" not in text, f"raw escape reached the terminal: {text!r}"
    assert "Traceback" not in text and "MarkupError" not in text, text
    for shown in expected:
        assert shown in text, f"{shown!r} not shown as written in:\n{text}"
    return text


def test_dataset_and_class_names_are_printed_as_written(world, tmp_path, cli, monkeypatch):
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    data = _hostile_dataset(world, tmp_path)
    folder, klass = visible(FOLDER), visible(CLASS)
    assert "[red]x[bold]" in folder and "\\x1b" in folder and klass == CLASS

    checked = cli("data", "check", data)
    assert checked.code == 0, checked.err
    _shown_safely(checked, klass)
    embedded = cli("embed", data, "--backbone", "tiny", "-q")
    assert embedded.code == 0, embedded.err
    _shown_safely(embedded, folder)
    trained = cli("train", data, "--backbone", "tiny", "--epochs", "1", "--shots", "1", "--out", tmp_path / "run")
    assert trained.code == 0, trained.err
    _shown_safely(trained, folder)
    for classes in ("base", "new"):
        evaluated = cli("eval", tmp_path / "run", "--classes", classes)
        assert evaluated.code == 0, evaluated.err
        _shown_safely(evaluated, folder)
    reported = cli("report", tmp_path / "run", "--format", "csv")
    assert reported.code == 0, reported.err
    _shown_safely(reported, folder)


def test_a_class_name_with_an_escape_is_refused_and_shown_visibly(world, tmp_path, cli):
    data = Path(shutil.copytree(world.data, tmp_path / "ds"))
    train = data / "train.csv"
    rows = list(csv.reader(train.open(newline="", encoding="utf-8")))
    rows[1][1] = "[/]siren\x1b[2J"
    with open(train, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    checked = cli("data", "check", data)
    assert checked.code == 2
    _shown_safely(checked, str(train), "[/]siren\\x1b[2J")
    assert len(checked.err.strip().splitlines()) == 1, checked.err


def test_class_names_in_a_neighbors_refusal_are_printed_as_written(world, tmp_path, cli):
    neighbors = tmp_path / "neighbors.yaml"
    neighbors.write_text('neighbors:\n  siren: ["[/]wail", "\\e[31mhowl"]\n  "[red]rain[/]": ["[bold]drizzle", ""]\n',
                         encoding="utf-8")
    result = cli("margins", "--neighbors", neighbors, "--single-template", "a {}", "--backbone", "tiny",
                 "--out", tmp_path / "m.safetensors")
    assert result.code == 2
    _shown_safely(result, str(neighbors), "[red]rain[/]")
    assert len(result.err.strip().splitlines()) == 1, result.err


def test_counts_agree_with_their_noun():
    from septctl.console import counted

    assert [counted(1, "class"), counted(2, "class"), counted(0, "file"), counted(1, "shot")] == \
        ["1 class", "2 classes", "0 files", "1 shot"]
