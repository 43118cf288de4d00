"""Hostile text in SLURM values runs nothing: `bash` on every generated script and every plan line.

Values that can be quoted (`$(...)`, backquotes, `;`, quotes, spaces) are: the scripts are written,
and running them (a task of each array, the report job) and each plan line must create none of the
marker files the values ask for. Values that cannot be (a newline) are refused: cases_grid_batch.py.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="batch scripts are bash")


def _hostile(n: int) -> str:
    return f"$(touch PWNED-{n}) `touch PWNED-{n + 1}`; touch PWNED-{n + 2} 'q\" \\"


def _pwned(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("PWNED-*")) + sorted(str(p) for p in Path.cwd().glob("PWNED-*"))


def test_quotable_hostile_values_run_nothing(world, tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = world.copy_data(tmp_path / f"ds {_hostile(10)}")
    runs = tmp_path / f"runs {_hostile(20)}"
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump({"account": _hostile(30), "sbatch_args": ["--comment=" + _hostile(40)]}))
    result = cli("grid", "base2new", data, "--backbone", "tiny", "--epochs", "1", "--seeds", "0", "--methods", "coop",
                 "--slurm", "--dry-run", "--runs", runs, "--profile", profile, "--partition", _hostile(50),
                 "--mem", _hostile(60), "--sept-dir", tmp_path / f"sept {_hostile(70)}")
    assert result.code == 0, result.err
    folder = runs / "grid-base2new"
    scripts = sorted(folder.glob("*.sbatch"))
    assert [s.name for s in scripts] == ["prep.sbatch", "report.sbatch", "runs.sbatch"]
    assert _hostile(50) in (folder / "prep.sbatch").read_text()  # the value is there, as an #SBATCH comment

    # Each plan line runs one septctl command: a stub records its argv, which must hold the values intact.
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "septctl").write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@" >> "$ARGV_LOG"\n')
    (stub / "septctl").chmod(0o755)
    log = tmp_path / "argv.log"
    env = {**os.environ, "PATH": f"{stub}:{os.environ['PATH']}", "ARGV_LOG": str(log)}
    lines = [ln for plan in ("prep.txt", "runs.txt") for ln in (folder / plan).read_text().splitlines()]
    assert lines
    for line in lines:
        subprocess.run(["bash", "-c", line], env=env, cwd=tmp_path, check=True, timeout=60)
        assert str(data) in shlex.split(line)
    assert str(runs).split("/")[-1] in log.read_text()

    # The scripts themselves, as SLURM would run them: an array task on a harmless plan, and the report job.
    harmless = tmp_path / "harmless.txt"
    harmless.write_text("true\n")
    env = {**os.environ, "SLURM_ARRAY_TASK_ID": "1", "PYTHONPATH": str(Path(__file__).parents[2])}
    for script in scripts:
        subprocess.run(["bash", str(script), str(harmless), "0"], env=env, cwd=tmp_path, timeout=120,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert _pwned(tmp_path) == []


def test_refused_values_leave_no_script_to_run(world, tmp_path, cli, monkeypatch):
    """A newline in a value: refused (exit 2, one line), no script written, so nothing for bash to run."""
    monkeypatch.chdir(tmp_path)
    runs = tmp_path / "runs"
    for extra in (["--partition", "gpu\ntouch PWNED-1"], ["--runs", str(runs / "x\ntouch PWNED-2")],
                  ["--sbatch-arg", "--qos=x\ntouch PWNED-3"]):
        result = cli("grid", "base2new", world.data, "--backbone", "tiny", "--slurm", "--dry-run", "--runs", runs,
                     *extra)
        assert result.code == 2 and len(result.err.strip().splitlines()) == 1, result.err
        assert "Traceback" not in result.err
    assert not runs.exists() or not list(runs.rglob("*.sbatch"))
    for script in tmp_path.rglob("*.sbatch"):
        subprocess.run(["bash", str(script)], cwd=tmp_path, timeout=60)
    assert _pwned(tmp_path) == []
