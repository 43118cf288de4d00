"""septctl: few-shot prompt tuning of audio-language models with SEPT.

The names in `__all__` are the Python API (docs/python.md): the objects the CLI itself runs.
Each is imported on first use (PEP 562), so `import septctl` stays fast and loads no torch.
Changing one of them, or its signature, is deliberate: tests/test_api.py pins them all and
the change needs a CHANGELOG line.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "load_backbone": "septctl.backbones",
    "load_run": "septctl.predict",
    "load_zeroshot": "septctl.predict",
    "Classifier": "septctl.predict",
    "Prediction": "septctl.predict",
    "SemanticExpansionLoss": "septctl.sept.loss",
    "compute_margins": "septctl.sept.margins",
    "ChatClient": "septctl.sept.llm",
    "generate_neighbors": "septctl.sept.neighbors",
    "load_neighbors": "septctl.sept.neighbors",
    "load_prefixes": "septctl.sept.prefixes",
    "template_bank": "septctl.sept.prefixes",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'septctl' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # the next lookup skips this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
