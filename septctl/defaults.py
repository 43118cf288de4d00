"""Defaults and choices every command shares, in one torch-free place (importing septctl.backbones loads torch)."""

DEFAULT_BACKBONE = "pengi"
"""The paper's ALM. `tiny` (random weights) is for tests and the demo, and only when asked for."""

BACKBONE_ENV = "SEPTCTL_BACKBONE"
"""The environment variable that replaces DEFAULT_BACKBONE in every command (e.g. synth-clap, offline)."""

N_CTX = 16
"""Learned context vectors in front of each class name (CoOp's M; the paper's setting)."""

CROPS = ("seeded", "center", "start")
"""How a clip longer than the backbone's is cut: a seeded window per file (default), the middle, or the start."""

DEFAULT_TEMPLATE = "This is a sound of {}."
"""The hand-written prompt (the paper's): zero-shot's, KgCoOp's reference, and what neighbor statistics and
figures encode names with."""

IMAGE_TEMPLATE = "a photo of a {}."
"""The hand-written prompt of an image backbone (CoOp's for Caltech101): zero-shot's, and what neighbor statistics
encode names with when the backbone embeds images."""


def zeroshot_template(modality: str) -> str:
    """The hand-written prompt a zero-shot classifier uses unless given one: by what the backbone embeds."""
    return IMAGE_TEMPLATE if modality == "image" else DEFAULT_TEMPLATE


PALM_TEMPLATE = "The is a recording of {}."
"""PALM's zero-shot prompt, typo and all (its code writes "The is a recording of  {name}."; the tokenizer collapses
the double space): for zero-shot numbers like-for-like with PALM's published ones (docs/experiments.md)."""

MODALITIES = ("audio", "image")
"""What a backbone embeds and a dataset holds; SEPT's LLM requests and built-in templates are worded for each."""
