"""Listings (`septctl backbones`, `septctl data list`): names never break.

At a terminal wide enough, a table whose name columns never wrap and whose lists of names wrap between
names only; otherwise (a pipe, a narrow terminal, `--format plain`) one row per line, columns padded with
spaces; `--format csv|json` for programs.
"""

import csv
import io
import json
from dataclasses import dataclass
from typing import Annotated, Optional, Union

import typer

from septctl.cli.common import out
from septctl.cli.options import choice

ListFormat = choice("ListFormat", ("table", "plain", "csv", "json"))
ListFormatOption = Annotated[Optional[ListFormat], typer.Option(
    "--format", "-f", show_default="table at a terminal, plain when piped",
    help="table, plain (one row per line), csv or json.")]

Cell = Union[str, list[str]]  # a list: names, joined by ", " and wrapped between names only


@dataclass
class Column:
    header: str
    wraps: bool = False  # prose (wraps between words); otherwise a name or number, never wrapped


def show_listing(title: str, columns: list[Column], rows: list[list[Cell]], as_json: list[dict],
                 fmt: Optional[str]) -> None:
    """Print `rows` as `fmt` asks (None: a table at a terminal wide enough for it, else plain lines)."""
    if fmt == "json":
        out.print_json(json.dumps(as_json))
    elif fmt == "csv":
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([[c.header for c in columns],
                                                        *[[_joined(v) for v in r] for r in rows]])
        out.print(buf.getvalue(), end="", soft_wrap=True, highlight=False)
    elif fmt == "table" or (fmt is None and out.is_terminal):
        table = _table(title, columns, rows)
        if fmt == "table" or _fits(table):
            out.print(table)
        else:
            _plain(columns, rows)
    else:
        _plain(columns, rows)


def _joined(value: Cell) -> str:
    return ", ".join(value) if isinstance(value, list) else value


def _plain(columns: list[Column], rows: list[list[Cell]]) -> None:
    """One row per line, each column padded to its widest value (the last one not padded)."""
    lines = [[c.header for c in columns], *[[_joined(v) for v in r] for r in rows]]
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    for line in lines:
        text = "  ".join(v.ljust(w) for v, w in zip(line[:-1], widths)) + "  " + line[-1]
        out.print(text.rstrip(), soft_wrap=True, highlight=False)


def _table(title: str, columns: list[Column], rows: list[list[Cell]]):
    from rich.table import Table

    table = Table(title=title)
    packed: dict[int, int] = {}  # column -> the width its lists of names are packed to
    for i, col in enumerate(columns):
        cells = [r[i] for r in rows]
        if any(isinstance(c, list) for c in cells):
            packed[i] = max(max((len(n) + 1 for c in cells if isinstance(c, list) for n in c), default=1), 24)
            table.add_column(col.header, no_wrap=True, min_width=packed[i])
        elif col.wraps:  # at least its longest word wide, so no word breaks
            longest = max((len(w) for c in cells for w in str(c).split()), default=1)
            table.add_column(col.header, min_width=longest, overflow="fold")
        else:
            table.add_column(col.header, no_wrap=True, min_width=max(len(str(c)) for c in [*cells, col.header]))
    for r in rows:
        table.add_row(*[_pack(v, packed[i]) if isinstance(v, list) else v for i, v in enumerate(r)])
    return table


def _pack(names: list[str], width: int) -> str:
    """Names joined by ", " on lines of at most `width` characters, a line break only between two names."""
    lines = [""]
    for i, name in enumerate(names):
        piece = name + ("," if i < len(names) - 1 else "")
        if lines[-1] and len(lines[-1]) + 1 + len(piece) > width:
            lines.append("")
        lines[-1] += (" " if lines[-1] else "") + piece
    return "\n".join(lines)


def _fits(table) -> bool:
    """Whether `table` fits the terminal without breaking a word (its narrowest layout is not too wide)."""
    from rich.measure import Measurement

    unbounded = out.options.update(max_width=10_000)  # rich clamps a measurement to the width it is given
    return Measurement.get(out, unbounded, table).minimum <= out.width
