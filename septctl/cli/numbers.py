"""One rule for every numeric option: a finite number, never negative (plus any `min=` the option declares).

Applied to the whole app at start-up, so a new option cannot forget it; `tests/test_options.py` probes
every int and float option of every command with values that must be refused.
"""

from __future__ import annotations

import inspect
import math
import typing
from collections.abc import Callable, Iterator

import typer


def guard_numbers(app: typer.Typer) -> None:
    """Give every int/float option of every command the finite, non-negative check."""
    for callback in callbacks(app):
        for info in numeric_options(callback).values():
            if info.callback is None:
                info.callback = _finite_non_negative


def numeric_options(callback: Callable) -> dict[str, typer.models.OptionInfo]:
    """The command's int/float options, by parameter name."""
    return {name: info for name, (hint, info) in declared_options(callback).items()
            if {hint, *typing.get_args(hint)} & {int, float}}


def declared_options(callback: Callable) -> dict[str, tuple[object, typer.models.OptionInfo]]:
    """The command's options (plain or Annotated): parameter name -> (type hint, OptionInfo)."""
    hints = typing.get_type_hints(callback, include_extras=True)
    found = {}
    for name, param in inspect.signature(callback).parameters.items():
        hint = hints.get(name)
        info = param.default
        if typing.get_origin(hint) is typing.Annotated:
            hint, *meta = typing.get_args(hint)
            info = next((m for m in meta if isinstance(m, typer.models.OptionInfo)), info)
        if isinstance(info, typer.models.OptionInfo):
            found[name] = (hint, info)
    return found


def callbacks(app: typer.Typer) -> Iterator[Callable]:
    """Every command's function, in groups too, and the app's own callback (`--version`)."""
    if app.registered_callback is not None and app.registered_callback.callback is not None:
        yield app.registered_callback.callback
    for command in app.registered_commands:
        yield command.callback
    for group in app.registered_groups:
        yield from callbacks(group.typer_instance)


def _finite_non_negative(value: float | None) -> float | None:
    if value is None:
        return value
    if not math.isfinite(value) or value < 0:
        raise typer.BadParameter(f"{value!r} is not a finite number >= 0")
    return value
