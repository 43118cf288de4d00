"""`grid --slurm` on a real single-node SLURM cluster and `grid --parallel` with GNU parallel, on real SESA.

Both must give the report (and the learned prompts, bit for bit on the CPU) of the same grid run here
in one process. On the cluster one run's task is cancelled midway: `--status` names it and its log,
and a resubmission schedules that run alone.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from septctl.runs import LOCK_FILE

from .conftest import needs_shared
from .slurm_cluster import Cluster, missing

pytestmark = pytest.mark.slow
GRID = ["grid", "base2new", "sesa", "--backbone", "tiny", "--epochs", "2", "--seeds", "0 1", "--methods", "coop"]
SEPTCTL = str(Path(sys.executable).parent / "septctl")
KILLED = "runs/sesa/tiny/coop/base/fold0/seed1"  # line 3 of runs.txt: task 3 of the first runs array


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Prepared SESA (symlinked audio), one embedding cache, and the grid run locally in one process."""
    sesa = needs_shared("SESA")
    root = tmp_path_factory.mktemp("grid-slurm")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "SEPTCTL_CACHE": str(root / "cache"), "SEPTCTL_DATA": str(root / "data"), "HF_HUB_OFFLINE": "1",
           "SEPTCTL_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    subprocess.run([SEPTCTL, "data", "prepare", "sesa", "--source", str(sesa), "--out", str(root / "data" / "SESA"),
                    "--link"], env=env, check=True, capture_output=True)
    (root / "local").mkdir()
    start = time.monotonic()
    septctl(env, root / "local", *GRID)
    print(f"\nlocal grid in one process: {time.monotonic() - start:.1f} s (6 jobs)")
    return root, env


def septctl(env: dict, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([SEPTCTL, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"septctl {' '.join(args)}:\n{result.stderr[-3000:]}"
    return result


def same_as_local(root: Path, where: Path) -> None:
    """The grid's report equals the local one, and every prompt is bit-identical."""
    local = septctl({**os.environ, "SEPTCTL_CACHE": str(root / "cache")}, root / "local", "report", "runs",
                    "--table", "b2n").stdout
    assert (where / "runs/grid-base2new/report/b2n.md").read_text() == local
    prompts = sorted(p.relative_to(root / "local") for p in (root / "local").rglob("prompt.safetensors"))
    assert len(prompts) == 4
    for p in prompts:
        assert (where / p).read_bytes() == (root / "local" / p).read_bytes(), p


@pytest.fixture
def cluster(world, tmp_path):
    reason = missing()
    if reason:
        pytest.skip(reason)
    c = Cluster(tmp_path / "slurm")
    try:
        c.start()
        yield c
    finally:
        c.stop()


def test_slurm_grid_equals_local_and_resubmits_only_the_killed_run(world, cluster, tmp_path):
    root, env = world
    env = {**cluster.env, **{k: v for k, v in env.items() if k != "SLURM_CONF"}}
    here = tmp_path / "cluster"
    (here / KILLED).mkdir(parents=True)
    # Hold the run's lock, as another writer would: its task waits RUNNING until cancelled, never racing to the end.
    held = open(here / KILLED / LOCK_FILE, "a")
    fcntl.flock(held, fcntl.LOCK_EX)
    start = time.monotonic()
    sub = septctl(env, here, *GRID, "--slurm", "--parallel", "2")
    folder = here / "runs/grid-base2new"
    plan = (folder / "runs.txt").read_text().splitlines()
    assert len(plan) == 5 and KILLED in plan[2] and len((folder / "prep.txt").read_text().splitlines()) == 1
    # MaxArraySize=4 in the test cluster: the 5 runs go out as two arrays (3 + 2 tasks), after prep, then report
    assert sub.stderr.count("runs=") == 2 and "prep=" in sub.stderr and "report=" in sub.stderr
    first_runs = sub.stderr.split("runs=")[1].split()[0]

    task = f"{first_runs}_3"
    end = time.monotonic() + 180
    while f"{task} RUNNING" not in cluster.queue():
        assert time.monotonic() < end, f"task {task} never ran: {cluster.queue()}"
        time.sleep(0.1)
    # Its log names its command once the task has started it (then it waits on the held lock): cancel only then,
    # so --status finds the log of a cancelled task rather than none.
    while not any(KILLED in p.read_text(errors="replace") for p in (folder / "logs").glob("*") if p.is_file()):
        assert time.monotonic() < end, f"task {task} wrote no log naming {KILLED}"
        time.sleep(0.1)
    cluster.run("scancel", task)
    cluster.wait_idle()
    held.close()  # releases the lock
    first = time.monotonic() - start
    assert not (here / KILLED / "metrics.yaml").is_file(), "the task finished before it was cancelled"

    status = septctl(env, here, *GRID, "--status").stdout.splitlines()
    failed = [line for line in status if line.startswith("failed")]
    assert len(failed) == 1 and KILLED in failed[0] and "logs/base2new-runs-" in failed[0], status
    assert "CANCELLED" in failed[0]
    assert sum(line.startswith("done") for line in status) == 5

    sub = septctl(env, here, *GRID, "--slurm", "--parallel", "2")
    assert (folder / "prep.txt").read_text() == ""
    assert [KILLED in line for line in (folder / "runs.txt").read_text().splitlines()] == [True]
    assert "submitted 0 prep and 1 run task(s)" in sub.stderr and "prep=" not in sub.stderr
    cluster.wait_idle()
    assert all(line.startswith("done") for line in septctl(env, here, *GRID, "--status").stdout.splitlines())
    same_as_local(root, here)
    print(f"\nSLURM: first submission {first:.1f} s (6 jobs, one cancelled), resubmission done at "
          f"{time.monotonic() - start:.1f} s")


def test_gnu_parallel_grid_equals_local(world, tmp_path):
    import shutil

    if shutil.which("parallel") is None:
        pytest.skip("GNU parallel is not installed: apt-get install parallel")
    root, env = world
    here = tmp_path / "parallel"
    here.mkdir()
    start = time.monotonic()
    septctl(env, here, *GRID, "--parallel", "2")
    print(f"\nGNU parallel, 2 at once: {time.monotonic() - start:.1f} s (6 jobs)")
    same_as_local(root, here)
    again = septctl(env, here, *GRID, "--parallel", "2")
    assert "nothing to do, all 6 jobs already complete" in again.stderr
    assert septctl(env, here, *GRID, "--plan").stdout == ""  # a plan lists only unfinished jobs
    assert len(septctl(env, here, *GRID, "--plan", "--all").stdout.splitlines()) == 6
