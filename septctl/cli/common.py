"""What every command shares: error reporting, consoles, Ctrl-C handling."""

from __future__ import annotations

import os

import typer
from rich.console import Console
from rich.markup import escape as rich_escape

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
    except _usage_errors() as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `septctl` or `septctl data` alone: the help is the answer
            exc.show()
            return 0
        err.print(f"[bold red]error:[/] {_usage_line(exc)}", markup=True, highlight=False)
        return exc.exit_code
    return rv if isinstance(rv, int) else 0


def _usage_errors() -> tuple[type[Exception], ...]:
    """Click's exception base as Typer raises it (Typer >= 0.29 bundles its own copy of click)."""
    return tuple(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def _usage_line(exc: Exception) -> str:
    """A usage error as one line: what was wrong, and where the command's help is."""
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    where = f"{ctx.command_path} --help" if ctx is not None else "septctl --help"
    return rich_escape(f"{message} (see `{where}`)")


def set_threads() -> None:
    """Respect an explicit thread count (SEPTCTL_THREADS) for torch on shared machines."""
    n = os.environ.get("SEPTCTL_THREADS")
    if n:
        if not n.strip().isdigit() or int(n) < 1:
            raise SeptctlError(f"SEPTCTL_THREADS={n!r}: give a whole number of threads >= 1, or unset it")
        import torch

        torch.set_num_threads(int(n))
