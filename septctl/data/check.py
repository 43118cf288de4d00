"""`data check`: read every file's header and summarise the dataset per split and class."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from septctl.data.image import image_size
from septctl.data.layout import DatasetFolder, open_dataset, read_csv

AUDIO_COLUMNS = ("split", "class", "files", "seconds (min/mean/max)", "sample rates")
IMAGE_COLUMNS = ("split", "class", "images", "width (min/max)", "height (min/max)")


@dataclass
class CheckReport:
    name: str
    modality: str = "audio"
    n_files: int = 0
    columns: tuple[str, ...] = AUDIO_COLUMNS
    rows: list[tuple[str, ...]] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what later commands will do with this data


def check_dataset(dataset: str, data_root: Path | None = None, clip_seconds: float = 7.0) -> CheckReport:
    """Read every header, refuse splits that would fail later, and note what the backbone will do with the files.

    `clip_seconds` is the backbone's clip length (Pengi, the default, and MS-CLAP: 7 s): a clip under half of
    it is repeated at least twice, one over twice it loses more than half. Images: sizes, read from the
    headers only (Pillow decodes no pixels to tell them).
    """
    from septctl.data.media import NOUNS
    from septctl.data.schema import base_new_split
    from septctl.errors import SeptctlError

    folder = open_dataset(dataset, data_root)
    image = folder.modality == "image"
    report = CheckReport(folder.name, folder.modality, columns=IMAGE_COLUMNS if image else AUDIO_COLUMNS)
    read = image_size if image else _audio_header
    info: dict[str, tuple | None] = {}
    for rel in folder.all_files():
        try:
            info[rel] = read(folder.root / rel)
        except SeptctlError as exc:
            info[rel] = None
            report.unreadable.append((rel, str(exc).split(": ", 1)[-1]))
    report.n_files = len(info)
    for fold in ([None] if (folder.csv_dir / "train.csv").is_file() else []) + list(range(1, folder.folds + 1)):
        folder.splits(fold)  # refuses labels that differ only by case or spaces, and test-only classes
    train, test = folder.splits(folder.default_fold())
    classes = sorted({r.classname for r in train})
    if folder.csv_dir != folder.root:
        from septctl.data.audiofolder import labelling, renamed_classes

        found = labelling(folder.root)
        how = "per-file hash: adding files moves no other" if found.how.endswith("hashed split") else found.how
        report.notes.append(f"split ({how}; recorded): {folder.csv_dir}")
        renamed = renamed_classes(found)
        shown = ", ".join(f"{label} -> {name!r}" for label, name in list(renamed.items())[:5])
        more = f" and {len(renamed) - 5} more" if len(renamed) > 5 else ""
        report.notes.append("class names: folder names (or labels) with '_' read as a space, in prompts and results"
                            + (f" ({shown}{more})" if renamed else ""))
        if ignored := found.ignored:
            report.notes.append(f"left out {ignored} {'sound' if image else 'image'} file(s): this folder holds "
                                f"{NOUNS[folder.modality]} (most of its files are; sounds on a tie)")
    untested = sorted(set(classes) - {r.classname for r in test})
    if untested:
        report.notes.append(f"{len(untested)} class(es) without test files: {', '.join(untested)}; "
                            "add test files or they go unmeasured")
    base, new = base_new_split(classes, folder.class_order)
    rule = " (in the dataset's label order, class_order.txt)" if folder.class_order is not None else ""
    report.notes.append(f"base/new split{rule}: base = {', '.join(base)}; new = {', '.join(new) or '(none)'}")
    good = list(filter(None, info.values()))
    if image:
        _image_rows(report, folder, info)
        if good:
            report.notes.append(f"sizes: {min(w for w, _ in good)}..{max(w for w, _ in good)} pixels wide, "
                                f"{min(h for _, h in good)}..{max(h for _, h in good)} high (the backbone's "
                                "processor resizes them)")
        return report
    channels: dict[int, int] = {}
    for _, _, n in good:
        channels[n] = channels.get(n, 0) + 1
    report.notes.append("channels: " + ", ".join(f"{n} channel(s) in {k} file(s)" for n, k in sorted(channels.items())))
    durations = [d for d, _, _ in good]
    short = sum(d < clip_seconds / 2 for d in durations)
    long = sum(d > clip_seconds * 2 for d in durations)
    report.notes.append(f"clip length {clip_seconds:g} s: {short} file(s) under {clip_seconds / 2:g} s will be "
                        f"repeated to fill it, {long} over {clip_seconds * 2:g} s cropped to it")
    for split, cls, paths in _by_class(folder):
        good = [info[p] for p in paths if info.get(p)]
        durs = [d for d, _, _ in good]
        rates = sorted({sr for _, sr, _ in good})
        spread = f"{min(durs):.1f} / {sum(durs) / len(durs):.1f} / {max(durs):.1f}" if durs else "-"
        report.rows.append((split, cls, str(len(paths)), spread, ", ".join(map(str, rates))))
    return report


def _audio_header(path: Path) -> tuple[float, int, int]:
    """(seconds, sample rate, channels), refused by name when the header is unreadable or absurd."""
    from septctl.data.headers import check_header

    h = check_header(path)
    return h.frames / h.samplerate, h.samplerate, h.channels


def _image_rows(report: CheckReport, folder: DatasetFolder, info: dict[str, tuple | None]) -> None:
    for split, cls, paths in _by_class(folder):
        sizes = [info[p] for p in paths if info.get(p)]
        widths, heights = [w for w, _ in sizes], [h for _, h in sizes]
        report.rows.append((split, cls, str(len(paths)), f"{min(widths)} / {max(widths)}" if sizes else "-",
                            f"{min(heights)} / {max(heights)}" if sizes else "-"))


def _by_class(folder: DatasetFolder) -> list[tuple[str, str, list[str]]]:
    """(split CSV, class, its files) for every split CSV and class, in order."""
    out = []
    for csv_path in folder.csv_files():
        by_class: dict[str, list[str]] = {}
        for r in read_csv(csv_path, folder.root):
            by_class.setdefault(r.classname, []).append(r.path)
        out += [(str(csv_path.relative_to(folder.csv_dir)), cls, by_class[cls]) for cls in sorted(by_class)]
    return out
