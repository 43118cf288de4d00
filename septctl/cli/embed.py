"""`septctl embed`: audio embeddings of a whole dataset, computed once and cached."""

import shlex
from pathlib import Path
from typing import Annotated, Optional

import typer

from septctl.cli import panels
from septctl.cli.common import next_step, set_threads
from septctl.cli.options import (Backbone, BackboneOption, Crop, CropOption, DataRoot, Dataset, Device, Quiet,
                                 Recompute, Weights)
from septctl.defaults import DEFAULT_BACKBONE


def embed(
    dataset: Dataset,
    backbone: BackboneOption = Backbone(DEFAULT_BACKBONE),
    weights: Weights = None,
    data_root: DataRoot = None,
    crop: CropOption = Crop.seeded,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Clips per forward pass.")] = 16,
    device: Device = "cpu",
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Write here instead of the cache ($SEPTCTL_CACHE/embeddings).")] = None,
    force: Recompute = False,
    quiet: Quiet = False,
) -> None:
    """Embed every file of DATASET once; splits and folds later only select rows. A rerun is a cache hit."""
    set_threads()
    from septctl.embed import embed_named

    embed_named(dataset, backbone.value, weights=weights, data_root=data_root, device=device, crop=crop.value,
                batch_size=batch_size, out=out, progress=not quiet, force=force)
    next_step(f"septctl train {shlex.quote(dataset)} --backbone {backbone.value}", quiet)


def register(app: typer.Typer) -> None:
    app.command("embed", rich_help_panel=panels.DATA)(embed)
