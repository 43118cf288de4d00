"""The operating system says no to an output path: one line naming the path, the cause (errno) and a fix.

Each row points a command's --out where the kernel refuses to write: under a file, at a
folder where a file belongs, through a symbolic-link loop, past the name-length limit,
under /dev/null. Disk-full and read-only file systems need a mount: test_os_limits.py.
"""

from __future__ import annotations

import os

from tests.faults.table import Case

FILE_OUTPUT = {"embed", "margins"}  # commands whose --out is one file (train writes a folder)


def _command(world, command: str, out) -> list:
    return {
        "embed": ["embed", world.data, "--backbone", "tiny", "--out", out],
        "train": ["train", world.data, "--backbone", "tiny", "--epochs", "1", "--shots", "1", "--out", out],
        "margins": ["margins", "--neighbors", world.neighbors, "--single-template", "a {}", "--backbone", "tiny",
                    "--out", out],
    }[command]


# A word of the fix each refusal must suggest.
FIX_WORD = {"_under_file": "folder", "_is_file_itself": "folder", "_is_folder": "file", "_loop": None,
            "_too_long": "shorter", "_dev_null": "folder"}


def _under_file(tmp_path):
    (tmp_path / "plain").write_text("a file, not a folder\n")
    return tmp_path / "plain" / "out.safetensors", (str(tmp_path / "plain"),)


def _is_file_itself(tmp_path):
    (tmp_path / "plain").write_text("a file, not a folder\n")
    return tmp_path / "plain", (str(tmp_path / "plain"), "EEXIST")


def _is_folder(tmp_path):
    (tmp_path / "folder").mkdir()
    return tmp_path / "folder", (str(tmp_path / "folder"), "EISDIR")


def _loop(tmp_path):
    os.symlink(tmp_path / "loop-b", tmp_path / "loop-a")
    os.symlink(tmp_path / "loop-a", tmp_path / "loop-b")
    return tmp_path / "loop-a" / "out.safetensors", (str(tmp_path / "loop-a"),)


def _too_long(tmp_path):
    name = "n" * 300 + ".safetensors"
    return tmp_path / name, (name, "ENAMETOOLONG")


def _dev_null(tmp_path):
    return "/dev/null/out.safetensors", ("/dev/null",)


def _case(command: str, label: str, place) -> Case:
    def make(world, tmp_path):
        out, names = place(tmp_path)
        return _command(world, command, out), names

    return Case(f"os-{command}-{label}", make, fix=FIX_WORD[place.__name__])


PLACES = {"under-file": _under_file, "symlink-loop": _loop, "name-too-long": _too_long, "under-dev-null": _dev_null}
CASES = [_case(c, label, place) for c in ("embed", "train", "margins") for label, place in PLACES.items()]
CASES += [_case(c, "is-a-folder", _is_folder) for c in sorted(FILE_OUTPUT)]
CASES += [_case(c, "is-a-file", _is_file_itself) for c in ("train",)]
