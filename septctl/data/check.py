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


def check_dataset(dataset: str, data_root: Path | None = None) -> CheckReport:
    from septctl.data.headers import check_header
    from septctl.errors import SeptctlError

    folder = open_dataset(dataset, data_root)
    report = CheckReport(folder.name)
    info: dict[str, tuple[float, int] | None] = {}
    for rel in folder.all_files():
        try:
            h = check_header(folder.root / rel)
            info[rel] = (h.frames / h.samplerate, h.samplerate)
        except SeptctlError as exc:
            info[rel] = None
            report.unreadable.append((rel, str(exc).split(": ", 1)[-1]))
    report.n_files = len(info)
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
