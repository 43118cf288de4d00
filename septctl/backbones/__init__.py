"""Audio-language model backbones behind one interface (see base.py); which ones exist: registry.py.

Importing this package loads no torch (registry.py is plain data); `load_backbone` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from septctl.backbones.registry import BACKBONES, get_spec, resolve
from septctl.devices import check_device

if TYPE_CHECKING:
    from septctl.backbones.base import Backbone


def load_backbone(name: str, weights: str | Path | None = None, device: str = "cpu") -> Backbone:
    """Build a frozen backbone by name through its spec's factory (imported lazily: keeps the CLI fast)."""
    device = check_device(device)
    factory = resolve(get_spec(name).factory)
    return factory(weights).to(device).freeze()


__all__ = ["BACKBONES", "load_backbone"]
