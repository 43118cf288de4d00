"""Start-up: each command imports only what it uses (issue 33, item 11; benchmarks/bench_startup.py times it).

`data check` and `report` never import torch; a command scoring a synth-clap (or Pengi) run never imports
transformers' modeling code: their text towers are built from `build_clip_text_core`, which must equal the
CLIPTextModel it replaces, weight for weight and output for output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from septctl.backbones.clip_text import ClipTextTower, build_clip_text_core, build_clip_text_model

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers.models.clip.modeling_clip", "transformers.modeling_utils")


def _imported(args: list, cwd: Path, modules: tuple[str, ...] = HEAVY) -> list[str]:
    """Which of `modules` a fresh process running `septctl ARGS` imported (it must succeed)."""
    code = ("import json, sys; from septctl.cli.main import app; from septctl.cli.common import run_app; "
            f"sys.argv = ['septctl', *{[str(a) for a in args]!r}]; rc = run_app(app); "
            f"print(json.dumps([rc, [m for m in {modules!r} if m in sys.modules]]))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    rc, heavy = json.loads(done.stdout.strip().splitlines()[-1])
    assert rc == 0, done.stderr
    return heavy


def test_data_check_and_report_import_no_torch(synth_dataset, tmp_path, run_cli):
    run = tmp_path / "run"
    assert run_cli("train", synth_dataset, "--backbone", "tiny", "--epochs", "1", "--out", run)[0] == 0
    assert run_cli("eval", run)[0] == 0
    assert _imported(["data", "check", synth_dataset], tmp_path) == []
    assert _imported(["report", run], tmp_path) == []
    assert _imported(["backbones"], tmp_path) == [] and _imported(["data", "list"], tmp_path) == []


def test_scoring_a_synth_clap_run_imports_no_transformers_modeling(synth_dataset, tmp_path, run_cli):
    run = tmp_path / "run"
    code, out, err = run_cli("train", synth_dataset, "--backbone", "synth-clap", "--epochs", "1", "--out", run)
    assert code == 0, err
    assert _imported(["eval", run], tmp_path) == ["torch"]


def test_the_light_core_is_clip_text_model_weight_for_weight():
    config = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4)
    torch.manual_seed(0)
    hf = build_clip_text_model(**config)
    light = build_clip_text_core(**config)
    theirs = {k: v for k, v in hf.state_dict().items() if k != "embeddings.position_ids"}  # a buffer, not a weight
    assert set(light.state_dict()) == set(theirs)
    light.load_state_dict(theirs, strict=True)
    x = torch.randn(5, 12, 32)
    eot = torch.tensor([3, 11, 7, 5, 9])
    with torch.no_grad():
        assert torch.equal(ClipTextTower(light)(x, eot), ClipTextTower(hf)(x, eot))
        assert torch.equal(ClipTextTower(light)(x, eot, shared_prefix=2), ClipTextTower(hf)(x, eot, shared_prefix=2))
