"""Whether a training step's text tower is compiled: `train --compile` / SEPTCTL_COMPILE.

On a GPU a SEPT step is bound by kernel launches (docs/speed.md: ~38 ms a step on an
H100 for arithmetic that takes far less), and its shapes are fixed per run: the same
class and neighbor names every step. `torch.compile(mode="reduce-overhead")` fuses the
tower's small kernels and replays them as CUDA graphs. On the CPU a step is bound by
arithmetic, and compiling costs seconds to minutes of start-up, so `auto` keeps the CPU
on the unchanged eager path and compiles on CUDA only. The default is `off`: no GPU has
run the compiled path yet (docs/speed.md), and a default must be a measured path.

Only the text tower's layer stack is compiled (`ClipTextTower.encode_layout`), and only
for calls with gradients, i.e. training steps; evaluation, margins and KgCoOp's
hand-written features stay eager. The losses stay eager too: they are a few kernels each,
and their per-step `.item()` (logging, the finite check) syncs anyway.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from septctl.errors import SeptctlError

if TYPE_CHECKING:
    from septctl.backbones.base import Backbone

ENV = "SEPTCTL_COMPILE"
BACKEND = "inductor"  # torch.compile's own; the fast tests swap in aot_eager (same graphs, no C++ build)
# setting -> torch.compile mode on CUDA; "on" compiles with inductor's default mode off CUDA (CPU graphs do not exist)
SETTINGS = {"auto": "reduce-overhead", "on": "reduce-overhead", "off": None,
            "reduce-overhead": "reduce-overhead", "default": "default", "max-autotune": "max-autotune",
            "max-autotune-no-cudagraphs": "max-autotune-no-cudagraphs"}  # all that a card can record
WITHOUT_CUDA_GRAPHS = {"reduce-overhead": "default", "max-autotune": "max-autotune-no-cudagraphs"}
ALIASES = {"1": "on", "true": "on", "yes": "on", "0": "off", "false": "off", "no": "off"}
HELP = ("Compile the text tower for training steps (fewer GPU kernel launches): auto (on CUDA only), on, or a "
        "torch.compile mode; off by default, as no GPU has run it yet (docs/speed.md). Also SEPTCTL_COMPILE.")


def compile_mode(setting: str | None, device: str) -> str | None:
    """The torch.compile mode for a run on `device`, or None for eager; `setting` None reads SEPTCTL_COMPILE."""
    from_env = setting is None
    raw = os.environ.get(ENV, "off") if from_env else setting
    key = ALIASES.get(raw.strip().lower(), raw.strip().lower())
    if key not in SETTINGS:
        where = f"{ENV}={raw}" if from_env else f"--compile {raw}"
        raise SeptctlError(f"{where}: not a compile setting; use one of auto, on, off, {', '.join(list(SETTINGS)[3:])}")
    cuda = str(device).startswith("cuda")
    if key == "auto" and not (cuda and has_toolchain()):
        return None
    mode = SETTINGS[key]
    if mode == "reduce-overhead" and not cuda:
        return "default"  # CUDA graphs need CUDA; inductor's kernels still apply
    return mode


def has_toolchain() -> bool:
    """Triton and a C compiler (Triton builds its launchers with one): what inductor needs on CUDA.

    Without them `auto` stays eager instead of failing at the first step; `on` still tries.
    """
    import importlib.util
    import shutil

    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    return bool(cc) and importlib.util.find_spec("triton") is not None


def compile_for_training(backbone: Backbone, mode: str | None, checkpointed: bool = False,
                         echo: Callable[[str], None] | None = None) -> str | None:
    """Compile `backbone`'s text tower for training steps; returns the mode used (None: eager, or a tower without it).

    `checkpointed`: the steps recompute the tower in the backward pass (CoCoOp's chunks trained
    alone). CUDA graphs fail under activation checkpointing (pytorch/pytorch#154306), so such
    runs get the same mode without them.
    """
    if checkpointed:
        mode = WITHOUT_CUDA_GRAPHS.get(mode, mode)
    from septctl.backbones.clip_text import ClipTextTower

    tower = getattr(backbone, "text", None)  # Pengi, tiny and synth-clap; MS-CLAP's GPT-2 and LAION-CLAP stay eager
    if not isinstance(tower, ClipTextTower):
        return None
    tower.compile_step(mode, BACKEND)  # None: eager, also where this tower was compiled before
    if mode is None:
        return None
    if echo:
        echo(f"text tower compiled for training steps ({mode}); the first steps of each shape include compiling")
    return mode
