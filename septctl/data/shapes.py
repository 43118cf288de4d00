"""synth-shapes: coloured shapes named by class ("red circle"), a small image dataset for tests and the demo.

Written in the class-folder layout with the split as folders, DIR/{train,test}/<class>/<n>.png
(class folders spell spaces as '_', which the folder reader reads back as spaces), so the
counts asked for are the counts written and no CSV is needed. Each picture has one shape at
a random place, size and angle on a noisy background of a random dull colour; the colours
vary around their name, so a class is a description, not one fixed picture. Picture i of
class c in a split comes from seed (seed, c, split, i): test pictures never depend on how
many training pictures were asked for. Pillow is imported only here.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np

from septctl.data.layout import write_layout

SIZE = 64  # pixels a side: enough for clip-tiny; CLIP's processor resizes to its own size anyway
COLOURS = {"red": (210, 40, 40), "green": (40, 170, 60), "blue": (40, 70, 210)}
SHAPES = ("circle", "square", "triangle", "star")
SPLITS = ("train", "test")


def _outline(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    """The polygon of a shape of radius r centred at (cx, cy), turned by angle (radians)."""
    if shape == "circle":
        corners = [(r, 2 * math.pi * k / 48) for k in range(48)]
    elif shape == "square":
        corners = [(r, angle + math.pi / 4 + math.pi / 2 * k) for k in range(4)]
    elif shape == "triangle":
        corners = [(r, angle + 2 * math.pi / 3 * k) for k in range(3)]
    else:  # a five-pointed star: outer and inner corners in turn
        corners = [(r if k % 2 == 0 else 0.45 * r, angle + math.pi / 5 * k) for k in range(10)]
    return [(cx + d * math.cos(a), cy + d * math.sin(a)) for d, a in corners]


def draw(colour: str, shape: str, rng: np.random.Generator):
    """One SIZE x SIZE RGB picture of a `colour` `shape` (a PIL image)."""
    from PIL import Image, ImageDraw

    background = rng.uniform(90, 170, size=3)
    pixels = background + rng.normal(0, 12, size=(SIZE, SIZE, 3))
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    r = rng.uniform(0.18, 0.36) * SIZE
    cx, cy = rng.uniform(r, SIZE - r, size=2)
    fill = tuple(int(v) for v in np.clip(np.array(COLOURS[colour]) + rng.normal(0, 15, size=3), 0, 255))
    ImageDraw.Draw(image).polygon(_outline(shape, cx, cy, r, rng.uniform(0, 2 * math.pi)), fill=fill)
    return image


def synthesize_shapes(out: Path, classes: tuple[str, ...], train_per_class: int = 20, test_per_class: int = 10,
                      seed: int = 0) -> list[str]:
    """Write the pictures of `classes` ("<colour> <shape>") to `out` (which must not exist); return the classes."""
    counts = {"train": train_per_class, "test": test_per_class}
    with tempfile.TemporaryDirectory() as tmp:
        files: dict[str, Path] = {}
        for c, cls in enumerate(classes):
            colour, shape = cls.split()
            for s, split in enumerate(SPLITS):
                for i in range(counts[split]):
                    rel = f"{split}/{cls.replace(' ', '_')}/{i:03d}.png"
                    src = Path(tmp) / rel.replace("/", "-")
                    draw(colour, shape, np.random.default_rng([seed, c, s, i])).save(src, format="PNG")
                    files[rel] = src
        write_layout(Path(out), files, {})
    return sorted(classes)
