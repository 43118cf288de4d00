"""A grid as SLURM jobs: batch scripts written into the grid's folder, then submitted with sbatch.

The prep plan is one job array, the runs plan a second array that starts when every prep task
succeeded (afterok), and a `report` job follows the runs whatever their outcome (afterany), so its
tables list what failed. Arrays longer than the cluster's MaxArraySize are split into chunks, each
told its offset into the plan. Every script carries the environment a task needs (threads, cache,
offline flags, the septctl it was planned with), so a task behaves the same on any node.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from septctl.errors import SeptctlError
from septctl.grid.files import EXIT_MARK, JOB_MARK, START_MARK
from septctl.grid.plan import script_safe

DEFAULT_MAX_ARRAY = 1001  # SLURM's default MaxArraySize


@dataclass
class Resources:
    """What every task asks SLURM for; None leaves the cluster's default."""

    partition: str | None = None
    gpus: int | None = None
    cpus: int | None = None
    time: str | None = None
    mem: str | None = None
    account: str | None = None
    sbatch_args: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        pairs = [("--partition", self.partition), ("--gres", f"gpu:{self.gpus}" if self.gpus else None),
                 ("--cpus-per-task", self.cpus), ("--time", self.time), ("--mem", self.mem),
                 ("--account", self.account)]
        return [f"#SBATCH {k}={v}" for k, v in pairs if v is not None] + [f"#SBATCH {a}" for a in self.sbatch_args]


