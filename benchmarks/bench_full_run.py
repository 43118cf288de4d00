"""A whole ESC50-sized CoOp + SEPT run (25 base classes x 16 shots, N = 10, 50 epochs).

The fast path is septctl's own training loop (`septctl.engine.train.train_epoch`) with
the CoOp method on a Pengi-shaped backbone (random weights: timings do not depend on
them) and cached audio embeddings. The reference path is bench_train_step's PALM-style
step (audio re-encoded by HTSAT every step, 40-token prompts, class and neighbor
prompts in separate calls), timed for --ref-epochs epochs and scaled to --epochs.
The paper's Table 4 reports 170.7 s for this run on one RTX 3090.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.common_args(ap)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--ref-epochs", type=float, default=1.0, help="reference epochs actually timed (then scaled)")
    ap.add_argument("--skip-reference", action="store_true")
    ap.add_argument("--classes", type=int, default=25)
    ap.add_argument("--neighbors", type=int, default=10)
    ap.add_argument("--shots", type=int, default=16)
    ap.add_argument("--batch", type=int, default=16)
    return ap.parse_args()


def fast_run(args) -> float:
    import torch

    from septctl.backbones.pengi import PengiBackbone
    from septctl.engine.config import SeptOptions, TrainConfig
    from septctl.engine.train import SeptTerm, train_epoch
    from septctl.methods.coop import CoOp

    dev = args.device
    torch.manual_seed(0)
    backbone = PengiBackbone(clip_init=True).to(dev).freeze()
    classes = common.base_classes(args.classes)
    names = dict(zip(classes, common.neighbors_for(classes, args.neighbors)))
    g = torch.Generator().manual_seed(0)
    margins = (0.3 + 0.6 * torch.rand(args.classes, args.classes, args.neighbors, generator=g)).to(dev)
    features = torch.randn(args.classes * args.shots, backbone.embed_dim, generator=g).to(dev)
    labels = (torch.arange(args.classes * args.shots) // args.shots).to(dev)
    method = CoOp(backbone, classes)
    opt = method.make_optimizer(TrainConfig(dataset="benchmark", device=dev))  # septctl's defaults
    sept = SeptTerm(names, classes, margins, SeptOptions(neighbors="", margins=""))
    shuffle = torch.Generator().manual_seed(0)

    def run():
        for _ in range(args.epochs):
            train_epoch(method, features, labels, classes, opt, shuffle, args.batch, sept)

    wall, _ = common.timed(run, dev)
    return wall


def reference_run(args) -> float:
    from bench_train_step import Setup, make_steps

    steps_per_epoch = math.ceil(args.classes * args.shots / args.batch)
    timed_steps = max(1, round(args.ref_epochs * steps_per_epoch))
    ns = argparse.Namespace(device=args.device, classes=args.classes, neighbors=args.neighbors, shots=args.shots,
                            batch=args.batch, steps=timed_steps, bf16=False, neighbor_subset=0,
                            no_audio_encoder=False, skip_reference=False)
    s = Setup(ns)
    step = make_steps(s, ns)["reference"]
    step(0)  # warm-up
    wall, _ = common.timed(lambda: [step(i % len(s.batches)) for i in range(timed_steps)], args.device)
    return wall * args.epochs * steps_per_epoch / timed_steps


def main() -> None:
    args = parse_args()
    common.setup_process(args)
    print(common.describe_machine(args.device))
    fast = fast_run(args)
    print(f"fast (septctl train loop, cached audio): {fast:8.1f} s for {args.epochs} epochs")
    if not args.skip_reference:
        ref = reference_run(args)
        print(f"reference (PALM-style, scaled from {args.ref_epochs:g} epoch(s)): {ref:8.1f} s for {args.epochs} epochs")
        print(f"speed-up: {ref / fast:.1f}x   (paper Table 4, RTX 3090: 170.7 s)")


if __name__ == "__main__":
    main()
