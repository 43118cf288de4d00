"""The one prepared GPU check: every part a later GPU session runs, in under 10 minutes, with one summary table.

    python benchmarks/gpu_round.py                     # on the GPU machine (device cuda, the issue's sizes)
    python benchmarks/gpu_round.py --device cpu --dry  # the same parts at tiny sizes (CI runs this)

Each part is a subprocess with its own time limit; a part that fails or runs out of time is reported
and the rest still run. The exit status is 0 only when every part passed. What each part measures
(docs/speed.md, "On a GPU"):

- cuda:     torch sees the device; versions and the card's name.
- exact:    tests/test_clip_text.py on the device (fast text path equals the reference, fp32).
- step:     one ESC-50-sized CoOp + SEPT training step, fast vs the PALM-style reference.
- margins:  margins for K=25, T=100, fast path.
- fullrun:  the 50-epoch ESC-50-sized CoOp + SEPT run alone (goal: at most 17 s).
- packed:   15 such runs packed vs one alone (goal: the 15 in under 60 s).
- compile:  compiled steps (reduce-overhead) vs eager, alone and packed, with the exactness figure.
- predict:  `septctl predict`'s files per second against a bare audio-encoder forward.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Part:
    name: str
    limit_s: int  # on the GPU; dry parts get the same limit
    full: tuple[str, ...]  # the part's arguments on the GPU
    dry: tuple[str, ...]  # the same command at tiny sizes
    result: str  # a regex: the output lines that go into the summary
    script: str = ""  # benchmarks/<script>, else `full`/`dry` are the whole command after python


PY_INFO = ("-c", "import sys, torch; d = torch.device(sys.argv[1]); "
                 "x = torch.randn(256, 256, device=d); assert torch.isfinite(x @ x).all(); "
                 "name = torch.cuda.get_device_name(d) if d.type == 'cuda' else 'cpu'; "
                 "print(f'torch {torch.__version__} cuda {torch.version.cuda} device {name}')")

# The tests that take SEPTCTL_TEST_DEVICE (fast text path vs reference; 1e-4 off the CPU, TF32 off).
PYTEST_CUDA = ("-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_clip_text.py")

PARTS = (
    Part("cuda", 20, PY_INFO, PY_INFO, r"^torch "),
    Part("exact", 50, PYTEST_CUDA, PYTEST_CUDA, r"(passed|failed|error)"),
    Part("step", 40, ("--steps", "3", "--neighbor-subset", "3"),
         ("--steps", "1", "--classes", "2", "--shots", "2", "--neighbors", "2", "--no-audio-encoder"),
         r"^(exactness|  step \d (fast|reference))", "bench_train_step.py"),
    Part("margins", 50, ("--classes", "25", "--templates", "100", "--fast-batch", "2048", "--skip-reference"),
         ("--classes", "2", "--templates", "3", "--neighbors", "2", "--skip-reference", "--extrapolate-to", "2"),
         r"(sentences/s|~.* min wall)", "bench_margins.py"),
    Part("fullrun", 100, ("--epochs", "50", "--ref-epochs", "1"),
         ("--epochs", "1", "--classes", "2", "--shots", "2", "--neighbors", "2", "--skip-reference"),
         r"^(fast|reference|speed-up)", "bench_full_run.py"),
    Part("packed", 150, ("--runs", "15", "--alone-runs", "1", "--epochs", "50", "--sizes", "25"),
         ("--runs", "2", "--alone-runs", "1", "--epochs", "1", "--shots", "2", "--neighbors", "2", "--sizes", "2"),
         r"^K=", "bench_packed.py"),
    Part("compile", 140, ("--modes", "off,reduce-overhead", "--runs", "15", "--alone-runs", "1", "--epochs", "3",
                          "--sizes", "25"),
         ("--modes", "off", "--runs", "2", "--alone-runs", "1", "--epochs", "1", "--shots", "2", "--neighbors", "2",
          "--sizes", "2"),
         r"^(K=|  \S+ +warm-up)", "bench_compile.py"),
)


def command(part: Part, device: str, dry: bool) -> list[str]:
    args = list(part.dry if dry else part.full)
    if part.script:
        return [sys.executable, str(ROOT / "benchmarks" / part.script), "--device", device, *args]
    if part.name == "cuda":
        return [sys.executable, *args, device]
    return [sys.executable, *args]


def run_part(part: Part, device: str, dry: bool, log_dir: Path) -> tuple[str, float, list[str]]:
    """Run one part under its limit; (status, seconds, summary lines). Output goes to log_dir/NAME.txt."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", SEPTCTL_TEST_DEVICE=device,
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    log = log_dir / f"{part.name}.txt"
    start = time.monotonic()
    with log.open("w") as out:
        try:
            rc = subprocess.run(command(part, device, dry), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                timeout=part.limit_s).returncode
            status = "ok" if rc == 0 else f"rc={rc}"
        except subprocess.TimeoutExpired:
            status = f"timeout {part.limit_s}s"
    seconds = time.monotonic() - start
    lines = log.read_text(errors="replace").splitlines()
    found = [line.rstrip() for line in lines if re.search(part.result, line)]
    if status != "ok" and not found:
        found = lines[-3:]
    return status, seconds, found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="torch device the parts run on (cuda, cuda:1, cpu)")
    ap.add_argument("--dry", action="store_true", help="tiny sizes: checks that every part still runs (CI, CPU)")
    ap.add_argument("--parts", default=",".join(p.name for p in PARTS), help="comma list of parts to run")
    ap.add_argument("--log-dir", type=Path, default=None, help="where each part's full output goes (default: temp)")
    args = ap.parse_args()
    wanted = args.parts.split(",")
    unknown = sorted(set(wanted) - {p.name for p in PARTS})
    if unknown:
        ap.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(p.name for p in PARTS)}")
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="gpu-round-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SEPTCTL_CACHE", str(log_dir / "cache"))
    parts = [p for p in PARTS if p.name in wanted]
    print(f"gpu_round: {len(parts)} part(s) on {args.device}{' (dry: tiny sizes)' if args.dry else ''}; "
          f"limits add up to {sum(p.limit_s for p in parts)} s; logs in {log_dir}", flush=True)
    rows = []
    for part in parts:
        status, seconds, found = run_part(part, args.device, args.dry, log_dir)
        print(f"  {part.name:<8} {status:<12} {seconds:6.1f} s", flush=True)
        rows.append((part, status, seconds, found))
    print("\n| part | status | seconds | limit | result |\n|---|---|---|---|---|")
    for part, status, seconds, found in rows:
        result = "<br>".join(line.strip().replace("|", "/") for line in found) or "(no result line)"
        print(f"| {part.name} | {status} | {seconds:.1f} | {part.limit_s} | {result} |")
    failed = [part.name for part, status, *_ in rows if status != "ok"]
    print(f"\ngpu_round: {len(rows) - len(failed)} of {len(rows)} part(s) ok" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
