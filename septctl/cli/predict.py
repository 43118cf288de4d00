"""`septctl predict`: top-k labels of new recordings, from a run's learned prompt or a zero-shot template."""

import csv
import io
import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from septctl.cli import panels
from septctl.cli.common import err, out, set_threads
from septctl.cli.options import Device, Force, Quiet, Weights, ZeroshotBackbone, choice, default_backbone
from septctl.defaults import DEFAULT_TEMPLATE, IMAGE_TEMPLATE

OutputFormat = choice("OutputFormat", ("table", "csv", "jsonl"))
FAILED = 1  # exit status when some inputs could not be read (the others were predicted)


def predict(
    run: Annotated[str, typer.Argument(help="A run folder; with --zeroshot, the first input.")],
    inputs: Annotated[Optional[list[str]], typer.Argument(
        show_default=False,
        help="Audio files, folders (searched recursively), globs (quoted: 'rec/**/*.wav') or @LIST files "
             "(one path a line).")] = None,
    classes: Annotated[Optional[str], typer.Option(
        "--classes", show_default="all of the run's classes",
        help="base, new or all of the run's dataset's classes; or names, comma-separated ('dog,cat,siren'), or a "
             "file of names, one a line. Names the run never trained on are welcome.")] = None,
    list_file: Annotated[Optional[Path], typer.Option(
        "--list", help="A file of inputs, one a line (relative to the current folder); - reads stdin.")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Labels per row, best first.")] = 5,
    fmt: Annotated[Optional[OutputFormat], typer.Option(
        "--format", show_default="from --out's suffix (.jsonl, else csv); else table on a terminal, csv when piped",
        help="table, CSV (columns file, window, start_s, end_s, label_1, prob_1, ...) or JSON Lines.")] = None,
    out_file: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="Write the rows here (whole, or not at all) instead of stdout.")] = None,
    window: Annotated[Optional[float], typer.Option(
        "--window", show_default="the backbone's clip length",
        help="Seconds per window (at most the backbone's clip); a recording longer than one window is cut into "
             "several, a shorter one is padded as `septctl embed` pads it.")] = None,
    hop: Annotated[Optional[float], typer.Option(
        "--hop", show_default="--window", help="Seconds between window starts; the last window ends at the file's "
                                               "end.")] = None,
    per_window: Annotated[bool, typer.Option(
        "--per-window", help="One row per window (window = its index, from 0). Without it, one row per file "
                             "(window empty): the mean of its windows' probabilities.")] = False,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Stop at the first unreadable input (exit 2) instead of listing it and going on.")] = False,
    zeroshot: Annotated[bool, typer.Option(
        "--zeroshot", help="No run: score a hand-written --template on --backbone (--classes must name classes).")] = False,
    backbone: ZeroshotBackbone = None,
    template: Annotated[Optional[str], typer.Option(
        "--template", show_default=f"{DEFAULT_TEMPLATE!r}; {IMAGE_TEMPLATE!r} on an image backbone",
        help="Zero-shot template with one {}.")] = None,
    weights: Weights = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Windows per forward pass.")] = 16,
    no_cache: Annotated[bool, typer.Option(
        "--no-cache", help="Encode every file even if its content was encoded before ($SEPTCTL_CACHE/predict).")] = False,
    device: Device = "cpu",
    quiet: Quiet = False,
    force: Force = False,
) -> None:
    """Label recordings: per file (or window) the top-k classes with probabilities, a softmax at the run's logit scale.

    Exit status: 0 when every input was predicted; 2 for a usage error.

    Exit status 1: some inputs could not be read; each is listed on stderr with its reason, the rest are predicted.
    With --strict the first one stops the command instead, with exit status 2.
    """
    set_threads()
    from septctl.errors import SeptctlError
    from septctl.predict import load_run, load_zeroshot, read_list

    if zeroshot:
        run_dir, named = None, [run, *(inputs or [])]
    else:
        if backbone is not None:
            raise SeptctlError("--backbone applies to --zeroshot only; a run predicts with the backbone it was trained on")
        run_dir, named = Path(run), list(inputs or [])
    named = [x for p in named for x in (read_list(p[1:]) if p.startswith("@") else [p])]
    if list_file is not None:
        named += read_list(list_file)
    if not named:
        raise SeptctlError("no inputs: name audio (or image) files, folders, globs or @LIST after the "
                           + ("options" if zeroshot else "run folder"))
    if zeroshot:
        if classes is None:
            raise SeptctlError("--zeroshot needs --classes: names, comma-separated, or a file of names")
        model = load_zeroshot((backbone.value if backbone else default_backbone()), classes, template, weights, device)
    else:
        model = load_run(run_dir, classes, device, weights)
        if model.dataset_change:
            err.print(f"warning: {run_dir}: its dataset changed since training: {model.dataset_change}; the labels "
                      "come from the prompt as it was trained", highlight=False, markup=False)
    rows = model.predict(named, top_k=top_k, window=window, hop=hop, per_window=per_window, strict=strict,
                         batch_size=batch_size, cache=not no_cache, progress=not quiet)
    for name, reason in model.failures:
        err.print(f"failed: {name}: {reason}", highlight=False, markup=False)
    _write(rows, _format(fmt, out_file), out_file, min(top_k, len(model.classes)), force)
    if model.failures:
        raise typer.Exit(FAILED)


def _format(fmt: Optional[OutputFormat], out_file: Optional[Path]) -> str:
    if fmt is not None:
        return fmt.value
    if out_file is not None:
        return "jsonl" if out_file.suffix.lower() in (".jsonl", ".json") else "csv"
    return "table" if out.is_terminal else "csv"


def _write(rows: list, fmt: str, out_file: Optional[Path], k: int, force: bool) -> None:
    if fmt == "table":
        text = _table(rows)
    elif fmt == "jsonl":
        text = "".join(json.dumps(r.as_dict(), ensure_ascii=False) + "\n" for r in rows)
    else:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["file", "window", "start_s", "end_s"]
                        + [f"{c}_{i}" for i in range(1, k + 1) for c in ("label", "prob")])
        for r in rows:
            writer.writerow([r.file, "" if r.window is None else r.window, r.start_s, r.end_s]
                            + [v for pair in zip(r.labels, (f"{p:.6f}" for p in r.probs)) for v in pair])
        text = buf.getvalue()
    if out_file is not None:
        from septctl.artifacts import write_text

        write_text(out_file, text, force=force)
        err.print(f"{len(rows)} rows -> {out_file}", highlight=False, markup=False)
    else:
        out.print(text, end="", highlight=False, markup=False, soft_wrap=True)


def _table(rows: list) -> str:
    """A plain text table: file (and window span), then `label p` pairs, best first."""
    def where(r) -> str:
        return r.file if r.window is None else f"{r.file} [{r.start_s:.2f}-{r.end_s:.2f} s]"

    width = max((len(where(r)) for r in rows), default=4)
    return "".join(f"{where(r):<{width}}  " + "  ".join(f"{label} {p:.3f}" for label, p in zip(r.labels, r.probs))
                   + "\n" for r in rows)


def register(app: typer.Typer) -> None:
    app.command("predict", rich_help_panel=panels.TRAIN)(predict)
