"""The backbone's declaration, exactly as septctl's own entries in septctl/backbones/registry.py."""

from septctl.backbones.registry import BackboneSpec, WeightsSource

WIDE_TINY = BackboneSpec(
    "wide-tiny", "septctl_toy.backbone:load_wide_tiny", embed_dim=48, token_dim=32, sample_rate=16000,
    clip_seconds=2.0, text_len=40, source=WeightsSource("none", notes="random, fixed seed"),
)
