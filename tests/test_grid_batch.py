"""Fast checks of the batch path of `septctl grid`: plans, array chunks, dependencies, profiles, status."""

from __future__ import annotations

from pathlib import Path

import pytest

from septctl.grid import files as gf
from septctl.grid import slurm as sl
from septctl.grid.plan import Job


def _prep_job(tmp_path: Path, done: bool) -> Job:
    from septctl.artifacts import write_yaml

    job = Job("prep", [["grid-prep", "x", "--classes", "base"]], tmp_path / "sept" / "x", {"made": 1}, ["stamp.yaml"])
    if done:
        write_yaml(job.run_dir / "stamp.yaml", {"made": {"made": 1}})
    return job


def test_plans_list_only_unfinished_jobs_unless_all(tmp_path):
    finished, open_ = _prep_job(tmp_path, True), Job("runs", [["train", "a", "--out", "r"]], tmp_path / "r")
    open_prep = Job("prep", [["grid-prep", "y"]], tmp_path / "sept" / "y", {"made": 1}, ["stamp.yaml"])
    chosen = gf.write_plans([finished, open_prep, open_], tmp_path / "g")
    assert (tmp_path / "g" / "prep.txt").read_text() == "septctl grid-prep y\n"
    assert (tmp_path / "g" / "runs.txt").read_text() == "septctl train a --out r\n"
    assert chosen == {"prep": [open_prep], "runs": [open_]}
    gf.write_plans([finished, open_prep, open_], tmp_path / "g", everything=True)
    assert len((tmp_path / "g" / "prep.txt").read_text().splitlines()) == 2


@pytest.mark.parametrize("n, size, want", [(0, 4, []), (3, 4, [(0, 3)]), (5, 4, [(0, 3), (3, 2)]),
                                           (2001, 1001, [(0, 1000), (1000, 1000), (2000, 1)])])
def test_arrays_are_chunked_below_max_array_size(n, size, want):
    assert sl.chunks(n, size) == want


def test_runs_wait_for_every_prep_chunk_and_report_for_every_run_chunk(tmp_path):
    ids = iter(range(10, 100))
    lines = sl.Submission(tmp_path, [(0, 3), (3, 1)], [(0, 3), (3, 2)], limit=2).commands(lambda cmd: f"{next(ids)};c")
    cmds = [" ".join(cmd) for cmd, _ in lines]
    assert [i for _, i in lines] == ["10", "11", "12", "13", "14"]
    assert "--array=1-3%2" in cmds[0] and cmds[0].endswith("prep.txt 0") and cmds[1].endswith("prep.txt 3")
    assert "--array=1-1%2" in cmds[1] and "--dependency" not in cmds[0]
    assert "--dependency=afterok:10:11" in cmds[2] and "--dependency=afterok:10:11" in cmds[3]
    assert cmds[3].endswith("runs.txt 3") and "--array=1-2%2" in cmds[3]
    assert cmds[4].endswith("report.sbatch") and "--dependency=afterany:12:13" in cmds[4]


