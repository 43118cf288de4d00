"""Quality gates for the built-in SEPT banks (septctl/sept/banks/*.yaml).

The banks replace an LLM call when septctl runs offline, so they must hold the
properties the paper asks of generated neighbors (Fig. 6) and prefixes (Fig. 5):
complete, class-specific, non-overlapping within a dataset, and short enough
for the text tower.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import septctl
from septctl.backbones.tokenizer import ClipTokenizer
from septctl.data.registry import DATASETS, SYNTH_DATASETS

BANKS = Path(septctl.__file__).resolve().parent / "sept" / "banks"
N_NEIGHBORS = 10
N_PREFIXES = 100
CONTEXT_LENGTH = 40
# The audio datasets: image datasets have their own bank (neighbors-image.yaml, tests/test_sept_images.py).
ALL_DATASETS = [d for d in DATASETS + SYNTH_DATASETS if d.modality == "audio"]


@pytest.fixture(scope="module")
def neighbors() -> dict[str, dict[str, list[str]]]:
    return yaml.safe_load((BANKS / "neighbors.yaml").read_text(encoding="utf-8"))["datasets"]


@pytest.fixture(scope="module")
def prefixes() -> list[str]:
    return yaml.safe_load((BANKS / "prefixes.yaml").read_text(encoding="utf-8"))["prefixes"]


def _forms(class_name: str) -> set[str]:
    """Spellings of a class name a neighbor could carry: 'city_center' -> 'city center', 'cafe/restaurant' -> both."""
    text = class_name.lower().replace("_", " ")
    return {text, *text.split("/")}


def _contains_word(text: str, phrase: str) -> bool:
    return re.search(rf"\b{re.escape(phrase)}\b", text.lower()) is not None


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower().replace("_", " ")))


def test_every_registered_class_has_ten_unique_neighbors(neighbors):
    assert set(neighbors) == {d.name for d in ALL_DATASETS}
    for d in ALL_DATASETS:
        assert list(neighbors[d.name]) == list(d.classes), d.name
        for c, ns in neighbors[d.name].items():
            assert len(ns) == N_NEIGHBORS, (d.name, c)
            assert len(set(ns)) == N_NEIGHBORS, (d.name, c)
            assert all(isinstance(n, str) and n.strip() == n and n for n in ns), (d.name, c)


def test_no_neighbor_equals_a_class_name(neighbors):
    for d in ALL_DATASETS:
        names = set().union(*(_forms(c) for c in d.classes))
        for c, ns in neighbors[d.name].items():
            clashes = [n for n in ns if n.lower().replace("_", " ") in names]
            assert not clashes, (d.name, c, clashes)


def test_classes_of_a_dataset_share_no_neighbor(neighbors):
    for d in ALL_DATASETS:
        owner: dict[str, str] = {}
        for c, ns in neighbors[d.name].items():
            for n in ns:
                key = n.lower()
                assert owner.setdefault(key, c) == c, (d.name, n, owner[key], c)


def test_no_neighbor_names_another_class_of_its_dataset(neighbors):
    for d in ALL_DATASETS:
        for c, ns in neighbors[d.name].items():
            others = set().union(*(_forms(o) for o in d.classes if o != c))
            hits = [(n, o) for n in ns for o in others if _contains_word(n, o)]
            assert not hits, (d.name, c, hits)


def test_base_neighbors_leak_no_word_of_a_new_class(neighbors):
    """Base-to-new evaluation: what trains on base classes must not mention the held-out ones."""
    for d in ALL_DATASETS:
        base, new = d.base, d.new
        new_words = set().union(*(_words(c) for c in new))
        for c in base:
            leaks = [n for n in neighbors[d.name][c] if _words(n) & new_words]
            assert not leaks, (d.name, c, leaks)


def test_shared_esc50_action_classes_are_identical(neighbors):
    for c, ns in neighbors["esc50-actions"].items():
        assert ns == neighbors["esc50"][c], c


def test_neighbors_are_short_phrases(neighbors):
    for d in ALL_DATASETS:
        for c, ns in neighbors[d.name].items():
            long_ones = [n for n in ns if len(n.split()) > 5]
            assert not long_ones, (d.name, c, long_ones)


def test_hundred_unique_prefixes_with_one_slot(prefixes):
    assert len(prefixes) == N_PREFIXES
    assert len({p.lower() for p in prefixes}) == N_PREFIXES
    for p in prefixes:
        assert p.count("{}") == 1 and "{" not in p.replace("{}", ""), p
        assert len(p.split()) <= 12, p


def test_every_prompt_fits_the_text_tower(neighbors, prefixes):
    """Exact token counts for every pairing that can be longest, plus the additive budget for all pairs.

    CLIP's BPE tokenizes word by word, so a prompt's length is the prefix's plus the
    filler's; checking the 20 longest fillers against every prefix and every filler
    against the 5 longest prefixes covers the worst cases without 130k tokenizer calls.
    """
    tokenizer = ClipTokenizer(CONTEXT_LENGTH)
    fillers = {n for ds in neighbors.values() for ns in ds.values() for n in ns}
    fillers |= {c.replace("_", " ") for d in ALL_DATASETS for c in d.classes}
    filler_len = {f: len(tokenizer.ids(f)) - 2 for f in sorted(fillers)}
    prefix_len = {p: len(tokenizer.ids(p.format(""))) for p in prefixes}
    assert max(prefix_len.values()) + max(filler_len.values()) <= CONTEXT_LENGTH
    longest_fillers = sorted(filler_len, key=filler_len.get)[-20:]
    longest_prefixes = sorted(prefix_len, key=prefix_len.get)[-5:]
    pairs = {(p, f) for p in prefixes for f in longest_fillers} | {(p, f) for p in longest_prefixes for f in fillers}
    too_long = [(p, f) for p, f in sorted(pairs) if len(tokenizer.ids(p.format(f))) > CONTEXT_LENGTH]
    assert not too_long, too_long[:5]
