"""Audio embedding throughput of a Pengi-size backbone (random weights) on this CPU.

    python benchmarks/bench_embed.py [--threads N] [--repeats R]

Prints clips/second for batch sizes 1 and 8 of 7 s, 44.1 kHz clips (HTSAT + projection,
fp32, no grad) and their ratio: batch 1 is the reference (msclap and Pengi's wrappers embed
one file at a time), batch 8 is what `septctl embed` does by default. It also prints what
caching saves over a 50-epoch run that re-encodes its audio every step, as PALM does.
Weights are random: speed does not depend on their values.
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
    model = PengiBackbone(clip_init=True).freeze()
    print(f"torch {torch.__version__}, {args.threads} threads, Pengi-size HTSAT + projection, fp32")
    rates = {batch: clips_per_second(model, batch, args.repeats) for batch in (1, 8)}
    for batch, rate in rates.items():
        print(f"batch {batch}: {rate:.2f} clips/s")
    print(f"batched vs one at a time: {rates[8] / rates[1]:.2f}x")
    # ESC-50 fold, 25 base classes x 16 shots: PALM encodes 400 clips x 50 epochs per run;
    # septctl encodes the dataset's 2000 clips once for every run, seed and fold.
    palm, ours = 400 * 50 / rates[1], 2000 / rates[8]
    print(f"audio encoding per 50-epoch ESC50 run: reference {palm / 60:.1f} min, septctl (once) {ours / 60:.1f} min "
          f"({palm / ours:.1f}x)")


if __name__ == "__main__":
    main()
