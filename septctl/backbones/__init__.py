"""Audio-language model backbones behind one interface (see base.py)."""

from __future__ import annotations

from pathlib import Path

from septctl.backbones.base import AudioSpec, Backbone
from septctl.devices import check_device
from septctl.errors import SeptctlError

BACKBONES = ("tiny", "pengi", "laion-clap", "ms-clap", "synth-clap")


def load_backbone(name: str, weights: str | Path | None = None, device: str = "cpu") -> Backbone:
    """Build a frozen backbone by name. Real models import lazily (keeps the CLI fast)."""
    device = check_device(device)
    if name == "tiny":
        from septctl.backbones.tiny import TinyBackbone

        if weights is not None:
            raise SeptctlError(f"{weights}: the tiny backbone has built-in random weights; drop --weights")

        model = TinyBackbone()
    elif name == "pengi":
        from septctl.backbones.pengi import load_pengi

        model = load_pengi(weights)
    elif name == "laion-clap":
        from septctl.backbones.laion_clap import load_laion_clap

        model = load_laion_clap(weights)
    elif name == "ms-clap":
        from septctl.backbones.ms_clap import load_ms_clap

        model = load_ms_clap(weights)
    elif name == "synth-clap":
        from septctl.backbones.synth_clap import load_synth_clap

        model = load_synth_clap(weights)
    else:
        raise SeptctlError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    return model.to(device).freeze()


__all__ = ["AudioSpec", "Backbone", "BACKBONES", "load_backbone"]
