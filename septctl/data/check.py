"""`data check`: read every file's header and summarise the dataset per split and class."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from septctl.data.layout import open_dataset, read_csv


@dataclass
class CheckReport:
    name: str
    n_files: int = 0
    rows: list[tuple[str, ...]] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what later commands will do with this data


def check_dataset(dataset: str, data_root: Path | None = None, clip_seconds: float = 7.0) -> CheckReport:
    """Read every header, refuse splits that would fail later, and note what the backbone will do with the clips.

    `clip_seconds` is the backbone's clip length (Pengi, the default, and MS-CLAP: 7 s): a clip under half of
    it is repeated at least twice, one over twice it loses more than half.
    """
    from septctl.data.headers import check_header
    from septctl.data.schema import base_new_split
    from septctl.errors import SeptctlError

    folder = open_dataset(dataset, data_root)
    report = CheckReport(folder.name)
    info: dict[str, tuple[float, int] | None] = {}
    channels: dict[int, int] = {}
    for rel in folder.all_files():
        try:
            h = check_header(folder.root / rel)
            info[rel] = (h.frames / h.samplerate, h.samplerate)
            channels[h.channels] = channels.get(h.channels, 0) + 1
        except SeptctlError as exc:
            info[rel] = None
            report.unreadable.append((rel, str(exc).split(": ", 1)[-1]))
    report.n_files = len(info)
    for fold in ([None] if (folder.csv_dir / "train.csv").is_file() else []) + list(range(1, folder.folds + 1)):
        folder.splits(fold)  # refuses labels that differ only by case or spaces, and test-only classes
    train, test = folder.splits(folder.default_fold())
    classes = sorted({r.classname for r in train})
    if folder.csv_dir != folder.root:
        from septctl.data.audiofolder import renamed_classes

        report.notes.append(f"split (per-file hash: adding files moves no other; recorded): {folder.csv_dir}")
        renamed = renamed_classes(folder.root)
        shown = ", ".join(f"{label} -> {name!r}" for label, name in list(renamed.items())[:5])
        more = f" and {len(renamed) - 5} more" if len(renamed) > 5 else ""
        report.notes.append("class names: folder names (or labels) with '_' read as a space, in prompts and results"
                            + (f" ({shown}{more})" if renamed else ""))
    untested = sorted(set(classes) - {r.classname for r in test})
    if untested:
        report.notes.append(f"{len(untested)} class(es) without test files: {', '.join(untested)}; "
                            "add test files or they go unmeasured")
    base, new = base_new_split(classes)
    report.notes.append(f"base/new split: base = {', '.join(base)}; new = {', '.join(new) or '(none)'}")
    report.notes.append("channels: " + ", ".join(f"{n} channel(s) in {k} file(s)" for n, k in sorted(channels.items())))
    durations = [d for d, _ in filter(None, info.values())]
    short = sum(d < clip_seconds / 2 for d in durations)
    long = sum(d > clip_seconds * 2 for d in durations)
    report.notes.append(f"clip length {clip_seconds:g} s: {short} file(s) under {clip_seconds / 2:g} s will be "
                        f"repeated to fill it, {long} over {clip_seconds * 2:g} s cropped to it")
    for csv_path in folder.csv_files():
        by_class: dict[str, list[str]] = {}
        for r in read_csv(csv_path, folder.root):
            by_class.setdefault(r.classname, []).append(r.path)
        for cls in sorted(by_class):
            good = [info[p] for p in by_class[cls] if info.get(p)]
            durs = [d for d, _ in good]
            rates = sorted({sr for _, sr in good})
            spread = f"{min(durs):.1f} / {sum(durs) / len(durs):.1f} / {max(durs):.1f}" if durs else "-"
            report.rows.append((str(csv_path.relative_to(folder.csv_dir)), cls, str(len(by_class[cls])), spread,
                                ", ".join(map(str, rates))))
    return report
