"""Options several commands share, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

_DEVICE_HELP = ("Where to compute: cpu, cuda, cuda:N or mps. Checked before any work; a run trained on a GPU is "
                "evaluated on whatever device is given here.")



def _device_name(value: str) -> str:
    """Refuse a misspelt device at once (no torch import); availability is checked where models are built."""
    from septctl.devices import check_device

    return check_device(value, here=False)


Device = Annotated[str, typer.Option("--device", callback=_device_name, help=_DEVICE_HELP)]
GridDevice = Annotated[str, typer.Option("--device", envvar="DEVICE", callback=_device_name, help=_DEVICE_HELP)]
