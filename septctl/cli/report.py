"""`septctl report`: the base-to-new table from run folders."""

from __future__ import annotations

from pathlib import Path

import typer

from septctl.cli.common import err, out


def report(
    runs: list[Path] = typer.Argument(..., help="Run folders, or folders to search for runs."),
    fmt: str = typer.Option("md", "--format", "-f", help="md, csv, latex or json."),
) -> None:
    """Base, New and H per dataset and method (seeds and folds averaged; H from the averages); lists what is missing."""
    from septctl.report.tables import base_to_new, find_runs, load_record, render

    records = [load_record(p) for p in find_runs(runs)]
    rows, missing = base_to_new(records)
    out.print(render(rows, missing, fmt), markup=False, highlight=False, end="")
    if missing:
        err.print(f"[yellow]{len(missing)} missing result(s)[/]; the table covers only complete cells")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
