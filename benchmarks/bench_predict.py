"""Files per second of `septctl predict`'s path against a bare batched audio-encoder forward over the same files.

predict    `Classifier.predict([folder], top_k=5)` as `septctl predict` runs it: folder listing,
           content sha256, embedding cache look-ups and writes (every pass gets new recordings, so
           the cache exists and none is a hit), decoding, windows, batched encoding, scoring
           against the class features, softmax and top-k.
bare       the same files in the same order, read and shaped by `data.audio.load_clip` (decode,
           resample, fill or crop: what any loader of these files must do) and stacked into
           batches of the same size for `encode_audio` under inference mode. Nothing else.

Both paths share one model, built and warmed up before timing (the zero-shot class features
are computed once, at construction, outside the timings). Each pass writes new files (outside
the timings), runs both paths on them in alternating order, and each path is timed by its
fastest pass (the least disturbed on a shared machine). On the CPU the overhead is taken from
the process's CPU time (all its threads), which waiting for other processes does not inflate
(benchmarks/common.py, `timed`); wall times are printed beside it. On a GPU it is wall time.
Backbones: synth-clap (shipped weights, 1 s clips at 16 kHz) and Pengi-size random weights
(HTSAT + projections, 7 s clips at 44.1 kHz); the files are clip-long noise at the model's
rate. The last line is the larger of the two overheads.

    .venv/bin/python benchmarks/bench_predict.py [--files 64] [--repeats 3] [--batch-size 16] [--device cuda]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

CLASSES = ["dog bark", "siren", "rain", "engine idling", "church bells", "crying baby", "keyboard typing", "wind"]


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common.common_args(ap)
    ap.add_argument("--files", type=int, default=256, help="files per pass for synth-clap (Pengi-size: an eighth)")
    ap.add_argument("--repeats", type=int, default=5, help="timed passes per path")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--no-cache-too", action="store_true", help="also time predict without its embedding cache")
    ap.add_argument("--backbones", default="synth-clap,pengi-random", help="comma list: synth-clap, pengi-random")
    return ap.parse_args()


def build(name: str, device: str):
    if name == "pengi-random":
        from septctl.backbones.pengi import PengiBackbone

        return PengiBackbone().to(device).freeze()
    from septctl.backbones import load_backbone

    return load_backbone(name, device=device)


def write_files(folder: Path, spec, n: int, seed: int) -> list[Path]:
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        path = folder / f"clip{i:04d}.wav"
        sf.write(path, (0.1 * rng.standard_normal(spec.clip_samples)).astype(np.float32), spec.sample_rate,
                 subtype="PCM_16")
        paths.append(path)
    return paths


def bare(backbone, files: list[Path], batch: int) -> None:
    import torch

    from septctl.data.audio import load_clip

    with torch.inference_mode():
        for i in range(0, len(files), batch):
            clips = torch.stack([load_clip(f, backbone.audio_spec) for f in files[i : i + batch]])
            backbone.encode_audio(clips.to(backbone.device)).float().cpu()


def measure(name: str, args: argparse.Namespace, work: Path) -> float:
    from septctl.predict import load_zeroshot

    backbone = build(name, args.device)
    n = args.files if name == "synth-clap" else max(args.batch_size, args.files // 8)
    model = load_zeroshot(backbone, CLASSES)
    os.environ["SEPTCTL_CACHE"] = str(work / "cache")
    times: dict[str, list[tuple[float, float]]] = {"bare": [], "predict": []}
    if args.no_cache_too:
        times["predict --no-cache"] = []
    for rep in range(args.repeats + 1):  # pass 0 warms up: allocator, kernels, the weights hash, the cache file
        folder = work / f"{name}-{rep}"  # new recordings each pass: the cache exists and holds none of them
        folder.mkdir()
        files = write_files(folder, backbone.audio_spec, n, seed=rep)
        paths = {"bare": lambda: bare(backbone, files, args.batch_size),
                 "predict": lambda: shipped(model, folder, n, args.batch_size, cache=True),
                 "predict --no-cache": lambda: shipped(model, folder, n, args.batch_size, cache=False)}
        order = list(times) if rep % 2 else list(times)[::-1]
        for key in order:
            timing = common.timed(paths[key], args.device)
            if rep:
                times[key].append(timing)
    best = {k: min(v) for k, v in times.items()}
    spec = backbone.audio_spec
    print(f"\n{name}: {n} files of {spec.clip_seconds:g} s at {spec.sample_rate} Hz, batch {args.batch_size}, "
          f"best of {args.repeats}")
    for key, (wall, cpu) in best.items():
        print(f"  {key:<18} {n / wall:9.2f} files/s  ({wall:.3f} s wall, {cpu:.3f} s CPU)")
    wall, cpu = (100 * (best["predict"][j] / best["bare"][j] - 1) for j in (0, 1))
    print(f"  {name} overhead: {wall:.1f} % wall, {cpu:.1f} % CPU")
    return cpu if args.device == "cpu" else wall


def shipped(model, folder: Path, n: int, batch: int, cache: bool) -> None:
    rows = model.predict([str(folder)], top_k=5, batch_size=batch, cache=cache)
    assert len(rows) == n and not model.failures


def main() -> None:
    args = parse_args()
    common.setup_process(args)
    print(common.describe_machine(args.device))
    with tempfile.TemporaryDirectory() as tmp:
        overheads = [measure(name.strip(), args, Path(tmp)) for name in args.backbones.split(",")]
    print(f"predict overhead: {max(overheads):.1f} %  ({'CPU' if args.device == 'cpu' else 'wall'} time, the larger "
          f"of the backbones')")


if __name__ == "__main__":
    main()
