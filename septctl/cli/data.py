"""`septctl data list | prepare | download | check`."""

import shlex
from pathlib import Path
from typing import Annotated, Optional

import typer

from septctl.backbones.registry import SPECS, backbones_for
from septctl.data.registry import NAMES
from septctl.cli import panels
from septctl.cli.common import err, next_step, out
from septctl.cli.listing import Column, ListFormatOption, show_listing
from septctl.cli.options import (AsJson, Backbone, BackboneOption, DataRoot, Dataset, Quiet, SynthDataset, choice,
                                 default_backbone)
from septctl.defaults import DEFAULT_BACKBONE
from septctl.console import counted, styled

Source = choice("Source", ("palm", "original"))

data_app = typer.Typer(help="Datasets: check any folder of your own sounds or images (no preparation needed); list, "
                            "prepare or download the paper's 11 benchmarks and Caltech101; synthesize small ones.",
                       no_args_is_help=True)


@data_app.command("list")
def list_datasets(fmt: ListFormatOption = None, as_json: AsJson = False) -> None:
    """Show the registered datasets (the paper's 11, and Caltech101 for image backbones): classes, folds and the
    base/new split (your own folder needs no entry here)."""
    from septctl.data.registry import DATASETS

    columns = [Column("name"), Column("task", wraps=True), Column("classes"), Column("folds"), Column("base"),
               Column("new")]
    ordered = "".join(f"; {d.name}: in its label order" for d in DATASETS if d.label_order)
    show_listing(f"septctl datasets (base = first ceil(K/2) sorted classes{ordered})", columns,
                 [[d.name, d.task, str(len(d.classes)), str(d.folds), list(d.base), list(d.new)] for d in DATASETS],
                 [d.as_dict() for d in DATASETS], "json" if as_json else (fmt.value if fmt else None))


@data_app.command("prepare")
def prepare(
    name: Annotated[str, typer.Argument(help=f"Dataset to prepare: {', '.join(NAMES)} (or an alias).")],
    source: Annotated[Path, typer.Option("--source", help="The unpacked original release.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to create in the common layout (must not exist).")],
    allow_missing: Annotated[bool, typer.Option(
        "--allow-missing", help="Prepare from the files that exist when some are missing or unreadable.")] = False,
    link: Annotated[bool, typer.Option("--link", help="Symlink the files instead of copying them.")] = False,
) -> None:
    """Convert a dataset's original release into the common layout (the release is never modified)."""
    from septctl.data.prepare import prepare as run_prepare
    from septctl.data.registry import require_dataset

    info = require_dataset(name)
    plan = run_prepare(info.name, source, out_dir, allow_missing=allow_missing, link=link)
    for bad, what in ((plan.missing, "missing"), (plan.unreadable, "unreadable")):
        if bad:
            err.print(styled(f"skipped {len(bad)} {what} file(s)", "yellow"), f"(first: {', '.join(bad[:3])})")
    counts = ", ".join(f"{k}: {len(v)}" for k, v in plan.splits.items())
    err.print(f"prepared {info.name} in {out_dir} ({counted(len(plan.files), 'file')}; {counts})")


@data_app.command("download")
def download(
    name: Annotated[str, typer.Argument(help=f"Dataset to fetch: {', '.join(NAMES)} (or an alias).")],
    out_dir: Annotated[Optional[Path], typer.Option(
        "--out", envvar="SEPTCTL_DATA",
        help="Data root; the dataset lands in <out>/<Folder> (default: $SEPTCTL_DATA or ./data).")] = None,
    source: Annotated[Source, typer.Option(
        "--source", help="palm: PALM's copy from the HF hub; original: how to get the original release."
    )] = Source.palm,
) -> None:
    """Fetch PALM's copy of a dataset (needs huggingface_hub and network), or show how to get the original."""
    from septctl.data import download as dl
    from septctl.data.registry import require_dataset

    info = require_dataset(name)
    root = Path(out_dir or "data").expanduser()
    if source is Source.original:
        rel = dl.RELEASES[info.name]
        out.print(f"{info.name}: {rel.url}" + (" (licence-gated: fetch it by hand)" if rel.gated else ""))
        out.print(f"  {rel.steps}")
        out.print(f"  then: septctl data prepare {info.name} --source RELEASE --out {root / info.folder}")
        return
    dest = dl.download_palm(info, root)
    bad = False
    for c in dl.completeness(dest, info):
        want = "" if c.expected is None else f" (PALM: {c.expected})"
        status = styled("ok", "green") if c.ok else styled("incomplete", "red")
        found = "CSV absent" if c.rows < 0 else f"{c.rows} files{want}, {c.absent} absent"
        out.print(status, f"{c.csv}: {found}")
        bad = bad or not c.ok
    if bad:
        err.print(styled(f"{dest} is incomplete", "red"),
                  f"; rerun the download (it resumes) or see `septctl data check {dest}`", sep="")
        raise typer.Exit(1)
    err.print(f"{info.name} ready in {dest}; use it as `{dest}` or `{info.name} --data-root {root}`")


