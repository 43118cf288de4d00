"""septctl's two consoles, which never read markup from the text they print.

Paths, class names and neighbor names come from users; `[red]` or `[/]` in them must be
printed as written (rich would style the line or crash with MarkupError), and control
characters (ANSI escapes, carriage returns, bidi overrides) are shown as `\\x1b` and the
like instead of reaching the terminal. Colour on septctl's own words goes through
`styled()`, which wraps them in a rich Text that is never parsed.
"""

from __future__ import annotations

import errno
import os
import re
import sys

from rich.console import Console
from rich.text import Text

from septctl.errors import doing

# C0 and C1 controls (tab, newline and CSV's CR LF kept), DEL, and the bidi embedding/override/isolate marks.
_HIDDEN = re.compile("(?!\r\n)[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_HIDDEN_OR_BREAK = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, one_line: bool = False) -> str:
    """`text` with its control characters written out (`\\x1b`); `one_line` also escapes newlines and tabs."""
    return (_HIDDEN_OR_BREAK if one_line else _HIDDEN).sub(_escape, text)


def styled(text: str, style: str) -> Text:
    """Words in a colour, e.g. `styled("error:", "bold red")`; never parsed as markup, controls shown."""
    return Text(visible(text), style=style)


class PlainConsole(Console):
    """A rich Console for which every string is plain text: no markup, no emoji codes, controls shown.

    A write that fails names the stream (`standard output: writing: No space left on device`), and
    writing to a closed stdout (`septctl report RUN >&-`) fails instead of going nowhere.
    """

    def render_str(self, text: str, **kwargs) -> Text:
        kwargs.update(markup=False, emoji=False)
        return super().render_str(visible(text), **kwargs)

    def _write_buffer(self) -> None:
        name = "standard error" if self.stderr else "standard output"
        with doing("writing", name):
            if self._buffer and not self.stderr and self._file is None and sys.stdout is None:
                raise OSError(errno.EBADF, os.strerror(errno.EBADF))
            super()._write_buffer()


# Data (tables, JSON) goes to stdout; progress and messages to stderr.
out = PlainConsole(soft_wrap=True)
err = PlainConsole(stderr=True, soft_wrap=True)


def shortened(text: str, limit: int = 80) -> str:
    """`text` if short, else its start and its length: an error line stays a line (`--n-ctx 100000`)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def counted(n: int, noun: str) -> str:
    """`1 class`, `2 classes`, `1 file`: a count with its noun in the right number."""
    if n == 1:
        return f"{n} {noun}"
    return f"{n} {noun}es" if noun.endswith(("s", "x", "ch", "sh")) else f"{n} {noun}s"
