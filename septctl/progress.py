"""One rich progress bar style for long work (on stderr, silent when disabled)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def progress_bar(description: str, total: int, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    from septctl.console import err, visible

    if not enabled or not err.is_terminal:  # a bar's last frame in a log or pipe is noise before an error line
        yield lambda n=1: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task(visible(description, one_line=True), total=total)
        yield lambda n=1: bar.advance(task, n)
