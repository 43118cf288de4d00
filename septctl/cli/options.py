"""Options several commands share, declared once."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from septctl.backbones.registry import BACKBONES
from septctl.methods.registry import METHODS, option

_DEVICE_HELP = ("Where to compute: cpu, cuda, cuda:N or mps. Checked before any work; a run trained on a GPU is "
                "evaluated on whatever device is given here.")


def _device_name(value: str) -> str:
    """Refuse a misspelt device at once (no torch import); availability is checked where models are built."""
    from septctl.devices import check_device

    return check_device(value, here=False)


Device = Annotated[str, typer.Option("--device", callback=_device_name, help=_DEVICE_HELP)]
GridDevice = Annotated[str, typer.Option("--device", envvar="DEVICE", callback=_device_name, help=_DEVICE_HELP)]

# The methods' and backbones' names from their registries (torch-free).
BACKBONE_HELP = " | ".join(BACKBONES) + "."

Baseline = Enum("Baseline", {name: name for name in METHODS}, type=str)


def method_flag(key: str, **kwargs) -> typer.models.OptionInfo:
    """A method's own option, with the flag and help its registry entry declares (the default: not given)."""
    declared = option(key)
    if isinstance(declared.default, bool):
        return typer.Option(False, declared.flag, help=declared.help, **kwargs)
    shown = "" if isinstance(declared.default, list) else f" Default: {declared.default}."
    return typer.Option(None, declared.flag, help=declared.help + shown, **kwargs)


def plain_flags(app: typer.Typer) -> None:
    """On/off flags show no `<bool>` in --help: they take no value (`--quiet`, not `--quiet <bool>`)."""
    import inspect

    from septctl.cli.numbers import callbacks

    for callback in callbacks(app):
        for param in inspect.signature(callback).parameters.values():
            info = param.default
            if isinstance(info, typer.models.OptionInfo) and isinstance(info.default, bool) and info.metavar is None:
                info.metavar = ""
