"""Shared setup for the speed benchmarks: process settings, the Pengi text side, real prompts.

Weights are random (timings do not depend on them); texts are real: ESC-50's base
classes and septctl's built-in neighbor and template banks, so prompt lengths are
those a user gets.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

# Without these, glibc mmaps and frees every large activation buffer on each step,
# which makes big CPU batches superlinearly slow (docs/speed.md, notes/env.md §4).
MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=2147483647:glibc.malloc.trim_threshold=17179869184"


def common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, ...")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    parser.add_argument("--no-malloc-tunables", action="store_true",
                        help="do not re-exec with GLIBC_TUNABLES (CPU only; measures glibc's defaults)")


def setup_process(args: argparse.Namespace) -> None:
    """Re-exec once with the malloc tunables (they only act at process start), then set threads.

    OMP_WAIT_POLICY=PASSIVE goes with them: OpenMP threads that spin-wait become
    pathologically slow when another process holds a core (notes/env.md §4); it costs a
    few percent on a quiet machine.
    """
    if (args.device == "cpu" and not args.no_malloc_tunables and sys.platform.startswith("linux")
            and "GLIBC_TUNABLES" not in os.environ):
        env = dict(os.environ, GLIBC_TUNABLES=MALLOC_TUNABLES)
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)


def describe_machine(device: str) -> str:
    import platform

    import torch

    if device.startswith("cuda"):
        where = torch.cuda.get_device_name(torch.device(device))
    else:
        where = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    tun = "on" if "GLIBC_TUNABLES" in os.environ else "off"
    wait = os.environ.get("OMP_WAIT_POLICY", "default")
    return (f"device={device} ({where}); torch {torch.__version__}; load avg {load:.2f}; "
            f"malloc tunables {tun}; OMP_WAIT_POLICY {wait}")


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(torch.device(device))


def timed(fn: Callable[[], object], device: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process). On a shared CPU, wall time includes
    waiting for other processes; CPU time does not (with OMP_WAIT_POLICY=PASSIVE)."""
    sync(device)
    t, c = time.perf_counter(), time.process_time()
    fn()
    sync(device)
    return time.perf_counter() - t, time.process_time() - c


def base_classes(k: int) -> list[str]:
    """The first k ESC-50 classes in sorted order: its 25 base classes come first."""
    from septctl.data.registry import find_dataset

    classes = sorted(find_dataset("esc50").classes)
    if k > len(classes):
        raise SystemExit(f"--classes {k}: ESC-50 has {len(classes)} classes")
    return classes[:k]


def neighbors_for(classes: list[str], n: int) -> list[list[str]]:
    from septctl.sept.neighbors import from_bank

    table = from_bank(classes, n, dataset="esc50")
    return [table[c] for c in classes]


def templates(t: int) -> list[str]:
    from septctl.sept.prefixes import template_bank

    return template_bank(t)


def text_side(device: str, seed: int = 0):
    """Pengi's frozen text side, random weights: CLIP ViT-B/16 text tower, 512x512 text projection,
    Projection 512->1024. Returns (tower, head) where head maps pooled [B, 512] -> [B, 1024]."""
    import torch
    from torch import nn

    from septctl.backbones.clip_text import ClipTextTower, build_clip_text_model
    from septctl.backbones.projection import Projection

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        tower = ClipTextTower(build_clip_text_model())
        head = nn.Sequential(nn.Linear(512, 512, bias=False), Projection(512, 1024))
    for module in (tower, head):
        module.to(device).eval()
        for p in module.parameters():
            p.requires_grad_(False)
    return tower, head


def report(times: dict[str, list[tuple[float, float]]], title: str) -> None:
    """Mean wall and CPU seconds per path, and how many times faster than `reference`."""
    mean = {k: (sum(w for w, _ in v) / len(v), sum(c for _, c in v) / len(v)) for k, v in times.items()}
    base = mean.get("reference")
    print(f"\n{title}")
    print(f"  {'path':<22} {'wall s':>9} {'CPU s':>9}   speed-up wall / CPU")
    for name, (wall, cpu) in mean.items():
        ratio = f"{base[0] / wall:6.1f}x / {base[1] / cpu:4.1f}x" if base else ""
        print(f"  {name:<22} {wall:9.3f} {cpu:9.3f}   {ratio}")
