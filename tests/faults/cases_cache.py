"""`embed --out FILE` where FILE exists but is no embedding file: refused (it may be the user's), --force named.

Broken entries inside septctl's own cache are recomputed instead (test_broken_cache.py).
"""

from __future__ import annotations

from tests.faults.table import Case

NOT_EMBEDDINGS = {
    "empty": b"",
    "text": b"my notes, not tensors\n",
    "yaml": b"neighbors:\n  dog: [puppy]\n",
    "header-only": (16).to_bytes(8, "little"),
    "huge-header-size": (1 << 60).to_bytes(8, "little") + b"{}",
    "bad-json-header": (8).to_bytes(8, "little") + b"{not js}",
    "wav": b"RIFF\x24\x00\x00\x00WAVEfmt ",
    "zeros": bytes(4096),
}


def _case(label: str, content: bytes) -> Case:
    def make(world, tmp_path):
        out = tmp_path / "mine.safetensors"
        out.write_bytes(content)
        return ["embed", world.data, "--backbone", "tiny", "--out", out], (str(out),)

    return Case(f"cache-out-not-embeddings-{label}", make, fix="--force")


def _foreign_tensors(world, tmp_path):
    """A whole safetensors file, but not septctl's: no card, no file list."""
    import torch

    from septctl.artifacts import save_tensors

    out = tmp_path / "weights.safetensors"
    save_tensors(out, {"w": torch.zeros(2, 2)})
    return ["embed", world.data, "--backbone", "tiny", "--out", out], (str(out),)


CASES = [_case(label, content) for label, content in NOT_EMBEDDINGS.items()]
CASES.append(Case("cache-out-foreign-safetensors", _foreign_tensors, fix="--force"))
