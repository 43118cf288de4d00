"""`septctl grid ... --slurm | --parallel N | --status`: a grid as batch jobs on a cluster or this machine.

Both paths write the same plan files and batch scripts into RUNS/grid-EXPERIMENT and log each job
to its logs/ folder, so `--status` reads either one the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from septctl.console import counted

if TYPE_CHECKING:
    from septctl.grid.plan import Job
    from septctl.grid.slurm import Resources

Echo = Callable[..., None]  # err.print or out.print: where a line goes

Slurm = Annotated[bool, typer.Option("--slurm", help="Submit the grid as SLURM job arrays (prep, runs, report).")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="With --slurm: write the scripts, print the sbatch lines.")]
Status = Annotated[bool, typer.Option("--status", help="Per job: done, failed (log, last error line) or pending.")]
Everything = Annotated[bool, typer.Option("--all", help="Plan every job, finished or not (default: unfinished).")]
Parallel = Annotated[int, typer.Option("--parallel", min=1, help="Run N jobs at once with GNU parallel; with "
                                                                  "--slurm, at most N tasks of an array at once.")]
Profile = Annotated[Path, typer.Option("--profile", help="YAML of SLURM resources (partition, gpus, cpus, time, "
                                                         "mem, account, sbatch_args); options override it.")]
Partition = Annotated[str, typer.Option("--partition", help="SLURM partition.")]
Gpus = Annotated[int, typer.Option("--gpus", min=0, help="GPUs per task (--gres=gpu:N).")]
Cpus = Annotated[int, typer.Option("--cpus", min=1, help="CPUs per task (also SEPTCTL_THREADS).")]
Time = Annotated[str, typer.Option("--time", help="Time limit per task, e.g. 02:00:00.")]
Mem = Annotated[str, typer.Option("--mem", help="Memory per task, e.g. 16G.")]
Account = Annotated[str, typer.Option("--account", help="SLURM account.")]
SbatchArg = Annotated[list[str], typer.Option("--sbatch-arg",
                                              help="Another sbatch option, e.g. --sbatch-arg=--qos=long.")]
TABLES = {"base2new": "b2n", "cross": "cross", "shots": "shots", "ablation": "ablation", "paper": "all",
          "allclass": "allclass"}


@dataclass
class Batch:
    """How the grid runs in batch: which path, and what each task asks for."""

    slurm: bool = False
    dry_run: bool = False
    status: bool = False
    everything: bool = False
    parallel: int | None = None
    resources: Resources | None = None  # with --slurm

    @property
    def wanted(self) -> bool:
        return self.slurm or self.dry_run or self.status or self.parallel is not None


def batch_options(slurm: bool, dry_run: bool, status: bool, everything: bool, parallel: int | None,
                  profile: Path | None, **resources) -> Batch:
    """Check the batch options (and read the profile) before any planning."""
    from septctl.errors import SeptctlError
    from septctl.grid.slurm import load_profile, merged

    if dry_run:
        slurm = True
    if status and (slurm or parallel):
        raise SeptctlError("--status only reads the grid; drop --slurm / --parallel / --dry-run")
    if (profile or any(v for v in resources.values())) and not slurm:
        raise SeptctlError("--profile and SLURM resources (--partition, --gpus, ...) need --slurm")
    res = merged(load_profile(profile), **resources) if slurm else None
    return Batch(slurm, dry_run, status, everything, parallel, res)


def run_batch(experiment: str, jobs: list[Job], runs: Path, batch: Batch, echo: Echo, show: Echo) -> int:
    """Write plans and scripts, then submit (SLURM), run (GNU parallel) or report status; the exit code."""
    from septctl.grid import files as gf

    folder = gf.grid_folder(runs, experiment).resolve()
    if batch.status:
        return _status(jobs, folder, show, echo)
    plans = gf.write_plans(jobs, folder, batch.everything)
    n_prep, n_runs = len(plans["prep"]), len(plans["runs"])
    if n_prep + n_runs == 0:
        echo(f"{experiment}: nothing to do, all {counted(len(jobs), 'job')} already complete (plans in {folder})")
        return 0
    _write_scripts(folder, runs, experiment, batch)
    if batch.slurm:
        return _submit(experiment, folder, n_prep, n_runs, batch, echo, show)
    return _parallel(folder, n_prep, n_runs, batch.parallel or 1, echo)


def _write_scripts(folder: Path, runs: Path, experiment: str, batch: Batch) -> None:
    import shlex

    from septctl.artifacts import write_text
    from septctl.grid import slurm as sl

    res = batch.resources or sl.Resources()
    env = sl.task_env(res.cpus or 1)
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    for stage in ("prep", "runs"):
        write_text(folder / f"{stage}.sbatch", sl.task_script(f"{experiment}-{stage}", folder, res, env, Path.cwd()))
    report = shlex.join(["septctl", "report", str(runs), "--table", TABLES[experiment],
                         "--out", str(folder / "report"), "--force"])  # the grid's own tables, remade
    write_text(folder / "report.sbatch", sl.report_script(folder, res, env, Path.cwd(), report))


def _submit(experiment: str, folder: Path, n_prep: int, n_runs: int, batch: Batch, echo: Echo, show: Echo) -> int:
    import shlex

    from septctl.grid import slurm as sl

    limit = sl.DEFAULT_MAX_ARRAY if batch.dry_run else sl.max_array_size()
    sub = sl.Submission(folder, sl.chunks(n_prep, limit), sl.chunks(n_runs, limit), batch.parallel)
    fake = iter(range(1, 10**6))
    sbatch = (lambda cmd: f"$JOB{next(fake)}") if batch.dry_run else sl.run_sbatch
    lines = sub.commands(sbatch)
    if batch.dry_run:
        for cmd, _ in lines:
            show(" ".join(a if a.startswith("--dependency") else shlex.quote(a) for a in cmd))
        echo(f"{experiment}: dry run, nothing submitted; scripts and plans in {folder}")
        return 0
    ids = " ".join(f"{Path(cmd[-1] if cmd[-1].endswith('.sbatch') else cmd[-3]).stem}={i}" for cmd, i in lines)
    echo(f"{experiment}: submitted {n_prep} prep and {n_runs} run task(s) as SLURM jobs {ids}; "
         f"plans and logs in {folder}; watch with --status")
    return 0


def _parallel(folder: Path, n_prep: int, n_runs: int, jobs: int, echo: Echo) -> int:
    """The same scripts through GNU parallel: prep first (stop at a failure), then the runs, then the report."""
    import shlex
    import shutil
    import subprocess

    from septctl.errors import SeptctlError

    if shutil.which("parallel") is None:
        raise SeptctlError("GNU parallel not found: install it (apt-get install parallel), or use --plan with xargs -P")
    failed = 0
    for stage, n, halt in (("prep", n_prep, ["--halt", "now,fail=1"]), ("runs", n_runs, [])):
        if n == 0:
            continue
        script, plan = (shlex.quote(str(folder / f"{stage}.{ext}")) for ext in ("sbatch", "txt"))
        log = shlex.quote(str(folder / "logs" / stage)) + "-parallel_{}.out"
        cmd = ["parallel", "--will-cite", "-j", str(jobs), *halt,
               f"SLURM_ARRAY_TASK_ID={{}} bash {script} {plan} 0 > {log} 2>&1", ":::", *map(str, range(1, n + 1))]
        code = subprocess.run(cmd).returncode
        if code and stage == "prep":
            raise SeptctlError(f"{code} prep job(s) failed; see --status and {folder / 'logs'}")
        failed += code
    subprocess.run(["bash", str(folder / "report.sbatch")], stdout=subprocess.DEVNULL, check=False)
    echo(f"ran {n_prep + n_runs} job(s) with GNU parallel, {failed} failed; tables in {folder / 'report'}")
    return 1 if failed else 0


def _status(jobs: list[Job], folder: Path, show: Echo, echo: Echo) -> int:
    from septctl.grid.files import job_status

    states = job_status(jobs, folder)
    for s in states:
        name = s.job.run_dir if s.job.run_dir is not None else s.job.line()
        if s.state == "failed":
            show(f"failed   {name}  log {s.log}: {s.reason}")
        else:
            show(f"{s.state:<8} {name}" + (f"  log {s.log}" if s.log else ""))
    counts = {k: sum(s.state == k for s in states) for k in ("done", "failed", "running", "pending")}
    echo(", ".join(f"{v} {k}" for k, v in counts.items()) + f" of {len(states)} job(s)")
    return 0