@data_app.command("check")
def check(
    dataset: Dataset,
    data_root: DataRoot = None,
    backbone: BackboneOption = Backbone(DEFAULT_BACKBONE),
    clip_seconds: Annotated[Optional[float], typer.Option(
        "--clip-seconds", min=0.1, show_default="the backbone's",
        help="Clip length to measure against: " + ", ".join(f"{s.name} {s.clip_seconds:g}" for s in SPECS.values())
        + "."
    )] = None,
    quiet: Quiet = False,
) -> None:
    """Read every file's header: per-class and per-split counts, unreadable files; for sounds durations, sample
    rates and clip lengths against the backbone's, for images their sizes."""
    from rich.table import Table

    from septctl.data.check import check_dataset

    report = check_dataset(dataset, data_root, clip_seconds or SPECS[backbone.value].clip_seconds)

    table = Table(title=f"{report.name}: {report.n_files} files, {len(report.unreadable)} unreadable")
    for col in report.columns:
        table.add_column(col)
    for row in report.rows:
        table.add_row(*row)
    out.print(table)
    for note in report.notes:
        out.print(note, highlight=False)
    if clip_seconds is None and report.modality == "audio":
        out.print(f"(the clip length is {backbone.value}'s; --backbone or --clip-seconds for another)", highlight=False)
    if report.unreadable:
        for path, why in report.unreadable[:10]:
            err.print(styled("unreadable", "red"), f"{path}: {why}")
        raise typer.Exit(1)
    named = "" if backbone.value == default_backbone() else f" --backbone {backbone.value}"
    if SPECS[backbone.value].modality != report.modality:  # e.g. images and the default, Pengi
        fits = backbones_for(report.modality)
        out.print(f"({report.modality} data: embed it with a backbone for {report.modality}: "
                  f"{', '.join(fits) or 'none is registered'})", highlight=False)
        named = " --backbone BACKBONE"
    next_step(f"septctl embed {shlex.quote(dataset)}{named}", quiet)


@data_app.command("synth")
def synth(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to create in the common layout (must not exist).")],
    train_per_class: Annotated[int, typer.Option("--train-per-class", min=1,
                                                 help="Training clips (or pictures) per class.")] = 20,
    test_per_class: Annotated[int, typer.Option("--test-per-class", min=1,
                                                help="Test clips (or pictures) per class.")] = 10,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthesized sounds or pictures.")] = 0,
    dataset: Annotated[Optional[SynthDataset], typer.Option(
        "--dataset", help="A dataset of the world `--backbone synth-clap` knows, or synth-shapes, pictures for the "
                          "image backbones (default: 8 generic sound classes)."
    )] = None,
) -> None:
    """Synthesize a small dataset: 8 clearly distinct sound classes, a synth-* world dataset, or pictures of
    coloured shapes (--dataset synth-shapes)."""
    from septctl.data.registry import find_dataset
    from septctl.data.synth import synthesize_dataset, synthesize_world

    info = find_dataset(dataset.value) if dataset is not None else None
    if info is None:
        classes = synthesize_dataset(out_dir, train_per_class, test_per_class, seed=seed)
    elif info.modality == "image":
        from septctl.data.shapes import synthesize_shapes

        classes = synthesize_shapes(out_dir, info.classes, train_per_class, test_per_class, seed=seed)
    else:
        classes = synthesize_world(dataset.value, out_dir, train_per_class, test_per_class, seed=seed)
    err.print(f"synthesized {counted(len(classes), 'class')} ({', '.join(classes)}) in {out_dir}")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data", rich_help_panel=panels.DATA)
