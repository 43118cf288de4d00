"""The prepared GPU script (benchmarks/gpu_round.py) runs every part at tiny sizes on the CPU, so it cannot rot
before a GPU runs it (issue: the GPU path, measured)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(300)
def test_gpu_round_dry_run_on_cpu_passes_every_part(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_round.py"), "--device", "cpu", "--dry",
                           "--log-dir", str(tmp_path / "logs")], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("| ") and not line.startswith("| part")]
    names = [row.split("|")[1].strip() for row in table]
    assert names == ["cuda", "exact", "step", "margins", "fullrun", "packed", "compile"]
    assert all(row.split("|")[2].strip() == "ok" and "(no result line)" not in row for row in table), table
    assert "passed" in table[1] and "torch " in table[0]
    assert done.stdout.rstrip().endswith("7 of 7 part(s) ok")


def test_gpu_round_limits_fit_one_device_call():
    """The whole round fits the device tool's 10-minute call, with room to start."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gpu_round
    finally:
        sys.path.pop(0)
    assert sum(p.limit_s for p in gpu_round.PARTS) <= 570
