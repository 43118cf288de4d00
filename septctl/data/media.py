"""What kind of media a file is, by its suffix: a dataset holds one kind, sounds or images.

Cheap (no file is opened), so `DatasetFolder.modality` and the folder reader can ask it of
every file. A folder or split holding both kinds is taken as the kind most of its files are,
sounds on a tie (`majority`): the other kind's files are left out, and `data check` says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import PurePath

from septctl.data.image import IMAGE_SUFFIXES
from septctl.defaults import MODALITIES

AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".aif", ".aiff", ".au", ".m4a"}
SUFFIXES = {"audio": AUDIO_SUFFIXES, "image": IMAGE_SUFFIXES}
NOUNS = {"audio": "sounds", "image": "images"}  # what messages call a modality's files
ITEMS = {"audio": "clip", "image": "image"}  # what messages call one training or test example


def kind(name: str | PurePath) -> str | None:
    """"audio", "image", or None for any other file."""
    suffix = PurePath(name).suffix.lower()
    return next((m for m in MODALITIES if suffix in SUFFIXES[m]), None)


def count(names: Iterable[str | PurePath]) -> Counter:
    """How many of `names` are of each kind (other files are not counted)."""
    return Counter(k for k in map(kind, names) if k is not None)


def majority(counts: Counter) -> str:
    """The kind most files are; audio on a tie (and when there are none), as septctl was an audio tool first."""
    return "image" if counts["image"] > counts["audio"] else "audio"
