"""load_wide_tiny: septctl's tiny test architecture with a wider embedding."""

from septctl.backbones.tiny import TinyBackbone


def load_wide_tiny(weights: object = None) -> TinyBackbone:
    backbone = TinyBackbone(embed_dim=48)
    backbone.name = "wide-tiny"
    return backbone
