"""A run trained on a GPU is evaluated and verified on a CPU-only machine (the prompt loads onto any device)."""

from __future__ import annotations

import shutil

from septctl.artifacts import read_yaml, write_yaml


def test_a_cuda_run_evaluates_on_the_cpu(world, cli, tmp_path):
    before = cli("eval", world.run, "--classes", "base", "--json")
    assert before.code == 0, before.err
    run = tmp_path / "cuda-run"
    shutil.copytree(world.run, run)
    card = read_yaml(run / "run.yaml", "run card")
    card["config"]["device"] = "cuda"  # as written by `train --device cuda` (device is not part of the config hash)
    write_yaml(run / "run.yaml", card)
    (run / "metrics.yaml").unlink(missing_ok=True)
    after = cli("eval", run, "--classes", "base", "--json")
    assert after.code == 0, after.err
    assert '"accuracy"' in after.out and after.out.split('"accuracy": ')[1][:8] == before.out.split('"accuracy": ')[1][:8]
    checked = cli("verify", run)
    assert checked.code == 0, checked.err + checked.out
