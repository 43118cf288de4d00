"""Time per run with the text tower compiled (engine/compile.py) vs eager, alone and packed, in one process.

For each compile setting (`--modes`, e.g. off,reduce-overhead) a fresh Pengi-shaped
backbone (random weights) is compiled the way `septctl train` compiles it
(`compile_for_training`), and the same R CoOp + SEPT runs as benchmarks/bench_packed.py
train through septctl's own loops: alone is `engine.train.train_epoch` per run, packed is
`engine.packed.packed_epoch` over all R runs. One warm-up epoch of each path comes first
(it holds the compile time, printed apart). Prints seconds per run-epoch, the ratio to
`off`, and how far from `off` each setting lands: one step's features and context
gradient (relative to their largest entry), and the learned contexts after all steps (same seeds, same steps; SEPT's hinges can turn small rounding
differences into larger ones over steps).

    python benchmarks/bench_compile.py --device cuda --runs 15 --alone-runs 1 --epochs 5 --sizes 25
    python benchmarks/bench_compile.py --modes off,default --runs 2 --epochs 1 --shots 2 --sizes 2   # CPU
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from bench_packed import make_runs  # noqa: E402


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.common_args(ap)
    ap.add_argument("--modes", default="off,reduce-overhead", help="compile settings (`train --compile`), off first")
    ap.add_argument("--runs", type=int, default=3, help="R runs in the pack")
    ap.add_argument("--epochs", type=int, default=1, help="timed epochs (after one warm-up epoch of each path)")
    ap.add_argument("--shots", type=int, default=16, help="clips per class (steps per epoch = K x shots / batch)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--neighbors", type=int, default=10)
    ap.add_argument("--alone-runs", type=int, default=0, help="time only this many runs alone (0: all R)")
    ap.add_argument("--sizes", default="25", help="base-class counts to time (SESA: 2, ESC-50: 25)")
    ap.add_argument("--full-epochs", type=int, default=50, help="per-run figure extrapolated to this many epochs")
    return ap.parse_args()


def one_step(run) -> tuple:
    """Features of a training step's prompts (classes + neighbors) and the context gradient of a fixed readout."""
    import torch

    names = run.setup.classes + run.sept.names
    feats = run.method.encode_names(names)
    weights = torch.randn(feats.shape, generator=torch.Generator().manual_seed(0)).to(feats.device)
    (feats * weights).sum().backward()
    grad = run.method.ctx.grad.detach().cpu().clone()
    run.method.ctx.grad = None
    return feats.detach().cpu(), grad


def measure(mode: str, k: int, args) -> tuple[float, float, float, list, tuple]:
    """(warm-up s, alone s/run-epoch, packed s/run-epoch, learned contexts, `one_step`) under one compile setting."""
    import torch

    from septctl.backbones.pengi import PengiBackbone
    from septctl.engine.compile import compile_for_training, compile_mode
    from septctl.engine.packed import packed_epoch
    from septctl.engine.train import train_epoch

    torch.manual_seed(0)
    backbone = PengiBackbone(clip_init=True).to(args.device).freeze()
    compile_for_training(backbone, compile_mode(mode, args.device))
    runs = make_runs(backbone, k, args)
    solo = runs[: args.alone_runs or args.runs]
    epoch = [0]

    def alone():
        for r in solo:
            train_epoch(r.method, r.setup.features, r.setup.labels, r.setup.classes, r.opt, r.gen, args.batch,
                        r.sept, epoch=epoch[0])

    def packed():
        packed_epoch(runs, epoch[0])

    step = one_step(runs[0])  # before any training; on the alone path's shapes (compiles them)
    warm, _ = common.timed(lambda: (alone(), packed()), args.device)
    a = p = 0.0
    for e in range(args.epochs):
        epoch[0] = e + 2
        a += common.timed(alone, args.device)[0]
        p += common.timed(packed, args.device)[0]
    ctx = [r.method.ctx.detach().cpu() for r in runs]
    return warm, a / (len(solo) * args.epochs), p / (args.runs * args.epochs), ctx, step


def rel(x, y) -> float:
    """Largest difference relative to the largest entry of `y`."""
    return float((x - y).abs().max() / y.abs().max())


def main() -> None:
    args = parse_args()
    common.setup_process(args)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    print(common.describe_machine(args.device))
    for k in (int(v) for v in args.sizes.split(",")):
        steps = -(-k * args.shots // args.batch)
        print(f"K={k} ({k * (1 + args.neighbors)} prompts/step, {steps} steps/epoch), R={args.runs}, "
              f"{args.epochs} timed epochs; s/run-epoch; x{args.full_epochs}: one run alone / all R packed, seconds")
        base = None
        for mode in modes:
            t0 = time.perf_counter()
            warm, a, p, ctx, step = measure(mode, k, args)
            base = base or (a, p, ctx, step)
            diff = max(float((x - y).abs().max()) for x, y in zip(ctx, base[2]))
            scale = max(float(y.abs().max()) for y in base[2])
            print(f"  {mode:<16} warm-up {warm:7.1f} s | alone {a:7.3f} ({base[0] / a:4.2f}x) | packed {p:7.3f} "
                  f"({base[1] / p:4.2f}x) | x{args.full_epochs}: {a * args.full_epochs:6.1f} / "
                  f"{p * args.runs * args.full_epochs:6.1f} | vs {modes[0]}: one step features {rel(step[0], base[3][0]):.1e}, "
                  f"context gradient {rel(step[1], base[3][1]):.1e} (relative), contexts after training {diff:.1e} "
                  f"(max |ctx| {scale:.2f}) | "
                  f"{time.perf_counter() - t0:.0f} s in all", flush=True)


if __name__ == "__main__":
    main()
