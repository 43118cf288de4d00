"""A grid's own folder: the plan files a cluster or GNU parallel runs, its logs, and per-job status.

The folder is RUNS/grid-EXPERIMENT. `prep.txt` and `runs.txt` hold one septctl command line per
job (line N is SLURM array task N), by default only the jobs not yet finished, so writing the plan
again after a partial failure schedules only what is missing. Batch logs go to `logs/`; each starts
with the job's line, so `--status` can tell which job a log belongs to without SLURM accounting.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from septctl.grid.plan import Job

JOB_MARK = "septctl-job: "  # first line of a batch log: the plan line it runs
EXIT_MARK = "septctl-exit: "  # last line of a batch log: the line's exit status
START_MARK = "septctl-start: "  # when the task started (seconds since the epoch): which attempt is the latest
STAGE_FILES = {"prep": "prep.txt", "runs": "runs.txt"}


def grid_folder(runs: str | Path, experiment: str) -> Path:
    return Path(runs) / f"grid-{experiment}"


def write_plans(jobs: list[Job], folder: Path, everything: bool = False) -> dict[str, list[Job]]:
    """Write prep.txt and runs.txt (unfinished jobs only unless `everything`); return the jobs of each."""
    from septctl.artifacts import write_text

    chosen = {stage: [j for j in jobs if j.stage == stage and (everything or not j.done())] for stage in STAGE_FILES}
    for stage, name in STAGE_FILES.items():
        write_text(folder / name, "".join(j.line() + "\n" for j in chosen[stage]))
    return chosen


@dataclass
class JobStatus:
    job: Job
    state: str  # done, failed, running or pending
    log: Path | None = None
    reason: str = ""


def _last_error(lines: list[str]) -> str:
    """The last line that reads like an error, else the last non-empty line before the exit mark."""
    body = [s.strip() for s in lines if s.strip() and not s.startswith((JOB_MARK, EXIT_MARK, START_MARK))]
    for line in reversed(body):
        if any(w in line.lower() for w in ("error", "cancelled", "killed", "traceback", "refused")):
            return line
    return body[-1] if body else "no output"


def _started(lines: list[str], mtime: float) -> tuple[float, float]:
    """When a log's task started (its START_MARK; older logs: their last write), then its last write.

    The start orders attempts: a rerun that is still running, quietly, was last written before an
    earlier attempt that ended after it started, yet it is the one that counts.
    """
    for s in lines[1:4]:
        if s.startswith(START_MARK):
            try:
                return float(s[len(START_MARK):]), mtime
            except ValueError:
                break
    return mtime, mtime


def _latest_logs(folder: Path) -> dict[str, tuple[Path, list[str]]]:
    """Plan line -> (the log of its latest attempt, its lines)."""
    found: dict[str, tuple[tuple[float, float], Path, list[str]]] = {}
    for log in (folder / "logs").glob("*.out"):
        try:
            lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
            mtime = log.stat().st_mtime
        except OSError:
            continue
        if lines and lines[0].startswith(JOB_MARK):
            line = lines[0][len(JOB_MARK):]
            order = _started(lines, mtime)
            if line not in found or order >= found[line][0]:
                found[line] = (order, log, lines)
    return {k: (p, lines) for k, (_, p, lines) in found.items()}


def job_status(jobs: list[Job], folder: Path) -> list[JobStatus]:
    """Each job: done (its folder says so), failed (its newest log ended badly: log and last error line),
    running (a log without an exit mark), or pending."""
    logs = _latest_logs(folder)
    result = []
    for job in jobs:
        if job.done():
            result.append(JobStatus(job, "done"))
            continue
        if job.line() not in logs:
            result.append(JobStatus(job, "pending"))
            continue
        log, lines = logs[job.line()]
        exits = [s for s in lines if s.startswith(EXIT_MARK)]
        cancelled = any("CANCELLED" in s or "DUE TO TIME LIMIT" in s for s in lines)
        if exits or cancelled:  # finished, yet the job is not done: it failed
            result.append(JobStatus(job, "failed", log, _last_error(lines)))
        else:
            result.append(JobStatus(job, "running", log))
    return result