def load_profile(path: Path | None) -> Resources:
    """Resources from a small YAML mapping (keys as the options: partition, gpus, cpus, time, mem, account,
    sbatch_args); a bad file is refused naming it and the fix."""
    if path is None:
        return Resources()
    from septctl.artifacts import read_yaml

    data = read_yaml(path, "SLURM profile")
    known = [f.name for f in fields(Resources)]
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SeptctlError(f"{path}: a SLURM profile is a mapping with keys {', '.join(known)}")
    unknown = sorted(set(map(str, data)) - set(known))
    if unknown:
        raise SeptctlError(f"{path}: unknown key {unknown[0]!r}; use {', '.join(known)}")
    for key in ("gpus", "cpus"):
        v = data.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < (0 if key == "gpus" else 1)):
            raise SeptctlError(f"{path}: {key} must be a whole number >= {0 if key == 'gpus' else 1}, not {v!r}")
    for key in ("partition", "time", "mem", "account"):
        v = data.get(key)
        if v is not None and not isinstance(v, (str, int)):
            raise SeptctlError(f"{path}: {key} must be a single value like the sbatch option, not {v!r}")
        if v is not None:
            data[key] = str(v)
    args = data.get("sbatch_args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) and a.startswith("-") for a in args):
        raise SeptctlError(f"{path}: sbatch_args must be a list of sbatch options like ['--qos=long']")
    for key in ("partition", "time", "mem", "account"):
        if data.get(key) is not None:
            script_safe(data[key], f"{path}: {key}")
    for a in args:
        script_safe(a, f"{path}: sbatch_args item")
    return Resources(**data)


def merged(profile: Resources, **options) -> Resources:
    """The profile with every option given on the command line taking its place (extra sbatch args add up)."""
    extra = options.pop("sbatch_args", None) or []
    bad = [a for a in extra if not a.startswith("-")]
    if bad:
        raise SeptctlError(f"--sbatch-arg {bad[0]!r}: give an sbatch option, e.g. --sbatch-arg=--qos=long")
    values = {k: v for k, v in options.items() if v is not None}
    for key, v in values.items():
        script_safe(str(v), f"--{key}")
    for a in extra:
        script_safe(a, "--sbatch-arg")
    return Resources(**{**profile.__dict__, **values, "sbatch_args": [*profile.sbatch_args, *extra]})


def max_array_size() -> int:
    """MaxArraySize from `scontrol show config` (the largest array index + 1), or SLURM's default."""
    try:
        text = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return DEFAULT_MAX_ARRAY
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "MaxArraySize" and value.strip().isdigit():
            return int(value.strip())
    return DEFAULT_MAX_ARRAY


def chunks(n: int, max_array: int) -> list[tuple[int, int]]:
    """(offset, count) pieces of an n-line plan; array indices 1..count must stay below max_array."""
    size = max(1, max_array - 1)
    return [(start, min(size, n - start)) for start in range(0, n, size)]


def _exports(env: dict[str, str]) -> str:
    """Shell lines setting `env`, with the septctl that wrote the script first on PATH."""
    lines = [f"export PATH={shlex.quote(str(Path(sys.executable).parent))}:\"$PATH\""]
    return "".join(line + "\n" for line in lines + [f"export {k}={shlex.quote(v)}" for k, v in env.items()])


def task_script(name: str, folder: Path, res: Resources, env: dict[str, str], workdir: Path) -> str:
    """A batch script running line OFFSET + SLURM_ARRAY_TASK_ID of the plan file given as $1."""
    script_safe(str(folder), "--runs folder")
    exports = _exports(env)
    return f"""#!/usr/bin/env bash
#SBATCH --job-name={name}
#SBATCH --output={folder / 'logs' / (name + '-%A_%a.out')}
{chr(10).join(res.lines())}
# One line of a septctl grid plan per array task: line OFFSET + task id of PLAN (written by septctl grid --slurm).
# Usage: sbatch --array=1-N $0 PLAN [OFFSET]
set -uo pipefail
{exports}cd {shlex.quote(str(workdir))}
PLAN=${{1:?usage: sbatch --array=1-N $0 PLAN [OFFSET]}}
N=$(( ${{2:-0}} + ${{SLURM_ARRAY_TASK_ID:?run this as a SLURM array task}} ))
LINE=$(sed -n "${{N}}p" "$PLAN")
[ -n "$LINE" ] || {{ echo "error: $PLAN has no line $N"; exit 2; }}
echo "{JOB_MARK}$LINE"
echo "{START_MARK}$(date +%s)"
echo "node $(hostname), task $N of $PLAN"
trap 'echo "{EXIT_MARK}$?"' EXIT
bash -c "$LINE"
"""


def report_script(folder: Path, res: Resources, env: dict[str, str], workdir: Path, command: str) -> str:
    script_safe(str(folder), "--runs folder")
    exports = _exports(env)
    return f"""#!/usr/bin/env bash
#SBATCH --job-name=report
#SBATCH --output={folder / 'logs' / 'report-%j.log'}
{chr(10).join(replace(res, gpus=None).lines())}
# The grid's tables once its runs have ended (failed ones are listed as missing).
set -euo pipefail
{exports}cd {shlex.quote(str(workdir))}
{command}
"""


def task_env(threads: int) -> dict[str, str]:
    """The environment a task needs wherever it lands: this septctl first on PATH, one cache, no network."""
    from septctl.paths import cache_dir

    env = {"SEPTCTL_THREADS": str(threads),
           "SEPTCTL_CACHE": str(Path(cache_dir()).resolve()), "HF_HUB_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    if os.environ.get("SEPTCTL_DATA"):
        env["SEPTCTL_DATA"] = str(Path(os.environ["SEPTCTL_DATA"]).resolve())
    return env


@dataclass
class Submission:
    """The sbatch command lines of one grid; `submit` runs them in order, wiring dependencies."""

    folder: Path
    prep: list[tuple[int, int]]
    runs: list[tuple[int, int]]
    limit: int | None  # at most this many tasks of one array at once (%N)

    def _array(self, stage: str, offset: int, count: int, dep: str | None) -> list[str]:
        spec = f"1-{count}" + (f"%{self.limit}" if self.limit else "")
        return ["sbatch", "--parsable", f"--array={spec}", *([f"--dependency={dep}"] if dep else []),
                str(self.folder / f"{stage}.sbatch"), str(self.folder / f"{stage}.txt"), str(offset)]

    def commands(self, sbatch: Callable[[list[str]], str]) -> list[tuple[list[str], str]]:
        """Submit (or, for a dry run, only show) every array and the report; return each sbatch line and job id."""
        done: list[tuple[list[str], str]] = []

        def go(cmd: list[str]) -> str:
            done.append((cmd, sbatch(cmd).strip().split(";")[0]))
            return done[-1][1]

        prep_ids = [go(self._array("prep", o, c, None)) for o, c in self.prep]
        after = f"afterok:{':'.join(prep_ids)}" if prep_ids else None
        run_ids = [go(self._array("runs", o, c, after)) for o, c in self.runs]
        ended = f"afterany:{':'.join(run_ids or prep_ids)}"
        go(["sbatch", "--parsable", f"--dependency={ended}", str(self.folder / "report.sbatch")])
        return done


def run_sbatch(cmd: list[str]) -> str:
    """Run one sbatch line; its job id, or one line saying why SLURM refused."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise SeptctlError("sbatch not found: run --slurm on a SLURM login node, or use --dry-run / --parallel N"
                           ) from None
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise SeptctlError(f"`{shlex.join(cmd)}` failed: {why}")
    return proc.stdout
