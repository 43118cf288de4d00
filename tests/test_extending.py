"""docs/extending.md's three recipes hold: a method, a backbone and a dataset each added by one module plus one
registry line reach every command (choices, flags, run card) with no other edit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

REPO = Path(__file__).resolve().parents[1]


def _release(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for k, name in enumerate(("beep", "boop", "buzz", "hum")):
        (root / name).mkdir(parents=True)
        for i in range(4):
            t = np.arange(16000) / 16000
            wave = 0.3 * np.sin(2 * np.pi * 220 * (k + 1) * t) + 0.01 * rng.standard_normal(t.size)
            sf.write(root / name / f"{name}{i}.wav", wave.astype(np.float32), 16000)
    return root


def test_a_method_a_backbone_and_a_dataset_added_by_their_recipes(tmp_path):
    release, data, run = _release(tmp_path / "release"), tmp_path / "data" / "ToyTones", tmp_path / "run"
    commands = [["data", "list", "--json"], ["backbones", "--json"], ["train", "--help"],
                ["data", "prepare", "toy-tones", "--source", str(release), "--out", str(data)],
                ["train", str(data), "--backbone", "wide-tiny", "--baseline", "scaled-coop", "--init-scale", "3",
                 "--shots", "2", "--epochs", "1", "--out", str(run), "-q"],
                ["eval", str(run), "-q"]]
    args = [a for c in commands for a in (*c, "--then")][:-1]
    env = {**os.environ, "COLUMNS": "200", "HF_HUB_OFFLINE": "1", "SEPTCTL_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "tests.extending_example", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert '"toy-tones"' in done.stdout and '"wide-tiny"' in done.stdout
    assert "--init-scale" in done.stdout.split("$ septctl train --help")[1]
    card = yaml.safe_load((run / "run.yaml").read_text())
    assert card["config"]["backbone"] == "wide-tiny" and card["config"]["method"] == "scaled-coop"
    assert card["config"]["method_options"] == {"init_scale": 3.0}
    metrics = yaml.safe_load((run / "metrics.yaml").read_text())
    from septctl.runs import dataset_id

    keys = {f"toy-tones@{dataset_id(data)}/fold0/{c}" for c in ("base", "new")}
    assert set(metrics["evaluations"]) == keys, json.dumps(metrics)
