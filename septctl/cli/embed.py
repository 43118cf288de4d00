"""`septctl embed`: audio embeddings of a whole dataset, computed once and cached."""

from __future__ import annotations

import shlex

from pathlib import Path

import typer

from septctl.cli import panels
from septctl.cli.common import err, next_step, set_threads
from septctl.cli.options import BACKBONE_HELP, Device
from septctl.console import counted
from septctl.defaults import DEFAULT_BACKBONE


def embed(
    dataset: str = typer.Argument(..., help="A prepared dataset folder, or a dataset name under --data-root."),
    backbone: str = typer.Option(DEFAULT_BACKBONE, "--backbone", "-b", help=BACKBONE_HELP),
    weights: Path = typer.Option(None, "--weights", help="Local checkpoint for the backbone."),
    data_root: Path = typer.Option(None, "--data-root", envvar="SEPTCTL_DATA", help="Where prepared datasets live."),
    crop: str = typer.Option("seeded", "--crop", help="How long clips are cut: seeded (default), center, start."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Clips per forward pass."),
    device: Device = "cpu",
    out: Path = typer.Option(None, "--out", help="Write here instead of the cache ($SEPTCTL_CACHE/embeddings)."),
    force: bool = typer.Option(False, "--force", help="Recompute and rewrite the cache entry even if it is whole."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Embed every file of DATASET once; splits and folds later only select rows. A rerun is a cache hit."""
    set_threads()
    from septctl.backbones import load_backbone
    from septctl.data.layout import open_dataset
    from septctl.embed import embed_dataset

    folder = open_dataset(dataset, data_root)
    model = load_backbone(backbone, weights, device)
    emb, hit = embed_dataset(folder, model, crop=crop, batch_size=batch_size, out=out, progress=not quiet,
                             force=force)
    state = "cache hit" if hit else "computed"
    err.print(f"{state}: {counted(len(emb.files), 'embedding')} of {folder.name} [{tuple(emb.features.shape)}] -> {emb.path}")
    next_step(f"septctl train {shlex.quote(dataset)} --backbone {backbone}", quiet)


def register(app: typer.Typer) -> None:
    app.command("embed", rich_help_panel=panels.DATA)(embed)
