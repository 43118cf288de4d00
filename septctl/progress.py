"""One rich progress bar style for long work (on stderr, silent when disabled)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def progress_bar(description: str, total: int, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    from septctl.console import err, visible

    if not enabled or not err.is_terminal:  # a bar's last frame in a log or pipe is noise before an error line
        yield lambda n=1, info=None: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn(), TextColumn("{task.fields[info]}", markup=False))
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task(visible(description, one_line=True), total=total, info="")

        def advance(n: int = 1, info: str | None = None) -> None:
            """Move on n steps; `info` (e.g. the current loss terms) replaces the text after the bar."""
            bar.update(task, advance=n, **({"info": info} if info is not None else {}))

        yield advance
