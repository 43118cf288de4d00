"""Split CSVs as tired users and other programs write them: refused naming the file (and any invisible character)."""

from __future__ import annotations

from pathlib import Path

from tests.faults.cases_paths import commands
from tests.faults.table import Case


def text(data: Path) -> str:
    return (data / "train.csv").read_text(encoding="utf-8")


def put(data: Path, body: bytes) -> None:
    (data / "train.csv").write_bytes(body)


def utf16_le(data):
    put(data, text(data).encode("utf-16"))  # with its BOM, as Excel's "Unicode text"
    return ("UTF-16",)


def utf16_be(data):
    put(data, b"\xfe\xff" + text(data).encode("utf-16-be"))
    return ("UTF-16",)


def utf16_no_bom(data):
    put(data, text(data).encode("utf-16-le"))
    return ("NUL",)


def nul_byte(data):
    put(data, text(data).replace("\n", "\n\x00", 1).encode())
    return ("NUL",)


def latin1(data):
    put(data, (text(data) + "audios/x.wav,sirène\n").encode("latin-1"))
    return ("UTF-8",)


def wav_as_csv(data):
    put(data, (data / text(data).splitlines()[1].split(",")[0]).read_bytes())
    return ("NUL",)


def empty_file(data):
    put(data, b"")
    return ("missing column",)


def bom_only(data):
    put(data, b"\xef\xbb\xbf")
    return ("missing column",)


def double_bom(data):
    put(data, b"\xef\xbb\xbf\xef\xbb\xbf" + text(data).encode())
    return ("BOM (U+FEFF)",)


def zero_width_in_header(data):
    put(data, text(data).replace("path", "pa\u200bth", 1).encode())
    return ("zero-width space",)


def joiner_in_header(data):
    put(data, text(data).replace("path", "path\u2060", 1).encode())
    return ("word joiner",)


def semicolons(data):
    put(data, text(data).replace(",", ";").encode())  # Excel in a comma-decimal locale
    return ("missing column", "path;classname")


def tabs(data):
    put(data, text(data).replace(",", "\t").encode())
    return ("missing column", "tab")


def capitalised_header(data):
    put(data, text(data).replace("path,classname", "Path,ClassName", 1).encode())
    return ("missing column", "'Path'")


def other_header(data):
    put(data, text(data).replace("path,classname", "file,label", 1).encode())
    return ("missing column", "'file'")


def no_header(data):
    put(data, "\n".join(text(data).splitlines()[1:]).encode())
    return ("missing column",)


def huge_line(data):
    put(data, (text(data) + "audios/" + "x" * 200_000 + ".wav,dog\n").encode())
    return ("malformed CSV",)


def unclosed_quote(data):
    put(data, (text(data) + '"audios/x.wav,dog\n').encode())
    return ("train.csv",)


def zero_width_in_class(data):
    lines = text(data).splitlines()
    lines[1] = lines[1] + "\u200b"
    put(data, ("\n".join(lines) + "\n").encode())
    return ("zero-width space",)


def nbsp_in_class(data):
    lines = text(data).splitlines()
    lines[1] = lines[1] + "\u00a0x"
    put(data, ("\n".join(lines) + "\n").encode())
    return ("no-break space",)


def control_in_class(data):
    lines = text(data).splitlines()
    lines[1] = lines[1] + "\x1b[31m"
    put(data, ("\n".join(lines) + "\n").encode())
    return ("control character U+001B",)


def quoted_blank(data):
    lines = text(data).splitlines()
    lines[1] = lines[1].split(",")[0] + ',""'
    put(data, ("\n".join(lines) + "\n").encode())
    return ("empty path or classname",)


def blank_path(data):
    lines = text(data).splitlines()
    lines[1] = " ," + lines[1].split(",")[1]
    put(data, ("\n".join(lines) + "\n").encode())
    return ("empty path or classname",)


def csv_is_folder(data):
    (data / "train.csv").unlink()
    (data / "train.csv").mkdir()
    return ("train.csv",)


def csv_unreadable_link(data):
    (data / "train.csv").unlink()
    (data / "train.csv").symlink_to("/etc/passwd")
    return ("missing column",)


DAMAGES = [utf16_le, utf16_be, utf16_no_bom, nul_byte, latin1, wav_as_csv, empty_file, bom_only, double_bom,
           zero_width_in_header, joiner_in_header, semicolons, tabs, capitalised_header, other_header, no_header,
           huge_line, unclosed_quote, zero_width_in_class, nbsp_in_class, control_in_class, quoted_blank,
           blank_path, csv_is_folder, csv_unreadable_link]


def _case(damage, command: str) -> Case:
    def make(world, tmp_path):
        data = world.copy_data(tmp_path / "ds")
        names = damage(data)
        return commands(data, tmp_path)[command], ("train.csv", *names)

    return Case(f"csv-{damage.__name__.replace('_', '-')}-{command}", make)


# embed caches whatever split CSVs exist, so a folder named train.csv is train's problem alone.
CASES = [_case(d, c) for d in DAMAGES for c in ("embed", "train") if not (d is csv_is_folder and c == "embed")]
