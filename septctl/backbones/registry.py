"""Every backbone septctl knows, as data: one `BackboneSpec` per model, in `SPECS`.

Loading (`load_backbone`), `septctl backbones`, `septctl doctor` and `septctl download` all
read this table, the way open_clip keeps model configs as data and pretrained sources in
one table. It imports no torch (the CLI lists backbones fast); each spec names its
factory by import path, imported only when the model is built. Adding a backbone is one
module with a `load_<name>(weights)` factory plus one entry here, or a plug-in package that
registers its BackboneSpec (septctl/plugins.py), merged below the table.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Literal

from septctl import plugins
from septctl.errors import SeptctlError


@dataclass(frozen=True)
class WeightsSource:
    """Where a backbone's weights come from.

    kind: "none" (built from a seed), "shipped" (in the package), "url" (fetched by
    `septctl download NAME` into the weights cache, recorded in a card) or "hub"
    (Hugging Face hub `location`/`file`, fetched on first use).
    """

    kind: Literal["none", "shipped", "url", "hub"]
    location: str = ""  # URL (kind "url") or hub repo id (kind "hub")
    file: str = ""  # file name in the hub repo, or the name the download is cached under
    sha256: str | None = None  # published digest; None where the release publishes none
    licence: str = ""
    notes: str = ""  # what `septctl backbones` shows; derived for hub sources when empty

    def describe(self) -> str:
        return self.notes or f"HF hub {self.location}, on first use"


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    factory: str  # "module:function"; the function takes `weights` (a path or None) and returns a Backbone
    embed_dim: int
    token_dim: int
    sample_rate: int
    clip_seconds: float
    text_len: int
    source: WeightsSource
    download: str = ""  # "module:function" behind `septctl download NAME` (kind "url" only)
    modality: str = "audio"  # what it embeds: "audio" (sample_rate, clip_seconds) or "image" (image_size)
    image_size: int = 0  # side of the square an image backbone sees, in pixels

    def listing(self) -> dict[str, Any]:
        """The row `septctl backbones --json` prints (before the cache column)."""
        return dict(name=self.name, modality=self.modality, embed_dim=self.embed_dim, token_dim=self.token_dim,
                    sample_rate=self.sample_rate, clip_seconds=self.clip_seconds, image_size=self.image_size,
                    text_len=self.text_len, weights=self.source.describe())


def resolve(target: str) -> Callable[..., Any]:
    """The function a "module:function" path names (imports the module)."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


_HUB_LICENCE = "as stated on the hub model card"
SPECS: dict[str, BackboneSpec] = {s.name: s for s in (
    BackboneSpec("tiny", "septctl.backbones.tiny:load_tiny", embed_dim=64, token_dim=32, sample_rate=16000,
                 clip_seconds=2.0, text_len=40,
                 source=WeightsSource("none", notes="random, fixed seed (tests, demos)")),
    BackboneSpec("pengi", "septctl.backbones.pengi:load_pengi", embed_dim=1024, token_dim=512, sample_rate=44100,
                 clip_seconds=7.0, text_len=40,
                 source=WeightsSource("url", "https://zenodo.org/records/8387083/files/base.pth", "pengi-base.pth",
                                      licence="as stated on zenodo record 8387083",
                                      notes="zenodo 8387083 base.pth: septctl download pengi"),
                 download="septctl.backbones.pengi:download_pengi"),
    BackboneSpec("laion-clap", "septctl.backbones.laion_clap:load_laion_clap", embed_dim=512, token_dim=768,
                 sample_rate=48000, clip_seconds=10.0, text_len=77,
                 source=WeightsSource("hub", "laion/clap-htsat-unfused", "model.safetensors", licence=_HUB_LICENCE)),
    BackboneSpec("ms-clap", "septctl.backbones.ms_clap:load_ms_clap", embed_dim=1024, token_dim=768,
                 sample_rate=44100, clip_seconds=7.0, text_len=77,
                 source=WeightsSource("hub", "microsoft/msclap", "CLAP_weights_2023.pth", licence=_HUB_LICENCE)),
    BackboneSpec("synth-clap", "septctl.backbones.synth_clap:load_synth_clap", embed_dim=128, token_dim=64,
                 sample_rate=16000, clip_seconds=1.0, text_len=40,
                 source=WeightsSource("shipped", notes="ships with septctl (trained on the synth world; "
                                                        "python -m septctl.backbones.synth_clap_train)")),
    BackboneSpec("clip-vit-b16", "septctl.backbones.clip_vit:load_clip_vit", embed_dim=512, token_dim=512,
                 sample_rate=0, clip_seconds=0, text_len=77, modality="image", image_size=224,
                 source=WeightsSource("hub", "openai/clip-vit-base-patch16", "model.safetensors",
                                      licence=_HUB_LICENCE)),
    BackboneSpec("clip-tiny", "septctl.backbones.clip_vit:load_clip_tiny", embed_dim=64, token_dim=32,
                 sample_rate=0, clip_seconds=0, text_len=77, modality="image", image_size=64,
                 source=WeightsSource("none", notes="random CLIP, fixed seed (tests, image demo)")),
)}


def _factory_path(declared: BackboneSpec) -> None:
    if ":" not in declared.factory:
        raise ValueError(f"factory {declared.factory!r} is not 'module:function'")


plugins.merge(SPECS, "septctl.backbones", BackboneSpec, check=_factory_path)
BACKBONES = tuple(SPECS)


def get_spec(name: str) -> BackboneSpec:
    try:
        return SPECS[name]
    except KeyError:
        raise SeptctlError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}") from None


def downloadable() -> tuple[str, ...]:
    """The backbones `septctl download` fetches (their weights are a URL, not the hub)."""
    return tuple(n for n, s in SPECS.items() if s.source.kind == "url")


def backbones_for(modality: str) -> list[str]:
    """The backbones that embed `modality` ("audio" or "image"): what a refusal of the other kind names."""
    return [n for n, s in SPECS.items() if s.modality == modality]


def hub_backbones() -> tuple[str, ...]:
    return tuple(n for n, s in SPECS.items() if s.source.kind == "hub")


__all__ = ["BACKBONES", "SPECS", "BackboneSpec", "WeightsSource", "get_spec", "resolve"]
