"""What every command shares: error reporting, consoles, Ctrl-C handling."""

from __future__ import annotations

import os

import typer
from rich.console import Console

from septctl.errors import SeptctlError

# Data (tables, JSON) goes to stdout; progress and messages to stderr.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def run_app(app: typer.Typer) -> int:
    try:
        rv = app(standalone_mode=False)
    except SeptctlError as exc:
        err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
        return 2
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]: finished files are kept; rerun the same command to continue")
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err.print("aborted")
        return 130
    except Exception as exc:  # click's usage errors
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return exc.exit_code
        raise
    return rv if isinstance(rv, int) else 0


def set_threads() -> None:
    """Respect an explicit thread count (SEPTCTL_THREADS) for torch on shared machines."""
    n = os.environ.get("SEPTCTL_THREADS")
    if n:
        if not n.strip().isdigit() or int(n) < 1:
            raise SeptctlError(f"SEPTCTL_THREADS={n!r}: give a whole number of threads >= 1, or unset it")
        import torch

        torch.set_num_threads(int(n))
