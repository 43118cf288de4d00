"""The recipes end to end on `tiny` and fake copies of two registry datasets (reduced grid).

paper.sh --quick runs every experiment and writes every table and figure; a rerun does
nothing; two copies started at once share the grid and print the same tables; plan lines
run one by one as a SLURM array task would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"


@pytest.fixture
def env(tmp_path):
    from septctl.data.synth import synthesize_like

    data = tmp_path / "data"
    synthesize_like("sesa", data / "SESA", per_class=5, test_per_class=2, seconds=0.3)
    synthesize_like("beijing-opera", data / "Beijing-Opera", per_class=5, test_per_class=2, folds=2, seconds=0.3)
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "SEPTCTL_CACHE": str(tmp_path / "cache"),
        "SEPTCTL_THREADS": "1",
        "DATA_ROOT": str(data),
        "BACKBONE": "tiny",
        "DATASETS": "sesa beijing-opera",
        "METHODS": "coop",
        "SHOTS": "2",
        "CROSS_PAIRS": "sesa:beijing-opera",
        "OUT": str(tmp_path / "results"),
        "RUNS": str(tmp_path / "runs"),
        "SEPT_DIR": str(tmp_path / "sept"),
        "FIG_DATASET": "sesa",
    }


def start(script: str, env: dict, *args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(["bash", str(RECIPES / script), *args], env=env, cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_paper_quick_twice_at_once_then_nothing_to_do(env, tmp_path):
    copies = [start("paper.sh", env, "--quick", cwd=tmp_path) for _ in range(2)]
    results = [p.communicate(timeout=400) for p in copies]
    for p, (out, err) in zip(copies, results):
        assert p.returncode == 0, err[-3000:]
    assert results[0][0] == results[1][0]  # the same tables from both copies
    table = results[0][0]
    for title in ("Base-to-new", "Cross-dataset", "Shots per class", "SEPT ablation"):
        assert title in table
    assert "| coop + SEPT" in table and "sesa -> beijing-opera" in table and "2-shot" in table
    out = Path(env["OUT"])
    assert {p.name for p in (out / "tables").iterdir()} == {f"{t}.{e}" for t in ("b2n", "cross", "shots", "ablation")
                                                           for e in ("md", "tex", "csv", "json")}
    assert {p.name for p in (out / "figures").iterdir()} == {f"{f}.{e}" for f in ("heatmap-sesa", "tsne-sesa",
                                                                                  "similarity") for e in ("png", "pdf")}
    runs = list(Path(env["RUNS"]).rglob("run.yaml"))
    assert len(runs) == 2 * (2 + 2 + 5) + 2 + 2  # per dataset: b2n, 2-shot, ablation rows; zero-shot; cross
    assert not list(Path(env["RUNS"]).rglob("state.safetensors"))

    again = start("paper.sh", env, "--quick", cwd=tmp_path)
    out2, err2 = again.communicate(timeout=200)
    assert again.returncode == 0, err2[-3000:]
    assert "nothing to do" in err2 and "[1/" not in err2
    assert out2 == table


@pytest.mark.slow
def test_plan_lines_run_as_slurm_tasks(env, tmp_path):
    env = {**env, "DATASETS": "sesa"}
    plan = subprocess.run(["bash", str(RECIPES / "base2new.sh"), "sesa", "--quick", "--plan"], env=env, cwd=tmp_path,
                          text=True, capture_output=True, check=True).stdout.splitlines()
    assert len(plan) == 4 and plan[0].startswith("septctl grid-prep sesa")
    (tmp_path / "plan.txt").write_text("\n".join(plan) + "\n")
    for task in (1, 3):
        done = subprocess.run(["bash", str(REPO / "examples" / "slurm_array.sh"), "plan.txt"], cwd=tmp_path, text=True,
                              env={**env, "SLURM_ARRAY_TASK_ID": str(task)}, capture_output=True)
        assert done.returncode == 0, done.stderr[-2000:]
    assert (Path(env["RUNS"]) / "sesa" / "tiny" / "coop" / "base" / "fold0" / "seed0" / "metrics.yaml").is_file()
    bad = subprocess.run(["bash", str(REPO / "examples" / "slurm_array.sh"), "plan.txt"], cwd=tmp_path, text=True,
                         env={**env, "SLURM_ARRAY_TASK_ID": "9"}, capture_output=True)
    assert bad.returncode == 2 and "no line 9" in bad.stderr


@pytest.mark.slow
def test_table11_runs_on_a_synthesized_caltech101(env, tmp_path):
    """recipes/table11.sh --quick on clip-tiny: CoOp's split prepared from a release tree, the built-in image banks,
    zero-shot, CoOp and CoOp + SEPT each scored on CoOp's base and new halves."""
    from septctl.data.preparers.caltech101 import FOLDERS
    from tests.test_caltech101 import _release

    _release(tmp_path / "caltech-101", folders=FOLDERS, per_split=(2, 0, 1))
    prepare = subprocess.run(["septctl", "data", "prepare", "caltech101", "--source", str(tmp_path / "caltech-101"),
                              "--out", str(Path(env["DATA_ROOT"]) / "caltech-101")], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=300)
    assert prepare.returncode == 0, prepare.stderr
    env = {**env, "BACKBONE": "clip-tiny"}
    env.pop("METHODS")  # the recipe's own: coop
    done = subprocess.run(["bash", str(RECIPES / "table11.sh"), "--quick"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = Path(env["RUNS"]) / "caltech101" / "clip-tiny"
    assert sorted(p.name for p in runs.iterdir()) == ["coop", "coop-sept", "zeroshot"]
    assert (Path(env["SEPT_DIR"]) / "prefixes-image.yaml").is_file()
    metrics = list(runs.rglob("metrics.yaml"))
    assert len(metrics) == 3
    for path in metrics:
        keys = " ".join(yaml.safe_load(path.read_text())["evaluations"])
        assert "/base" in keys and "/new" in keys
