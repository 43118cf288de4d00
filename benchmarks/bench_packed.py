"""Time per run: R CoOp + SEPT runs trained packed (engine/packed.py) vs one after another, in one process.

Both paths are septctl's shipped code on a Pengi-shaped backbone (random weights:
timings do not depend on them) with cached audio features: alone is
`engine.train.train_epoch` per run, packed is `engine.packed.packed_epoch` over all R
runs, each run with its own seed, context, optimizer, rows and shuffling. Sizes:
SESA-like (2 base classes, 22 prompts a step) and ESC-50-like (25 base classes, 275
prompts a step), N = 10 neighbors. Prints seconds per run-epoch and the ratio.

    python benchmarks/bench_packed.py --runs 3 --epochs 1 --shots 4
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.common_args(ap)
    ap.add_argument("--runs", type=int, default=3, help="R runs in the pack")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--shots", type=int, default=16, help="clips per class (steps per epoch = K x shots / batch)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--neighbors", type=int, default=10)
    ap.add_argument("--alone-runs", type=int, default=0, help="time only this many runs alone (0: all R)")
    ap.add_argument("--sizes", default="2,25", help="base-class counts to time (SESA: 2, ESC-50: 25)")
    return ap.parse_args()


def make_runs(backbone, k: int, args) -> list:
    """R independent CoOp + SEPT runs (what engine.train.prepare_run builds, without files)."""
    import torch

    from septctl.engine.config import SeptOptions
    from septctl.engine.train import Run, SeptTerm
    from septctl.methods.coop import CoOp

    classes = common.base_classes(k)
    names = dict(zip(classes, common.neighbors_for(classes, args.neighbors)))
    dev = args.device
    runs = []
    for seed in range(args.runs):
        g = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        method = CoOp(backbone, classes)
        setup = SimpleNamespace(
            features=torch.randn(k * args.shots, backbone.embed_dim, generator=g).to(dev),
            labels=(torch.arange(k * args.shots) // args.shots).to(dev), classes=classes, backbone=backbone)
        margins = (0.3 + 0.6 * torch.rand(k, k, args.neighbors, generator=g)).to(dev)
        sept = SeptTerm(names, classes, margins, SeptOptions(neighbors="", margins="", lam=3.0))
        opt = torch.optim.SGD(method.trainable_parameters(), lr=0.0125, momentum=0.9)
        cfg = SimpleNamespace(batch_size=args.batch, epochs=args.epochs)
        runs.append(Run(cfg, Path("."), "", {}, setup, method, opt, torch.Generator().manual_seed(seed), sept, sept, 0,
                        []))
    return runs


def main() -> None:
    args = parse_args()
    common.setup_process(args)
    import torch

    from septctl.backbones.pengi import PengiBackbone
    from septctl.engine.packed import packed_epoch
    from septctl.engine.train import train_epoch

    print(common.describe_machine(args.device))
    torch.manual_seed(0)
    backbone = PengiBackbone(clip_init=True).to(args.device).freeze()
    for k in (int(v) for v in args.sizes.split(",")):
        runs = make_runs(backbone, k, args)

        solo = runs[: args.alone_runs or args.runs]

        def alone():
            for r in solo:
                for e in range(args.epochs):
                    train_epoch(r.method, r.setup.features, r.setup.labels, r.setup.classes, r.opt, r.gen,
                                args.batch, r.sept, epoch=e + 1)

        def packed():
            for e in range(args.epochs):
                packed_epoch(runs, e + 1)

        packed()  # warm-up (allocator, prompt caches) for both paths
        steps = -(-k * args.shots // args.batch)
        a, _ = common.timed(alone, args.device)
        p, _ = common.timed(packed, args.device)
        a, p = a / (len(solo) * args.epochs), p / (args.runs * args.epochs)
        print(f"K={k:2d} ({k * (1 + args.neighbors)} prompts/step, {steps} steps/epoch), R={args.runs}: "
              f"alone {a:7.3f} s/run-epoch, packed {p:7.3f} s/run-epoch, packed is {a / p:4.2f}x faster; "
              f"{args.epochs} epochs: alone {a * args.epochs:.1f} s/run, all {args.runs} packed {p * args.runs * args.epochs:.1f} s")


if __name__ == "__main__":
    main()
