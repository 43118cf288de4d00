"""`septctl eval`: accuracy, macro-F1 and per-class accuracy of a run (or zero-shot)."""

import json
import shlex
from pathlib import Path
from typing import Annotated, Optional

import typer

from septctl.cli import panels
from septctl.cli.common import err, next_step, out, set_threads
from septctl.cli.options import (AsJson, ClassSet, Crop, DataRoot, Device, Quiet, Weights, ZeroshotBackbone,
                                 default_backbone)
from septctl.defaults import DEFAULT_TEMPLATE


def evaluate(
    target: Annotated[str, typer.Argument(help="A run folder; with --zeroshot, a dataset.")],
    classes: Annotated[Optional[ClassSet], typer.Option(
        "--classes", show_default="the run's training classes, plus new after base; new for --zeroshot",
        help="Each its own K-way problem.")] = None,
    dataset: Annotated[Optional[str], typer.Option(
        "--dataset", help="Evaluate on another dataset (cross-dataset).")] = None,
    fold: Annotated[Optional[int], typer.Option(
        "--fold", min=1, help="Fold of the evaluated dataset (default: the run's).")] = None,
    zeroshot: Annotated[bool, typer.Option("--zeroshot", help="No run: score a hand-written template.")] = False,
    template: Annotated[str, typer.Option("--template", help="Zero-shot template with one {}.")] = DEFAULT_TEMPLATE,
    backbone: ZeroshotBackbone = None,
    weights: Weights = None,
    crop: Annotated[Optional[Crop], typer.Option(
        "--crop", show_default="seeded", help="Zero-shot: how a longer clip is cut (a run uses its own).")] = None,
    data_root: DataRoot = None,
    out_dir: Annotated[Optional[Path], typer.Option(
        "--out", help="Zero-shot result folder (default under runs/).")] = None,
    as_json: AsJson = False,
    device: Device = "cpu",
    quiet: Quiet = False,
) -> None:
    """Rebuild the class prompts for the evaluated class names and score the test split; writes metrics.yaml."""
    set_threads()
    from septctl.engine.evaluate import evaluate_run, evaluate_zeroshot
    from septctl.errors import SeptctlError

    which = classes.value if classes else None
    if zeroshot:
        if "{}" not in template:
            raise SeptctlError(f"--template {template!r} has no {{}} slot for the class name")
        result, run_dir = evaluate_zeroshot(target, backbone.value if backbone else default_backbone(), template,
                                            which or "new", fold, out_dir, str(weights) if weights else None,
                                            str(data_root) if data_root else None, crop.value if crop else "seeded",
                                            device=device)
        results = [(which or "new", result)]
    else:
        if backbone is not None:
            raise SeptctlError(f"--backbone applies to --zeroshot only; {target} is scored with the backbone it was trained on")
        if crop is not None:
            raise SeptctlError(f"--crop applies to --zeroshot only; {target} is scored with the crop it was trained with")
        run_dir = Path(target)
        results = [(w, evaluate_run(run_dir, w, dataset, fold, str(data_root) if data_root else None, device=device))
                   for w in ([which] if which else _trained_on(run_dir))]
    if as_json:
        out.print_json(json.dumps(results[0][1] if len(results) == 1 else [r for _, r in results]))
    else:
        from septctl.runs import metrics_key

        for which, result in results:
            out.print(f"{metrics_key(result['dataset'], result['fold'], which)} ({len(result['class_names'])}-way, "
                      f"n={result['n']}): accuracy {result['accuracy']:.2f}  macro-F1 {result['macro_f1']:.2f}")
    err.print(f"metrics: {run_dir / 'metrics.yaml'}")
    next_step(f"septctl report {shlex.quote(str(run_dir))}", quiet)


def _trained_on(run_dir: Path) -> list[str]:
    """The classes a run learned on, and `new` after `base` (the other half of base-to-new)."""
    from septctl.runs import read_run

    trained = str(read_run(run_dir)["config"].get("classes") or "new")
    return ["base", "new"] if trained == "base" else [trained]


def register(app: typer.Typer) -> None:
    app.command("eval", rich_help_panel=panels.TRAIN)(evaluate)
