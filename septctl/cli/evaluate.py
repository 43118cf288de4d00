"""`septctl eval`: accuracy, macro-F1 and per-class accuracy of runs (or zero-shot).

Any number of run folders and folders of runs in one call: each backbone is loaded once.
"""

import json
import shlex
from pathlib import Path
from typing import Annotated, Optional

import typer

from septctl.cli import panels
from septctl.cli.common import err, next_step, out, set_threads
from septctl.cli.options import (AsJson, ClassSet, Crop, DataRoot, Device, Quiet, Weights, ZeroshotBackbone,
                                 default_backbone)
from septctl.backbones.registry import SPECS
from septctl.defaults import DEFAULT_TEMPLATE, IMAGE_TEMPLATE, zeroshot_template


def evaluate(
    targets: Annotated[list[str], typer.Argument(
        help="Run folders and folders of runs (each run found under them); with --zeroshot, one dataset.",
        metavar="RUN...")],
    classes: Annotated[Optional[ClassSet], typer.Option(
        "--classes", show_default="the run's training classes, plus new after base; new for --zeroshot",
        help="Each its own K-way problem.")] = None,
    dataset: Annotated[Optional[str], typer.Option(
        "--dataset", help="Evaluate on another dataset (cross-dataset).")] = None,
    fold: Annotated[Optional[int], typer.Option(
        "--fold", min=1, help="Fold of the evaluated dataset (default: the run's).")] = None,
    zeroshot: Annotated[bool, typer.Option("--zeroshot", help="No run: score a hand-written template.")] = False,
    template: Annotated[Optional[str], typer.Option(
        "--template", show_default=f"{DEFAULT_TEMPLATE!r}; {IMAGE_TEMPLATE!r} on an image backbone",
        help="Zero-shot template with one {}.")] = None,
    backbone: ZeroshotBackbone = None,
    weights: Weights = None,
    crop: Annotated[Optional[Crop], typer.Option(
        "--crop", show_default="seeded", help="Zero-shot: how a longer clip is cut (a run uses its own).")] = None,
    data_root: DataRoot = None,
    out_dir: Annotated[Optional[Path], typer.Option(
        "--out", help="Zero-shot result folder (default under runs/); never a trained run's.")] = None,
    as_json: AsJson = False,
    device: Device = "cpu",
    quiet: Quiet = False,
) -> None:
    """Rebuild the class prompts for the evaluated class names and score the test split; writes metrics.yaml."""
    set_threads()
    from septctl.engine.evaluate import evaluate_run, evaluate_zeroshot
    from septctl.errors import SeptctlError
    from septctl.report.tables import find_runs

    which = classes.value if classes else None
    if zeroshot:
        name = backbone.value if backbone else default_backbone()
        template = template if template is not None else zeroshot_template(SPECS[name].modality)
        if "{}" not in template:
            raise SeptctlError(f"--template {template!r} has no {{}} slot for the class name")
        if len(targets) > 1:
            raise SeptctlError(f"--zeroshot scores one dataset, not {len(targets)} ({', '.join(targets)}); "
                               "run it once per dataset")
        result, run_dir = evaluate_zeroshot(targets[0], name, template,
                                            which or "new", fold, out_dir, str(weights) if weights else None,
                                            str(data_root) if data_root else None, crop.value if crop else "seeded",
                                            device=device)
        scored = [(run_dir, [result])]
    else:
        for flag, given, what in (("--backbone", backbone, "backbone"), ("--crop", crop, "crop"),
                                  ("--out", out_dir, "folder")):
            if given is not None:
                raise SeptctlError(f"{flag} applies to --zeroshot only; a run is scored with the {what} it was "
                                   "trained with")
        run_dirs, zeroshot_dirs = _trained_runs(find_runs([Path(t) for t in targets]))
        if zeroshot_dirs:
            err.print(f"skipped {len(zeroshot_dirs)} zero-shot result folder(s) (first: {zeroshot_dirs[0]}); "
                      "score those with `septctl eval --zeroshot DATASET`", highlight=False)
        if not run_dirs:
            raise SeptctlError(f"{', '.join(targets)}: no trained run folders (run.yaml) found; train one with "
                               "`septctl train`")
        loaded: dict = {}  # each backbone loaded once for all the runs
        scored = [(run_dir, [evaluate_run(run_dir, w, dataset, fold, str(data_root) if data_root else None,
                                          device=device, backbones=loaded)
                             for w in ([which] if which else _trained_on(run_dir))])
                  for run_dir in run_dirs]
    results = [r for _, rs in scored for r in rs]
    if as_json:
        out.print_json(json.dumps(results[0] if len(results) == 1 else results))
    else:
        for run_dir, rs in scored:
            if len(scored) > 1:
                out.print(f"{run_dir}:", highlight=False)
            for result in rs:
                out.print(f"{result['dataset']}/fold{result['fold'] or 0}/{result['classes']} "
                          f"({len(result['class_names'])}-way, n={result['n']}): accuracy {result['accuracy']:.2f}  "
                          f"macro-F1 {result['macro_f1']:.2f}", highlight=False)
    folders = [run_dir for run_dir, _ in scored]
    err.print(f"metrics: {folders[0] / 'metrics.yaml'}" if len(folders) == 1 else
              f"scored {len(folders)} runs ({len(results)} evaluations); each run's metrics.yaml updated", highlight=False)
    next_step(f"septctl report {' '.join(shlex.quote(str(f)) for f in folders)}", quiet)


def _trained_runs(run_dirs: list[Path]) -> tuple[list[Path], list[Path]]:
    """Trained runs and zero-shot result folders (whose scores come from `eval --zeroshot`), apart."""
    from septctl.runs import read_card

    zeroshot = [d for d in run_dirs if (read_card(d).get("config") or {}).get("method") == "zeroshot"]
    return [d for d in run_dirs if d not in zeroshot], zeroshot


def _trained_on(run_dir: Path) -> list[str]:
    """The classes a run learned on, and `new` after `base` (the other half of base-to-new) where its method can
    score classes it did not train on (not the linear probe)."""
    from septctl.methods.registry import METHODS
    from septctl.runs import read_run

    config = read_run(run_dir)["config"]
    trained = str(config.get("classes") or "new")
    method = METHODS.get(str(config.get("method")))
    if trained == "base" and (method is None or method.unseen is not None):
        return ["base", "new"]
    return [trained]


def register(app: typer.Typer) -> None:
    app.command("eval", rich_help_panel=panels.TRAIN)(evaluate)
