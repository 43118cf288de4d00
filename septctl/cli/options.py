"""Options several commands share, declared once, and every fixed set of choices as an Enum.

Typer lists an Enum's values in --help and refuses any other with its own message. Each
Enum is built from the torch-free tuple its library module declares, so the choices are
written down once. Commands hand `.value` (a plain str) to the library.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from septctl.backbones.registry import BACKBONES
from septctl.data.registry import SYNTH_DATASETS
from septctl.data.schema import CLASS_SETS, TRAINING_SETS
from septctl.defaults import BACKBONE_ENV, CROPS, DEFAULT_BACKBONE, MODALITIES
from septctl.engine.compile import HELP as COMPILE_HELP
from septctl.engine.compile import SETTINGS as COMPILE_SETTINGS
from septctl.grid.plan import EXPERIMENTS, STAGES
from septctl.methods.registry import METHODS, MethodOption, all_options
from septctl.report.paper_tables import TABLES
from septctl.report.published import COMPARISONS
from septctl.report.tables import FORMATS


def choice(name: str, values: Iterable[str]) -> type[Enum]:
    """A str-valued Enum of `values` (names may hold '-', as in synth-clap)."""
    return Enum(name, {v: v for v in values}, type=str)


Backbone = choice("Backbone", BACKBONES)
Baseline = choice("Baseline", METHODS)
Crop = choice("Crop", CROPS)
ClassSet = choice("ClassSet", CLASS_SETS)
TrainingSet = choice("TrainingSet", TRAINING_SETS)
TableName = choice("TableName", (*TABLES, "all"))
Format = choice("Format", FORMATS)
Experiment = choice("Experiment", EXPERIMENTS)
Stage = choice("Stage", STAGES)
SynthDataset = choice("SynthDataset", (d.name for d in SYNTH_DATASETS))
CompileSetting = choice("CompileSetting", COMPILE_SETTINGS)
Comparison = choice("Comparison", COMPARISONS)
Modality = choice("Modality", MODALITIES)

_DEVICE_HELP = ("Where to compute: cpu, cuda, cuda:N or mps. Checked before any work; a run trained on a GPU is "
                "evaluated on whatever device is given here.")


def _device_name(value: str) -> str:
    """Refuse a misspelt device at once (no torch import); availability is checked where models are built."""
    from septctl.devices import check_device

    return check_device(value, here=False)


Device = Annotated[str, typer.Option("--device", callback=_device_name, help=_DEVICE_HELP)]
GridDevice = Annotated[str, typer.Option("--device", envvar="DEVICE", callback=_device_name, help=_DEVICE_HELP)]

_BACKBONE_HELP = (f"The audio-language model (see `septctl backbones`); ${BACKBONE_ENV} sets the default of every "
                  "command, e.g. synth-clap (shipped, trained) when Pengi's weights are not downloaded.")
BackboneOption = Annotated[Backbone, typer.Option("--backbone", "-b", envvar=BACKBONE_ENV, help=_BACKBONE_HELP)]
GridBackbone = Annotated[Backbone, typer.Option(
    "--backbone", "-b", envvar=["BACKBONE", BACKBONE_ENV], help=_BACKBONE_HELP + " BACKBONE (the recipes' knob) "
    "comes first here.")]
ZeroshotBackbone = Annotated[Optional[Backbone], typer.Option(
    "--backbone", "-b", show_default=f"${BACKBONE_ENV}, else {DEFAULT_BACKBONE}",
    help=f"Backbone for --zeroshot (a run is scored with its own); ${BACKBONE_ENV} sets the default.")]


def default_backbone() -> str:
    """The backbone of a command given no --backbone where Typer cannot fill it in (`eval --zeroshot`, whose
    --backbone is refused for a run): ${BACKBONE_ENV}, else Pengi."""
    from septctl.errors import SeptctlError

    name = os.environ.get(BACKBONE_ENV, "").strip() or DEFAULT_BACKBONE
    if name not in BACKBONES:
        raise SeptctlError(f"{BACKBONE_ENV}={name!r} is not a backbone; set one of {', '.join(BACKBONES)}, or unset it")
    return name
Weights = Annotated[Optional[Path], typer.Option(
    "--weights", help="A local checkpoint for the backbone (default: its cached download).")]
Dataset = Annotated[str, typer.Argument(help="A prepared dataset folder, or a dataset name under --data-root.")]
DataRoot = Annotated[Optional[Path], typer.Option(
    "--data-root", envvar="SEPTCTL_DATA", help="Where prepared datasets live (default: $SEPTCTL_DATA, else ./data).")]
CropOption = Annotated[Crop, typer.Option(
    "--crop", help="How a clip longer than the backbone's is cut: a seeded window per file, the middle, or the start.")]
Quiet = Annotated[bool, typer.Option(
    "--quiet", "-q", help="Only results and errors: no progress bars, retry notices or next-step line.")]
Force = Annotated[bool, typer.Option("--force", help="Replace what --out names even if it differs (e.g. was edited "
                                                     "by hand).")]
Recompute = Annotated[bool, typer.Option("--force", help="Recompute even if the output is up to date, and replace it "
                                                         "even if it differs.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
CompileOption = Annotated[Optional[CompileSetting], typer.Option(
    "--compile", show_default="$SEPTCTL_COMPILE, else off", help=COMPILE_HELP)]


def with_method_flags(command: Callable) -> Callable:
    """Give `command` one option per method option the registry declares (it receives them as **kwargs),
    so adding a method never touches the CLI. They are listed under their own heading in --help."""
    signature = inspect.signature(command, eval_str=True)  # a set __signature__ is read as it is
    shared = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    flags = [inspect.Parameter(o.key, inspect.Parameter.KEYWORD_ONLY, default=_method_flag(o), annotation=o.flag_type)
             for o in all_options()]
    command.__signature__ = signature.replace(parameters=shared + flags)
    command.__annotations__ = {**command.__annotations__, **{p.name: p.annotation for p in flags}}
    return command


def _method_flag(declared: MethodOption) -> typer.models.OptionInfo:
    """A method's own option, with the flag and help its registry entry declares (the default: not given)."""
    panel = "Method options"
    if declared.flag_type is bool:
        return typer.Option(False, declared.flag, help=declared.help, rich_help_panel=panel)
    shown = "" if isinstance(declared.default, list) else f" Default: {declared.default}."
    return typer.Option(None, declared.flag, help=declared.help + shown, rich_help_panel=panel)


def plain_flags(app: typer.Typer) -> None:
    """On/off flags show no `<bool>` in --help: they take no value (`--quiet`, not `--quiet <bool>`)."""
    from septctl.cli.numbers import callbacks, declared_options

    for callback in callbacks(app):
        for hint, info in declared_options(callback).values():
            if hint is bool and info.metavar is None:
                info.metavar = ""
