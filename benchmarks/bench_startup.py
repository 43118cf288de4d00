"""Start-up of septctl's commands: wall time of a fresh process per command, against `python -c pass`.

    python benchmarks/bench_startup.py [--repeats R]

Each line is the median wall time and CPU time (user + system) of R runs of a new process (what a
grid of hundreds of runs pays per command): `septctl --help`, `data check`, `report`, `eval` of one
run and a minimal `train` (1 epoch, 1 shot), all on synth-clap and a small synthesized dataset made
once beforehand (not timed); then where a computing command's time goes: `import torch` alone, and
with transformers' CLIP modeling code (which Pengi's and synth-clap's text towers no longer import).
`--root` times another checkout (e.g. the main branch, for a before/after).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(argv: list[str], env: dict, cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one fresh run of argv, which must succeed. On a shared,
    loaded machine the CPU time says more about what a command costs than the wall time does."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        sys.exit(f"{' '.join(argv)} failed:\n{done.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per command (the median is printed)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the septctl checkout to time (default: this one)")
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "PYTHONPATH": str(args.root), "SEPTCTL_CACHE": str(work / "cache"), "HF_HUB_OFFLINE": "1"}
        septctl = [py, "-m", "septctl"]
        setup = [["data", "synth", "--out", "data", "--train-per-class", "4", "--test-per-class", "2"],
                 ["embed", "data", "-b", "synth-clap"],
                 ["train", "data", "-b", "synth-clap", "--epochs", "1", "--shots", "2", "--out", "run"],
                 ["eval", "run"]]
        for step in setup:
            subprocess.run(septctl + step, env=env, cwd=work, check=True, capture_output=True)
        counter = iter(range(10**6))
        commands = [
            ("python -c pass", lambda: [py, "-c", "pass"]),
            ("septctl --help", lambda: septctl + ["--help"]),
            ("septctl data check data", lambda: septctl + ["data", "check", "data"]),
            ("septctl report run", lambda: septctl + ["report", "run"]),
            ("septctl eval run", lambda: septctl + ["eval", "run"]),
            ("septctl train data -b synth-clap --epochs 1 --shots 1", lambda: septctl + [
                "train", "data", "-b", "synth-clap", "--epochs", "1", "--shots", "1", "--out", f"t{next(counter)}"]),
            ("python -c 'import torch'", lambda: [py, "-c", "import torch"]),
            ("python -c 'import torch, transformers.models.clip.modeling_clip'",
             lambda: [py, "-c", "import torch, transformers.models.clip.modeling_clip"]),
        ]
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"{args.root}: median of {args.repeats} fresh processes each; synth-clap; "
              f"load average {load:.2f} at start")
        print(f"{'command':<66} {'wall':>7} {'CPU':>7}")
        for label, argv in commands:
            runs = [timed(argv(), env, work) for _ in range(args.repeats)]
            wall, cpu = (statistics.median(r[i] for r in runs) for i in (0, 1))
            print(f"{label:<66} {wall:6.2f}s {cpu:6.2f}s", flush=True)


if __name__ == "__main__":
    main()
