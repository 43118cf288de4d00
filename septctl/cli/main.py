"""The `septctl` entry point. Each stage lives in its own module under septctl/cli/.

Modules here must stay light at import time (no torch): `septctl --help` should be instant.
Commands declare options in Typer's Annotated style, and their modules do without
`from __future__ import annotations`, so each option is one object (tests/test_options.py).
"""

import contextlib
import sys


@contextlib.contextmanager
def _starting():
    """Ctrl-C while septctl loads (typer, rich, the command modules) ends as any Ctrl-C does: one line, 130."""
    try:
        yield
    except KeyboardInterrupt:
        sys.stderr.write("interrupted while starting; nothing was done\n")
        raise SystemExit(130) from None


with _starting():
    import importlib
    from typing import Annotated

    import typer

    from septctl import __version__
    from septctl.cli.numbers import guard_numbers
    from septctl.cli.options import plain_flags

app = typer.Typer(
    name="septctl",
    help="Few-shot prompt tuning of audio-language models with Semantically Expanded Prompt Tuning (SEPT).\n\n"
    "Stages exchange YAML and safetensors files, so each can be inspected, swapped or rerun.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module defines register(app). Order = order in `septctl --help`.
COMMAND_MODULES = ("data", "embed", "backbones", "sept", "train", "evaluate", "predict", "report", "doctor")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"septctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    pass


with _starting():
    for _name in COMMAND_MODULES:
        importlib.import_module(f"septctl.cli.{_name}").register(app)
    guard_numbers(app)
    plain_flags(app)


def run() -> None:
    """Console-script entry: user errors become one red line and exit status 2."""
    with _starting():
        from septctl.cli.common import run_app
    sys.exit(run_app(app))
