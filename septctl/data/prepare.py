"""`septctl data prepare`: run a dataset's preparer on its release, check the plan, write it atomically.

A preparer (septctl/data/preparers/) reads a release folder and returns a Plan (which files
go where, which rows each split CSV holds, which listed files are missing or unreadable).
Preparers never modify the release. PALM's published copies (train.csv / csv_files/ at the
top) go through `preparers.palm`, whatever the dataset.
"""

from __future__ import annotations

from pathlib import Path

from septctl.data.layout import write_layout
from septctl.data.preparers import palm
from septctl.data.preparers.base import Plan
from septctl.data.registry import PREPARERS, find_dataset
from septctl.errors import SeptctlError


def _check_classes(plan: Plan, name: str, source: Path) -> None:
    """Every label must be one of the registry's (= PALM's) class names, spelled the same."""
    info = find_dataset(name)
    if info is None:
        return
    unknown = sorted(plan.classes() - set(info.classes))
    if unknown:
        raise SeptctlError(
            f"{source}: class {unknown[0]!r} is not one of {info.name}'s classes ({', '.join(info.classes)}); "
            f"is --source the {info.name} release?"
        )


def _unreadable(files: dict[str, Path], modality: str) -> list[str]:
    """The files whose header cannot be read: soundfile for sounds (or no samples), Pillow for images."""
    return [rel for rel, src in files.items() if not (_image_ok if modality == "image" else _audio_ok)(src)]


def _audio_ok(path: Path) -> bool:
    import soundfile as sf

    try:
        return sf.info(str(path)).frames > 0
    except Exception:  # soundfile raises LibsndfileError, RuntimeError, TypeError...
        return False


def _image_ok(path: Path) -> bool:
    """Pillow identifies the format and checks the file's structure (`verify`) without decoding the pixels."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.verify()
        return True
    except Exception:  # Pillow raises OSError, SyntaxError, ValueError, struct.error... on damaged files
        return False


def make_plan(name: str, source: Path) -> Plan:
    if name not in PREPARERS:
        raise SeptctlError(f"no preparer for {name!r}; available: {', '.join(sorted(PREPARERS))}")
    source = Path(source)
    if not source.is_dir():
        raise SeptctlError(f"{source}: release folder not found; pass the unpacked release with --source")
    info = find_dataset(name)
    module = palm if info.hf_repo and palm.is_palm_copy(source) else PREPARERS[name]  # image data: no PALM copy
    plan = module.plan(source, name)
    _check_classes(plan, name, source)
    plan.unreadable = _unreadable(plan.files, info.modality)
    return plan


def prepare(name: str, source: Path, out: Path, allow_missing: bool = False, link: bool = False) -> Plan:
    plan = make_plan(name, source)
    problems = [(plan.missing, "missing"), (plan.unreadable, "unreadable")]
    for bad, what in problems:
        if bad and not allow_missing:
            listed = len(plan.files) + len(plan.missing)
            raise SeptctlError(
                f"{source}: {len(bad)} of {listed} files listed by {plan.source_meta or 'the release'} are {what} "
                f"(first: {', '.join(bad[:3])}); re-download the release, or pass --allow-missing "
                f"to prepare from the {len(plan.files) - len(plan.unreadable)} good files"
            )
    plan.drop(set(plan.unreadable))
    empty = [k for k, rows in plan.splits.items() if not rows]
    if empty:
        raise SeptctlError(f"{source}: nothing left for {empty[0]} after dropping bad files; get a complete release")
    write_layout(out, plan.files, plan.splits, link=link, class_order=plan.class_order)
    return plan
