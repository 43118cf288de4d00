"""`septctl backbones` and `septctl data list` never break a name: piped, one row per line; at a terminal, a table
only when it fits, lists of names wrapped between names (issue 33, item 8)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from septctl.backbones.registry import BACKBONES
from septctl.data.registry import DATASETS

ROOT = Path(__file__).resolve().parents[1]


def _piped(*args: str) -> str:
    """`septctl ARGS | cat` at COLUMNS=80: stdout is a pipe, as in a shell."""
    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": str(ROOT)}
    cat = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    septctl = subprocess.run([sys.executable, "-m", "septctl", *args], stdout=cat.stdin, stderr=subprocess.PIPE,
                             env=env, text=True, timeout=120)
    cat.stdin.close()
    text = cat.stdout.read()
    cat.wait()
    assert septctl.returncode == 0, septctl.stderr
    return text


def test_backbones_piped_at_80_columns_is_one_line_per_backbone_names_whole():
    lines = _piped("backbones").splitlines()
    assert lines[0].split()[:3] == ["name", "embed", "dim"] and len(lines) == 1 + len(BACKBONES)
    for name, line in zip(BACKBONES, lines[1:]):
        assert line.split()[0] == name
    assert "HF hub laion/clap-htsat-unfused, on first use" in lines[BACKBONES.index("laion-clap") + 1]
    assert not any(ch in "".join(lines) for ch in "│┃…")


def test_data_list_piped_at_80_columns_is_one_line_per_dataset_classes_whole():
    lines = _piped("data", "list").splitlines()
    assert len(lines) == 1 + len(DATASETS)
    for d, line in zip(DATASETS, lines[1:]):
        assert line.startswith(d.name + " ") and ", ".join(d.base) in line and line.endswith(", ".join(d.new))


@pytest.fixture
def terminal(monkeypatch):
    from septctl.console import out

    monkeypatch.setattr(type(out), "is_terminal", property(lambda self: True))
    return out


@pytest.mark.parametrize("width", [80, 120, 200])
def test_at_a_terminal_of_any_width_every_name_is_whole(run_cli, terminal, monkeypatch, width):
    monkeypatch.setattr(terminal, "width", width)
    code, out, err = run_cli("data", "list")
    assert code == 0, err
    assert all(len(line) <= width for line in out.splitlines()) or "│" not in out  # a table only when it fits
    assert ("│" in out) == (width >= 120)  # 80 is too narrow for whole names in a table: plain lines
    for d in DATASETS:
        assert d.name in out and all(c in out for c in (*d.base, *d.new)) and "…" not in out
    code, out, err = run_cli("backbones")
    assert code == 0 and all(b in out for b in BACKBONES) and "…" not in out


def test_csv_and_json_formats(run_cli):
    code, out, err = run_cli("backbones", "--format", "csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert code == 0 and rows[0][0] == "name" and [r[0] for r in rows[1:]] == list(BACKBONES)
    code, out, err = run_cli("data", "list", "-f", "json")
    assert code == 0 and [d["name"] for d in json.loads(out)] == [d.name for d in DATASETS]
    code, out, err = run_cli("backbones", "--json")
    assert code == 0 and [b["name"] for b in json.loads(out)] == list(BACKBONES)
