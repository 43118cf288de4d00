"""Audio embedding throughput of a Pengi-size backbone (random weights) on this CPU.

    python benchmarks/bench_embed.py [--threads N] [--repeats R]

Prints clips/second for batch sizes 1 and 8 of 7 s, 44.1 kHz clips (HTSAT + projection,
fp32, no grad). Weights are random: speed does not depend on their values.
"""

from __future__ import annotations

import argparse
import time

import torch

from septctl.backbones.pengi import PengiBackbone


def clips_per_second(model: PengiBackbone, batch: int, repeats: int) -> float:
    wav = 0.1 * torch.randn(batch, model.audio_spec.clip_samples, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        model.encode_audio(wav)  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            model.encode_audio(wav)
        elapsed = time.perf_counter() - start
    return batch * repeats / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = PengiBackbone().freeze()
    print(f"torch {torch.__version__}, {args.threads} threads, Pengi-size HTSAT + projection, fp32")
    for batch in (1, 8):
        print(f"batch {batch}: {clips_per_second(model, batch, args.repeats):.2f} clips/s")


if __name__ == "__main__":
    main()
