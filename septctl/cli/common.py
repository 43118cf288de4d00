"""What every command shares: error reporting, consoles, Ctrl-C handling."""

from __future__ import annotations

import os
import sys

import typer

from septctl.console import err, out, styled, visible
from septctl.errors import Interrupted, SeptctlError, os_error_line

__all__ = ["err", "next_step", "out", "run_app", "set_threads"]


def next_step(command: str, quiet: bool = False) -> None:
    """One line naming the natural next command, for a person at a terminal (not with --quiet, pipes or logs)."""
    if not quiet and out.is_terminal:
        err.print(f"next: {command}", highlight=False, markup=False)


def run_app(app: typer.Typer) -> int:
    Interrupted.said = False  # per command, also when one process runs several (tests)
    _tolerant_streams()
    try:
        rv = app(standalone_mode=False)
    except SeptctlError as exc:
        _error(str(exc))
        return 2
    except OSError as exc:  # disk full, read-only, no permission: the system's refusal, named
        _error(os_error_line(exc))
        return 2
    except KeyboardInterrupt:
        return _interrupted()
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err.print("aborted")
        return 130
    except _usage_errors() as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `septctl` or `septctl data` alone: the help is the answer
            exc.show()
            return 0
        _error(_usage_line(exc))
        return exc.exit_code
    if rv == 130:  # Typer returns Ctrl-C as exit code 130, silently
        return _interrupted()
    return rv if isinstance(rv, int) else 0


def _tolerant_streams() -> None:
    """Text the console cannot encode (an ASCII or POSIX locale, a file name that is not UTF-8) is written
    as `\\u2264` or `\\udcff` instead of ending the command in a UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) in ("strict", "surrogateescape") and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def _error(message: str) -> None:
    """The one line every refusal prints: `error: ` and the message, its control characters shown."""
    err.print(styled("error:", "bold red"), visible(message, one_line=True), highlight=False)


def _interrupted() -> int:
    if not Interrupted.said:  # the work itself has not said what it kept
        err.print(styled("interrupted", "yellow"), ": finished files are kept; rerun the same command to continue",
                  sep="")
    return 130


def _usage_errors() -> tuple[type[Exception], ...]:
    """Click's exception base as Typer raises it (Typer >= 0.29 bundles its own copy of click)."""
    return tuple(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def _usage_line(exc: Exception) -> str:
    """A usage error as one line: what was wrong, and where the command's help is."""
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    where = f"{ctx.command_path} --help" if ctx is not None else "septctl --help"
    return f"{message} (see `{where}`)"


def set_threads() -> None:
    """Respect an explicit thread count (SEPTCTL_THREADS) for torch on shared machines."""
    n = os.environ.get("SEPTCTL_THREADS")
    if n:
        if not n.strip().isdigit() or int(n) < 1:
            raise SeptctlError(f"SEPTCTL_THREADS={n!r}: give a whole number of threads >= 1, or unset it")
        import torch

        torch.set_num_threads(int(n))
