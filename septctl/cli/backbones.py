"""`septctl backbones` (what each model needs, what is cached) and `septctl download` (weights)."""

from typing import Annotated, Optional

import typer

from septctl.cli import panels
from septctl.cli.common import err
from septctl.cli.listing import Column, ListFormatOption, show_listing
from septctl.cli.options import AsJson, Backbone, Weights
from septctl.errors import SeptctlError


def backbones(fmt: ListFormatOption = None, as_json: AsJson = False) -> None:
    """List the backbones: dimensions, audio format (or image size), where weights come from, whether they are cached here."""
    from septctl.backbones.registry import SPECS
    from septctl.backbones.weights import cached_weights

    rows = [{**spec.listing(), "cached": cached_weights(name)} for name, spec in SPECS.items()]
    columns = [Column("name"), Column("embed dim"), Column("token dim"), Column("sample rate"), Column("clip"),
               Column("text len"), Column("weights from", wraps=True), Column("cached here", wraps=True)]
    cells = [[r["name"], str(r["embed_dim"]), str(r["token_dim"]), *_input_cells(r), str(r["text_len"]), r["weights"],
              r["cached"] or "no"] for r in rows]
    show_listing("septctl backbones", columns, cells, rows, "json" if as_json else (fmt.value if fmt else None))


def _input_cells(row: dict) -> tuple[str, str]:
    """The "sample rate" and "clip" cells: an image backbone's are "image" and its side in pixels."""
    if row["modality"] == "image":
        return "image", f"{row['image_size']} px"
    return f"{row['sample_rate']} Hz", f"{row['clip_seconds']:g} s"


def download(
    backbone: Annotated[Backbone, typer.Argument(
        help="Whose weights to fetch (pengi; the others need no download, see `septctl backbones`).")],
    weights: Weights = None,
    sha256: Annotated[Optional[str], typer.Option(
        "--sha256", help="Pin the checkpoint's sha256 (hex); refuse any other.")] = None,
) -> None:
    """Fetch a backbone's released weights into the cache (resumable), check and convert them once."""
    from septctl.backbones.registry import SPECS, downloadable, hub_backbones, resolve

    backbone = backbone.value
    if backbone not in downloadable():
        *others, last = hub_backbones()
        raise SeptctlError(
            f"download {backbone!r}: only {', '.join(downloadable())} is fetched by septctl; "
            f"{', '.join(others)} and {last} come from the Hugging Face hub on first use"
        )
    if sha256 is not None and (len(sha256) != 64 or any(c not in "0123456789abcdefABCDEF" for c in sha256)):
        raise SeptctlError(f"--sha256 {sha256!r}: expected 64 hex digits")
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    with Progress(
        "{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=weights is not None,
    ) as bar:
        source = SPECS[backbone].source
        task = bar.add_task(f"{backbone} {source.location.rsplit('/', 1)[-1]}", total=None)

        def advance(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        card = resolve(SPECS[backbone].download)(sha256=sha256, local=weights, on_progress=advance)
    pin = "pinned" if card["pinned"] else "recorded; pin it with --sha256 to refuse any other file"
    err.print(f"{backbone} weights ready: {card['path']}\nsha256 {card['sha256']} ({pin})", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("backbones", rich_help_panel=panels.BACKBONES)(backbones)
    app.command("download", rich_help_panel=panels.BACKBONES)(download)
