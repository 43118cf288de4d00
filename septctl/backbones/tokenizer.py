"""CLIP's BPE tokenizer, offline.

The vocabulary ships with septctl (assets/bpe_simple_vocab_16e6.txt.gz, MIT, OpenAI).
It is turned into the vocab.json/merges.txt pair that Hugging Face's CLIPTokenizer
reads, once per cache folder, so no network is ever needed.
"""

from __future__ import annotations

import functools
import gzip
import json
from importlib import resources
from pathlib import Path

import torch

from septctl.console import shortened
from septctl.errors import SeptctlError
from septctl.paths import cache_dir

SOT_ID = 49406
EOT_ID = 49407
_N_MERGES = 49152 - 256 - 2


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable-character table used by CLIP's BPE."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars)))


def _hf_files() -> Path:
    """Write vocab.json and merges.txt for HF's CLIPTokenizer (cached)."""
    out = cache_dir("clip-tokenizer")
    if (out / "vocab.json").is_file() and (out / "merges.txt").is_file():
        return out
    raw = resources.files("septctl.backbones").joinpath("assets/bpe_simple_vocab_16e6.txt.gz").read_bytes()
    lines = gzip.decompress(raw).decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : _N_MERGES + 1]]
    vocab = list(_bytes_to_unicode().values())
    vocab += [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    from septctl.artifacts import write_text

    write_text(out / "vocab.json", json.dumps({tok: i for i, tok in enumerate(vocab)}))
    write_text(out / "merges.txt", "#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    return out


@functools.lru_cache(maxsize=1)
def _hf_tokenizer():
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(str(_hf_files()))


class ClipTokenizer:
    """Tokenize to a fixed context length; report the end-of-text position of each row."""

    sot_id = SOT_ID
    eot_id = EOT_ID

    def __init__(self, context_length: int):
        self.context_length = context_length

    def ids(self, text: str) -> list[int]:
        """Token ids of `text` with start and end tokens, unpadded."""
        return _hf_tokenizer()(text)["input_ids"]

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = [self.ids(t) for t in texts]
        too_long = [t for t, r in zip(texts, rows) if len(r) > self.context_length]
        if too_long:
            raise SeptctlError(
                f"prompt {shortened(too_long[0])!r} is {len(self.ids(too_long[0]))} tokens, over the text tower's "
                f"{self.context_length}; shorten the class name or the template, or lower --n-ctx"
            )
        ids = torch.full((len(rows), self.context_length), self.eot_id, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
        eot = torch.tensor([len(r) - 1 for r in rows], dtype=torch.long)
        return ids, eot
