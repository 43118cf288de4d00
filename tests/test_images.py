"""SEPT on CLIP (issue 29): the README's image commands run as written, on random CLIP weights and synthesized shapes.

The README's "Images" block names `clip-vit-b16` (OpenAI's weights, from the hub); here every command runs
on `clip-tiny`, a random-weight CLIP of the same architecture, the one change. The audio commands import no
image code (Pillow, transformers' image processors).
"""

from __future__ import annotations

import csv
import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.test_readme import on_tiny
from tests.test_startup import _imported


REPO = Path(__file__).resolve().parents[1]
IMAGE_MODULES = ("transformers.models.clip.image_processing_clip",
                 "transformers.models.clip.image_processing_pil_clip", "septctl.backbones.clip_vit")


def image_block() -> list[str]:
    """The `septctl ...` lines of the README's "Images" section, comments dropped."""
    section = (REPO / "README.md").read_text().split("\n## Images", 1)[1].split("\n## ", 1)[0]
    block = re.findall(r"```bash\n(.*?)```", section, flags=re.S)[0]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip().startswith("septctl ")]


@pytest.fixture
def env(tmp_path):
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "SEPTCTL_CACHE": str(tmp_path / "cache"), "SEPTCTL_THREADS": "2", "PYTHONPATH": str(REPO)}


def _run(line: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(line, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_readme_image_flow_runs_on_random_clip(tmp_path, env):
    lines = image_block()
    stages = [shlex.split(line)[1] for line in lines]
    assert {"data", "embed", "neighbors", "prefixes", "margins", "train", "eval", "report", "predict"} <= set(stages)
    outputs = {}
    for line in lines:
        result = _run(on_tiny(line), tmp_path, env)
        assert result.returncode == 0, f"README image example failed: {line}\n{result.stderr[-3000:]}"
        outputs[line] = result
    runs = sorted(p.parent for p in (tmp_path / "runs-shapes").rglob("run.yaml"))
    methods = {yaml.safe_load((r / "run.yaml").read_text())["config"]["method"] for r in runs}
    assert len(runs) == 2 and methods == {"coop"}
    assert sum(bool(yaml.safe_load((r / "run.yaml").read_text())["config"].get("sept")) for r in runs) == 1
    for run in runs:  # eval base and new recorded, as numbers in [0, 100]
        metrics = yaml.safe_load((run / "metrics.yaml").read_text())
        keys = " ".join(metrics["evaluations"])
        assert "/base" in keys and "/new" in keys, metrics
        assert all(0 <= e["accuracy"] <= 100 for e in metrics["evaluations"].values())
    report = next(r for line, r in outputs.items() if line.startswith("septctl report"))
    assert re.search(r"\bH\b", report.stdout) and "coop" in report.stdout
    predicted = next(r for line, r in outputs.items() if line.startswith("septctl predict"))
    rows = list(csv.reader(io.StringIO(predicted.stdout)))
    assert rows[0][:4] == ["file", "window", "start_s", "end_s"] and len(rows) > 1
    assert all(r[0].endswith(".png") for r in rows[1:])


def test_audio_commands_import_no_image_code(synth_dataset, tmp_path, run_cli):
    """No audio command loads the image side: the CLIP backbone, transformers' CLIP image processors.

    (Pillow itself is not on the list: importing transformers at all loads it, as it did before images existed.)"""
    run = tmp_path / "run"
    assert run_cli("train", synth_dataset, "--backbone", "synth-clap", "--epochs", "1", "--out", run)[0] == 0
    for args in (["eval", run], ["predict", run, synth_dataset], ["embed", synth_dataset, "--backbone", "synth-clap"],
                 ["backbones"], ["data", "check", synth_dataset], ["train", "--help"]):
        assert _imported(args, tmp_path, IMAGE_MODULES) == [], args
