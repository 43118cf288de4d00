"""Markup and control characters in the names users give: printed as written, never styled or sent raw.

Every row names a missing path whose name carries rich markup or a control character; the
one error line must quote it exactly as `visible()` writes it (`[red]` as is, ESC as `\\x1b`).
"""

from __future__ import annotations

from septctl.console import visible
from tests.faults.table import Case

HOSTILE = {
    "close-tag": "[/]x",
    "colour": "[red]x",
    "styled": "[bold red]x[/]",
    "link": "[link=file:///etc/passwd]x[/link]",
    "ansi": "\x1b[31mx\x1b[0m",
    "carriage-return": "ok\rx",
    "bidi": "x\u202etxt.wav",
    "emoji-code": ":thumbs_up:x",
}


def _commands(tmp_path, name: str) -> dict[str, list]:
    bad = tmp_path / name
    return {
        "embed": ["embed", bad, "--backbone", "tiny"],
        "train": ["train", bad, "--backbone", "tiny", "--epochs", "1", "--out", tmp_path / "r"],
        "eval": ["eval", bad],
        "verify": ["verify", bad],
        "data-check": ["data", "check", bad],
        "margins": ["margins", "--neighbors", bad, "--backbone", "tiny", "--single-template", "a {}",
                    "--out", tmp_path / "m.safetensors"],
        "grid-eval": ["grid-eval", bad],
    }


def _case(command: str, label: str, name: str) -> Case:
    def make(world, tmp_path):
        args = _commands(tmp_path, name)[command]
        return args, (visible(str(tmp_path / name), one_line=True),)

    return Case(f"markup-{command}-{label}", make)


CASES = [_case(c, label, name) for c in ("embed", "train", "eval", "verify", "data-check", "margins", "grid-eval")
         for label, name in HOSTILE.items()]
