"""Image embedding time of CLIP ViT-B/16 (random full-size weights) on this CPU, as `septctl embed` runs it.

    python benchmarks/bench_embed_clip.py [--threads N] [--images N] [--batch B]

The weights are random (speed does not depend on their values), saved as a release folder and
loaded by `load_clip_vit`, the real loading code. The images are JPEGs of about Caltech101's size
(300 x 200); `encode_files` reads, preprocesses and encodes them in batches (16 by default, as
`septctl embed`). Prints ms per image in all and for reading + preprocessing alone, and what
embedding CoOp's Caltech101 split (4,128 train + 1,649 val + 2,465 test images) once would take.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from septctl.backbones.clip_vit import B16_CONFIG, clip_config, load_clip_vit

CALTECH101_IMAGES = 4128 + 1649 + 2465


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from PIL import Image, ImageDraw
    from transformers import CLIPModel

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        torch.manual_seed(0)
        CLIPModel(clip_config(B16_CONFIG)).save_pretrained(folder / "weights")
        model = load_clip_vit(folder / "weights")
        paths = []
        for i in range(args.images):
            im = Image.new("RGB", (300 + i % 7, 200 + i % 5), (255, 255, 255))
            ImageDraw.Draw(im).ellipse((30 + i % 50, 20, 200, 180), fill=(i * 5 % 256, 80, 160))
            paths.append(folder / f"{i}.jpg")
            im.save(paths[-1])
        model.encode_files(paths[: args.batch], batch_size=args.batch)  # warm-up
        start = time.perf_counter()
        model.encode_files(paths, batch_size=args.batch)
        total = (time.perf_counter() - start) / args.images
        start = time.perf_counter()
        model.pixels([Image.open(p).convert("RGB") for p in paths])
        prep = (time.perf_counter() - start) / args.images
    print(f"torch {torch.__version__}, {args.threads} threads, CLIP ViT-B/16 image tower + projection, fp32, "
          f"batch {args.batch}, {args.images} images")
    print(f"{1000 * total:.0f} ms/image, of which reading + preprocessing {1000 * prep:.1f} ms")
    print(f"CoOp's Caltech101 split ({CALTECH101_IMAGES} images) embedded once: {CALTECH101_IMAGES * total / 60:.0f} min")


if __name__ == "__main__":
    main()
