"""Where computation runs: a device name checked once, before any model is built."""

from __future__ import annotations

import re

from septctl.errors import SeptctlError

FORMS = "cpu, cuda, cuda:N or mps"


def check_device(name: str, here: bool = True) -> str:
    """`name` if this machine has it (or, with here=False, if it is a device name at all, e.g. for a plan that
    runs on another node); otherwise one line that says what to use instead."""
    spec = name.strip().lower()
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", spec):
        raise SeptctlError(f"--device {name!r}: not a device septctl knows; use {FORMS}")
    if not here:
        return spec
    import torch

    if spec.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise SeptctlError(f"--device {name}: no CUDA device on this machine; use --device cpu")
        index = int(spec.split(":")[1]) if ":" in spec else 0
        if index >= count:
            raise SeptctlError(f"--device {name}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
    if spec == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise SeptctlError(f"--device {name}: Apple's MPS is not available here; use --device cpu")
    return spec
