"""CSV rows that leave the dataset folder or list one file twice: refused by every command that reads the split."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

from tests.faults.table import Case


def read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def write_rows(path: Path, rows: list[list[str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)


def set_first_path(data: Path, split: str, path: str) -> None:
    rows = read_rows(data / f"{split}.csv")
    rows[1][0] = path
    write_rows(data / f"{split}.csv", rows)


def add_row(data: Path, split: str, path: str, classname: str | None = None) -> None:
    rows = read_rows(data / f"{split}.csv")
    rows.append([path, classname or rows[1][1]])
    write_rows(data / f"{split}.csv", rows)


def first(data: Path, split: str = "train") -> str:
    return read_rows(data / f"{split}.csv")[1][0]


def outside_wav(data: Path) -> Path:
    """A real clip beside (not inside) the dataset folder."""
    target = data.parent / "outside" / "x.wav"
    target.parent.mkdir(exist_ok=True)
    shutil.copyfile(data / first(data), target)
    return target


# Each damage edits a copy of the dataset and returns the strings the refusal must name.
def dotdot(data):
    outside_wav(data)
    set_first_path(data, "train", "../outside/x.wav")
    return ("../outside/x.wav", "outside")


def dotdot_deep(data):
    outside_wav(data)
    set_first_path(data, "train", "audios/../../outside/x.wav")
    return ("audios/../../outside/x.wav",)


def dotdot_only(data):
    set_first_path(data, "train", "..")
    return ("'..'",)


def etc_passwd(data):
    set_first_path(data, "train", "/etc/passwd")
    return ("/etc/passwd", "absolute")


def absolute_outside(data):
    target = outside_wav(data)
    set_first_path(data, "train", str(target))
    return (str(target), "absolute")


def absolute_inside(data):
    path = str(data / first(data))
    set_first_path(data, "train", path)
    return (path, "absolute")


def double_slash_root(data):
    set_first_path(data, "train", "//etc/passwd")
    return ("//etc/passwd",)


def symlink_file_out(data):
    target = outside_wav(data)
    (data / "audios" / "evil.wav").symlink_to(target)
    set_first_path(data, "train", "audios/evil.wav")
    return ("audios/evil.wav", "symlink")


def symlink_passwd(data):
    (data / "audios" / "passwd.wav").symlink_to("/etc/passwd")
    set_first_path(data, "train", "audios/passwd.wav")
    return ("audios/passwd.wav", "outside")


def own_links_file_root(data):
    """The dataset carries its own linked_roots.txt naming `/` (issue 28: /etc/passwd reached the decoder)."""
    (data / "linked_roots.txt").write_text("/\n")
    (data / "audios" / "passwd.wav").symlink_to("/etc/passwd")
    set_first_path(data, "train", "audios/passwd.wav")
    return ("audios/passwd.wav", "linked_roots.txt is no longer trusted", "data prepare --link")


def own_links_file_outside(data):
    """The same with a real clip beside the dataset: only the user's `data prepare --link` may allow it."""
    target = outside_wav(data)
    (data / "linked_roots.txt").write_text(f"{target.parent}\n")
    (data / "audios" / "x.wav").symlink_to(target)
    set_first_path(data, "train", "audios/x.wav")
    return ("audios/x.wav", "linked_roots.txt is no longer trusted")


def symlink_dir_out(data):
    outside_wav(data)
    (data / "more").symlink_to(data.parent / "outside", target_is_directory=True)
    set_first_path(data, "train", "more/x.wav")
    return ("more/x.wav", "outside")


def symlink_relative_out(data):
    outside_wav(data)
    (data / "audios" / "rel.wav").symlink_to("../../outside/x.wav")
    set_first_path(data, "train", "audios/rel.wav")
    return ("audios/rel.wav", "outside")


def symlink_loop(data):
    (data / "audios" / "loop.wav").symlink_to("loop.wav")
    set_first_path(data, "train", "audios/loop.wav")
    return ("audios/loop.wav",)


def dup_dot_slash(data):
    add_row(data, "train", "./" + first(data))
    return ("listed twice",)


def dup_double_slash(data):
    add_row(data, "train", first(data).replace("/", "//", 1))
    return ("listed twice",)


def dup_dot_segment(data):
    add_row(data, "train", first(data).replace("/", "/./", 1))
    return ("listed twice",)


def dup_up_and_back(data):
    add_row(data, "train", first(data).replace("/", "/../audios/", 1))
    return ("listed twice",)


def dup_trailing_space(data):
    add_row(data, "train", first(data) + "  ")
    return ("listed twice",)


def dup_symlink_alias(data):
    rel = first(data)
    (data / "audios" / "alias.wav").symlink_to(Path(rel).name)
    add_row(data, "train", "audios/alias.wav")
    return ("listed twice", rel)


def dup_other_class(data):
    rows = read_rows(data / "train.csv")
    add_row(data, "train", rows[1][0], rows[-1][1])
    return ("listed twice",)


def in_train_and_test(data):
    add_row(data, "test", first(data))
    return ("test.csv", first(data))


def in_train_and_test_respelled(data):
    add_row(data, "test", "./" + first(data).replace("/", "//"))
    return ("test.csv",)


def in_train_and_test_by_symlink(data):
    (data / "audios" / "same.wav").symlink_to(Path(first(data)).name)
    add_row(data, "test", "audios/same.wav")
    return ("test.csv", "audios/same.wav")


def escape_in_path(data):
    set_first_path(data, "train", "audios/\x1b[31mred.wav")
    return ("control",)


def newline_in_path(data):
    set_first_path(data, "train", "audios/a\nb.wav")
    return ("control",)


DAMAGES = [dotdot, dotdot_deep, dotdot_only, etc_passwd, absolute_outside, absolute_inside, double_slash_root,
           symlink_file_out, symlink_passwd, own_links_file_root, own_links_file_outside, symlink_dir_out, symlink_relative_out, symlink_loop,
           dup_dot_slash, dup_double_slash, dup_dot_segment, dup_up_and_back, dup_trailing_space, dup_symlink_alias,
           dup_other_class, in_train_and_test, in_train_and_test_respelled, in_train_and_test_by_symlink,
           escape_in_path, newline_in_path]


def commands(data: Path, tmp_path: Path) -> dict[str, list]:
    """Every command that reads a split."""
    return {
        "embed": ["embed", data, "--backbone", "tiny"],
        "train": ["train", data, "--backbone", "tiny", "--epochs", "1", "--shots", "1", "--out", tmp_path / "r"],
        "zeroshot": ["eval", "--zeroshot", data, "--backbone", "tiny", "--out", tmp_path / "zs"],
        "check": ["data", "check", data],
    }


def _case(damage, command: str) -> Case:
    def make(world, tmp_path):
        data = world.copy_data(tmp_path / "ds")
        names = damage(data)
        return commands(data, tmp_path)[command], ("csv", *names)

    return Case(f"path-{damage.__name__.replace('_', '-')}-{command}", make)


CASES = [_case(d, c) for d in DAMAGES for c in ("embed", "train", "zeroshot", "check")]
assert os.sep == "/"  # the rows above spell POSIX paths
