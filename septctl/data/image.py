"""Reading image files, as CoOp's datasets do (`PIL.Image.open(path).convert("RGB")`).

Pillow is imported only when an image is read, so audio commands never load it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from septctl.errors import SeptctlError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def read_image(path: str | Path) -> Any:
    """The image at `path` as an RGB `PIL.Image` (palette, grey and alpha images converted); refused by name when
    it cannot be decoded."""
    with _opened(path) as im:
        return im.convert("RGB")


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) from the file's header (Pillow decodes no pixels for it); refused by name when unreadable."""
    with _opened(path) as im:
        return im.size


@contextmanager
def _opened(path: str | Path) -> Iterator[Any]:
    """The file opened by Pillow; any failure to open or decode it (in the `with` body too) refused by name."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            yield im
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SeptctlError(f"{path}: not a readable image ({reason}); replace or remove the file") from None