def test_max_array_size_comes_from_scontrol(tmp_path, monkeypatch):
    fake = tmp_path / "scontrol"
    fake.write_text("#!/bin/sh\necho 'MaxArraySize            = 40'\necho 'MaxJobCount = 10000'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert sl.max_array_size() == 40
    fake.unlink()
    assert sl.max_array_size() == sl.DEFAULT_MAX_ARRAY  # no SLURM here: its default


def test_profile_then_options(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("partition: gpu\ngpus: 1\ncpus: 4\ntime: '02:00:00'\nmem: 16G\nsbatch_args: ['--qos=long']\n")
    res = sl.merged(sl.load_profile(path), partition="debug", cpus=None, sbatch_args=["--exclusive"])
    assert res.lines() == ["#SBATCH --partition=debug", "#SBATCH --gres=gpu:1", "#SBATCH --cpus-per-task=4",
                           "#SBATCH --time=02:00:00", "#SBATCH --mem=16G", "#SBATCH --qos=long", "#SBATCH --exclusive"]


def _log(folder: Path, name: str, job: Job, *body: str) -> Path:
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    path = folder / "logs" / name
    path.write_text("\n".join([gf.JOB_MARK + job.line(), *body]) + "\n")
    return path


def test_status_reads_run_folders_and_logs(tmp_path):
    folder = tmp_path / "g"
    done = _prep_job(tmp_path, True)
    cancelled, crashed, running, pending = (Job("runs", [["train", n]], tmp_path / n) for n in "abcd")
    log_a = _log(folder, "runs-7_1.out", cancelled, "epoch 1",
                 "slurmstepd: error: *** JOB 8 ON vm CANCELLED AT 2026-01-01T00:00:00 ***", gf.EXIT_MARK + "143")
    _log(folder, "runs-7_2.out", crashed, "error: data/x.wav: unreadable; re-run data prepare", "more",
         gf.EXIT_MARK + "2")
    _log(folder, "runs-7_3.out", running, "epoch 1")
    states = {s.job.run_dir.name: s for s in gf.job_status([done, cancelled, crashed, running, pending], folder)}
    assert [s.state for s in states.values()] == ["done", "failed", "failed", "running", "pending"]
    assert states["a"].log == log_a and "CANCELLED" in states["a"].reason
    assert states["b"].reason == "error: data/x.wav: unreadable; re-run data prepare"


def test_dry_run_writes_scripts_and_submits_nothing(run_cli, tmp_path, monkeypatch):
    from septctl.data.synth import synthesize_like

    synthesize_like("sesa", tmp_path / "data" / "SESA", per_class=2, test_per_class=1, seconds=0.2)
    profile = tmp_path / "p.yaml"
    profile.write_text("partition: short\ncpus: 2\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli("grid", "base2new", "sesa", "--backbone", "tiny", "--methods", "coop", "--seeds", "0",
                             "--data-root", tmp_path / "data", "--slurm", "--dry-run", "--parallel", "3",
                             "--profile", profile, "--device", "cuda")
    assert code == 0, err
    folder = tmp_path / "runs" / "grid-base2new"
    lines = out.splitlines()
    assert len(lines) == 3 and lines[1].startswith("sbatch --parsable --array=1-3%3 --dependency=afterok:$JOB1 ")
    assert "dry run, nothing submitted" in err and not list((folder / "logs").iterdir())
    script = (folder / "runs.sbatch").read_text()
    for want in ("#SBATCH --partition=short", "#SBATCH --cpus-per-task=2", "export SEPTCTL_THREADS=2",
                 "export HF_HUB_OFFLINE=1", "export SEPTCTL_CACHE=", f"cd {tmp_path}"):
        assert want in script
    assert all("--device cuda" in line for line in (folder / "runs.txt").read_text().splitlines())
    code, out, _ = run_cli("grid", "base2new", "sesa", "--backbone", "tiny", "--methods", "coop", "--seeds", "0",
                           "--data-root", tmp_path / "data", "--status", "--device", "cuda")
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == ["pending"] * 4


def test_a_task_on_a_node_without_its_device_fails_with_one_clear_line(run_cli, tmp_path, monkeypatch):
    import os
    import subprocess

    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: a cuda task would run")
    from septctl.data.synth import synthesize_like

    synthesize_like("sesa", tmp_path / "data" / "SESA", per_class=2, test_per_class=1, seconds=0.2)
    monkeypatch.chdir(tmp_path)
    grid = ["grid", "base2new", "sesa", "--backbone", "tiny", "--methods", "coop", "--seeds", "0",
            "--data-root", tmp_path / "data", "--device", "cuda"]
    assert run_cli(*grid, "--slurm", "--dry-run")[0] == 0
    folder = tmp_path / "runs" / "grid-base2new"
    log = folder / "logs" / "base2new-runs-1_2.out"
    with open(log, "w") as f:  # what SLURM does with task 2 of the runs array
        code = subprocess.run(["bash", folder / "runs.sbatch", folder / "runs.txt", "0"], stdout=f, stderr=f,
                              env={**os.environ, "SLURM_ARRAY_TASK_ID": "2"}).returncode
    assert code == 2
    code, out, _ = run_cli(*grid, "--status")
    failed = [line for line in out.splitlines() if line.startswith("failed")]
    assert failed == [f"failed   runs/sesa/tiny/coop/base/fold0/seed0  log {log}: error: --device cuda: no CUDA device "
                      "on this machine; use --device cpu"]
