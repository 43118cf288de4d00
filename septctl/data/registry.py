"""Every dataset septctl knows: the paper's 11 and Caltech101 (its Table 11), each declared by its release module,
and the synthetic ones.

A release module in septctl/data/preparers/ declares its dataset(s) once (`DATASETS`: class
names as in PALM's CSVs, folds, task, release, PALM's split sizes) beside the code that
prepares its release, as a Hugging Face `datasets` builder declares its features; this
module only collects them. Adding a dataset is one module plus one name in RELEASE_MODULES,
or a plug-in package whose entry point names such a module (septctl/plugins.py).
"""

from __future__ import annotations

from types import ModuleType

from septctl import plugins
from septctl.data.preparers import (beijing_opera, caltech101, crema_d, esc50, gtzan, nsynth, ravdess, sesa,
                                    tut2017, urbansound8k, vocalsound)
from septctl.data.schema import DatasetInfo, split_names
from septctl.errors import SeptctlError

RELEASE_MODULES: tuple[ModuleType, ...] = (beijing_opera, caltech101, crema_d, esc50, gtzan, nsynth, ravdess, sesa,
                                           tut2017, urbansound8k, vocalsound)

# Made offline by `septctl data synth --dataset NAME`: sounds of the synthetic world (septctl/data/world.py)
# for the `synth-clap` backbone, and pictures of shapes; named by attribute words, so base and new classes
# share words but never a whole name.
SYNTH_DATASETS: tuple[DatasetInfo, ...] = (
    DatasetInfo("synth-tones", "synth-tones", "synthetic sound description (pitch, pitch motion, source)",
                split_names("high falling bell, high rising whistle, high steady buzzer, high steady hiss, "
                       "low falling whistle, low rising buzzer, low rising knock, low steady bell, "
                       "mid falling hiss, mid falling knock, mid rising bell, mid steady whistle"), 1),
    DatasetInfo("synth-patterns", "synth-patterns", "synthetic sound description (rhythm, loudness envelope, source)",
                split_names("continuous even whistle, continuous fading buzzer, continuous swelling bell, "
                       "continuous swelling hiss, fast even knock, fast even whistle, fast fading hiss, "
                       "fast swelling buzzer, slow even bell, slow fading knock, slow fading whistle, "
                       "slow swelling buzzer"), 1),
    # The high range named by the musician's "alto" (septctl/data/synth.py, RECORDINGS): a word synth-clap
    # never read, in the base half of the sorted split; docs/methods.md, "A benchmark in the paper's regime".
    DatasetInfo("synth-jargon", "synth-jargon", "synthetic sound description in a musician's words (pitch, "
                "pitch motion, source)",
                split_names("alto falling bell, alto falling buzzer, alto falling hiss, alto rising buzzer, "
                       "alto rising knock, alto rising whistle, alto steady knock, low falling bell, "
                       "low falling buzzer, low falling knock, low falling whistle, low rising bell, "
                       "low rising buzzer, low rising knock, low rising whistle, low steady buzzer, "
                       "low steady whistle, mid falling bell, mid falling hiss, mid falling knock, "
                       "mid rising buzzer, mid rising hiss, mid rising whistle, mid steady whistle"), 1),
    # Pictures for the image backbones' tests and demo (septctl/data/shapes.py): a colour and a shape.
    DatasetInfo("synth-shapes", "synth-shapes", "synthetic image description (colour, shape)",
                split_names("blue circle, blue square, blue star, blue triangle, green circle, green square, "
                            "green star, green triangle, red circle, red square, red star, red triangle"), 1,
                modality="image"),
)


def _release_module(module: object) -> ModuleType:
    """A plug-in's dataset module, if it declares datasets as a built-in release module does."""
    infos = getattr(module, "DATASETS", None)
    if not isinstance(module, ModuleType):
        raise ValueError(f"loads a {type(module).__name__}, not a module with DATASETS and plan")
    if not isinstance(infos, tuple) or not infos or not all(isinstance(d, DatasetInfo) for d in infos):
        raise ValueError("has no DATASETS tuple of DatasetInfo")
    if not callable(getattr(module, "plan", None)):
        raise ValueError("has no plan(source, name) function")
    taken = {key for m in RELEASE_MODULES for d in m.DATASETS for key in (d.name, d.folder.lower(), *d.aliases)}
    taken |= {d.name for d in SYNTH_DATASETS}
    if clash := [d.name for d in infos if {d.name, d.folder.lower(), *d.aliases} & taken]:
        raise ValueError(f"dataset {clash[0]!r} (or its folder or an alias) is already taken")
    return module


for _, _module in plugins.load("septctl.datasets", _release_module):
    RELEASE_MODULES += (_module,)

DATASETS: tuple[DatasetInfo, ...] = tuple(sorted((d for m in RELEASE_MODULES for d in m.DATASETS), key=lambda d: d.name))
PREPARERS: dict[str, ModuleType] = {d.name: m for m in RELEASE_MODULES for d in m.DATASETS}
NAMES = tuple(d.name for d in DATASETS)


def require_dataset(name: str, also: str = "") -> DatasetInfo:
    """`find_dataset`, or a refusal that names every dataset (and `also`, what else the caller accepts)."""
    info = find_dataset(name)
    if info is None:
        others = f", {also}" if also else ""
        raise SeptctlError(f"unknown dataset {name!r}; choose one of {', '.join(NAMES)}{others} "
                           "(aliases: `septctl data list`)")
    return info


def find_dataset(name: str) -> DatasetInfo | None:
    """Look a dataset up by canonical name, alias or PALM folder name (case-insensitive)."""
    key = name.strip().lower()
    for d in DATASETS + SYNTH_DATASETS:
        if key in (d.name, d.folder.lower(), *d.aliases):
            return d
    return None
