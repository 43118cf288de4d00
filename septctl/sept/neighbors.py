"""Semantic neighbors (paper §3.2): N related names per training class, from an LLM or the built-in bank.

The LLM is asked for a JSON object; replies are validated (every class present, N
distinct neighbors, none equal to a class name of the list) and only the classes
still short are asked again, listing what they already have so the model adds
new terms. `exclude` drops neighbors that contain given names (the filtered
variant of Table 12) and refills them the same way. The request is worded for what
the classifier takes in (`modality`: sounds, or pictures for CLIP), and the bank has
one file per modality; everything else is the same for both.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from septctl.artifacts import read_yaml, sha256_file
from septctl.errors import SeptctlError
from septctl.filecheck import check_names
from septctl.sept.llm import ChatClient, parse_json_reply

BANKS = {"audio": "banks/neighbors.yaml", "image": "banks/neighbors-image.yaml"}  # the built-in neighbors per modality
MAX_WORDS = 8  # longer "neighbors" are descriptions, and risk the text tower's 40-token limit


def norm_name(text: str) -> str:
    """Compare names the way a reader would: case, '_', '-', '/' and spacing do not matter."""
    return " ".join(re.sub(r"[_\-/]", " ", text).casefold().split())


def contains_name(text: str, name: str) -> bool:
    """Whether `name` occurs in `text` as whole words (so 'siren' is in 'police siren', not in 'sirenia')."""
    return f" {norm_name(name)} " in f" {norm_name(text)} "


@dataclass(frozen=True)
class NeighborSet:
    """A validated neighbors file: classes sorted, exactly n neighbors each."""

    classes: list[str]
    names: dict[str, list[str]]
    n: int
    sha256: str
    path: str = ""

    def rows(self) -> list[list[str]]:
        """The neighbor lists in class order (row j holds p_j^1..p_j^N)."""
        return [self.names[c] for c in self.classes]

    def for_classes(self, classes: list[str]) -> "NeighborSet":
        """This set, after checking that it was made for exactly these (training) classes."""
        if sorted(classes) != self.classes:
            missing = sorted(set(classes) - set(self.classes))
            extra = sorted(set(self.classes) - set(classes))
            raise SeptctlError(
                f"{self.path}: neighbors are for other classes (missing {missing[:5]}, extra {extra[:5]}); "
                "generate them for the training classes with `septctl neighbors DATASET --split base|all`"
            )
        return self


def load_neighbors(path: str | Path) -> NeighborSet:
    """Read and check a neighbors.yaml (top-level `neighbors: {class: [names]}`)."""
    data = read_yaml(path, "neighbors file")
    table = data.get("neighbors") if isinstance(data, dict) else None
    fix = "regenerate it with `septctl neighbors`"
    if not isinstance(table, dict) or not table:
        raise SeptctlError(f"{path}: no `neighbors:` mapping of class -> list of names; {fix}")
    sizes = set()
    names: dict[str, list[str]] = {}
    classes = {norm_name(str(c)): str(c) for c in table}
    for cls, items in table.items():
        check_names(path, f"neighbors of {cls!r}", items, fix)
        for i, item in enumerate(items, start=1):
            if norm_name(item) in classes:
                other = classes[norm_name(item)]
                whose = "its own class" if other == str(cls) else f"the class {other!r}"
                raise SeptctlError(f"{path}: neighbors of {cls!r}, item {i} ({item!r}) is {whose}; "
                                   f"a neighbor must name something other than a class: replace it or {fix}")
        if len({norm_name(x) for x in items}) != len(items):
            raise SeptctlError(f"{path}: neighbors of {cls!r} repeat a name; remove the repeat or {fix}")
        names[str(cls)] = [x.strip() for x in items]
        sizes.add(len(items))
    if len(sizes) != 1:
        counts = {c: len(v) for c, v in names.items()}
        usual = max(sorted(sizes), key=lambda n: sum(k == n for k in counts.values()))  # the most common count
        odd = ", ".join(f"{c!r} has {k}" for c, k in counts.items() if k != usual)
        raise SeptctlError(f"{path}: every class needs the same number of neighbors; most have {usual}, but {odd}; {fix}")
    return NeighborSet(sorted(names), {c: names[c] for c in sorted(names)}, sizes.pop(), sha256_file(path), str(path))


def bank_path(modality: str = "audio") -> Path:
    return Path(str(resources.files("septctl.sept").joinpath(BANKS[modality])))


def load_bank(path: str | Path | None = None, modality: str = "audio") -> dict[str, dict[str, list[str]]]:
    """The built-in neighbors of `modality`'s datasets: {dataset name: {class: [names]}}."""
    path = Path(path) if path else bank_path(modality)
    data = read_yaml(path, "built-in neighbor bank")
    table = data.get("datasets") if isinstance(data, dict) else None
    if not isinstance(table, dict):
        raise SeptctlError(f"{path}: no `datasets:` mapping; reinstall septctl")
    return table


def from_bank(
    classes: list[str], n: int, *, dataset: str | None = None, exclude: list[str] = (), path: str | Path | None = None,
    modality: str = "audio",
) -> dict[str, list[str]]:
    """Take n neighbors per class from the bank (the dataset's entry, else any dataset that has the class).

    Class names match as norm_name does (case, spacing, '_' '-' '/' ignored). Classes the
    bank lacks are all named at once, each with the closest bank names. `modality` picks the
    bank: an image class list is looked up among image datasets only (ESC-50's "airplane" is a
    sound, Caltech101's a picture).
    """
    bank = load_bank(path, modality)
    where = str(path or bank_path(modality))
    pools: list[dict] = [bank.get(dataset) or {}] if dataset else []
    pools += [v for v in bank.values() if isinstance(v, dict)]
    index: dict[str, list] = {}
    for pool in pools:
        for name, items in pool.items():
            if isinstance(items, list):
                index.setdefault(norm_name(str(name)), items)
    missing = [c for c in classes if norm_name(c) not in index]
    if missing:
        raise SeptctlError(f"{where}: no built-in neighbors for {len(missing)} of {len(classes)} classes: "
                           f"{_closest(missing, pools)}; write neighbors.yaml by hand (see docs/sept.md, "
                           "'Writing neighbors.yaml by hand') or use --llm MODEL")
    out = {}
    for cls in classes:
        kept, problems = [], {}
        for item in index[norm_name(cls)]:
            if len(kept) == n:
                break
            bad = _reject(item, kept, classes, exclude)
            if bad is None:
                kept.append(item.strip())
            else:
                problems[str(item)] = bad
        if len(kept) < n:
            raise SeptctlError(
                f"{where}: only {len(kept)} usable built-in neighbors for {cls!r} (need {n}; dropped {problems}); "
                "lower --n or use --llm MODEL to refill"
            )
        out[cls] = kept
    return out


def _closest(missing: list[str], pools: list[dict]) -> str:
    """'x' (closest: 'a', 'b'); 'y' (none close) -- difflib over the bank's class names."""
    import difflib

    names = sorted({str(k) for p in pools for k in p})
    by_norm = {norm_name(k): k for k in names}
    parts = []
    for cls in missing:
        near = [by_norm[k] for k in difflib.get_close_matches(norm_name(cls), list(by_norm), n=3, cutoff=0.6)]
        parts.append(f"{cls!r} (closest: {', '.join(map(repr, near))})" if near else f"{cls!r} (none close)")
    return "; ".join(parts)


def _reject(item: Any, have: list[str], classes: list[str], exclude: list[str]) -> str | None:
    """Why `item` cannot be a neighbor, or None if it can."""
    if not isinstance(item, str) or not item.strip():
        return "not a name"
    key = norm_name(item)
    if len(key.split()) > MAX_WORDS:
        return f"longer than {MAX_WORDS} words"
    same = next((c for c in classes if key == norm_name(c)), None)
    if same is not None:
        return f"is the class {same!r}"
    if any(key == norm_name(h) for h in have):
        return "repeated"
    if any(contains_name(item, name) for name in exclude):
        return "contains an excluded name"
    return None


NEIGHBOR_PROMPT = """\
You are helping to build {classifier} whose classes are named by short text labels.
The complete list of class labels is:
{all_classes}

For each target label below, propose new terms that are semantically close to it {closeness}. Guidelines:
1. Each term must be specific to its own label: {specific}.
2. Terms for one label must be clearly different from the terms for every other label in the \
complete list, so that the groups do not overlap.
3. Within one label, make the terms varied while still representative of the label.
4. Never use any label from the complete list as a term. Keep each term short (one to five words).
Before answering, silently look at the complete list for shared themes and use them to keep the \
groups relevant and distinct.

Targets, each with how many new terms it needs{avoid_note}:
{targets}

Answer with a single JSON object and nothing else. Its keys are the target labels, spelled \
exactly as above; each value is a list of that many strings. Example shape: \
{{"label one": ["term", "term"], "label two": ["term", "term"]}}
"""

# What the request says per modality (the rest of NEIGHBOR_PROMPT is shared). The audio wording is the
# request septctl has always sent: its cache entries keep replaying.
NEIGHBOR_WORDING = {
    "audio": {
        "classifier": "an audio classifier",
        "closeness": "in the world of sound: acoustic variants of the sound, the things or actions that produce it, "
                     "or the words a listener would use for what it sounds like",
        "specific": "related by acoustic character, by the situation where the sound occurs, or by how it is "
                    "perceived",
    },
    "image": {
        "classifier": "an image classifier",
        "closeness": "in what can be seen: visual variants of the object or scene, its typical parts, its kinds, "
                     "models and styles, or look-alike things a viewer would name when looking at it",
        "specific": "related by shape, colour or texture, by the setting where it is usually seen, or by how a "
                    "viewer would recognise it",
    },
}


def build_prompt(targets: dict[str, int], all_classes: list[str], avoid: dict[str, list[str]],
                 modality: str = "audio") -> str:
    lines = []
    for cls, k in targets.items():
        line = f"- {cls}: {k}"
        if avoid.get(cls):
            line += f" (do not repeat: {'; '.join(avoid[cls])})"
        lines.append(line)
    note = ", and terms already chosen or refused that must not be repeated" if any(avoid.values()) else ""
    return NEIGHBOR_PROMPT.format(all_classes="\n".join(f"- {c}" for c in all_classes), targets="\n".join(lines),
                                  avoid_note=note, **NEIGHBOR_WORDING[modality])


def _reply_table(obj: Any, wanted: list[str], extra: list[str] | None = None) -> dict[str, list]:
    """Map reply keys to wanted classes, case-insensitively; unwrap one level of {"neighbors": {...}}.

    `extra` receives the reply's keys that are no wanted class (dropped, but recorded)."""
    by_norm = {norm_name(c): c for c in wanted}
    if isinstance(obj, dict) and len(obj) == 1:
        inner = next(iter(obj.values()))
        if isinstance(inner, dict) and norm_name(next(iter(obj))) not in by_norm:
            obj = inner
    if not isinstance(obj, dict):
        return {}
    out = {}
    for key, items in obj.items():
        cls = by_norm.get(norm_name(str(key)))
        if cls is not None and isinstance(items, list):
            out[cls] = items
        elif cls is None and extra is not None:
            extra.append(str(key))
    return out


@dataclass
class Generation:
    """What a generation produced, and the exchange that produced it (kept in the card for replay).

    `requests` holds every prompt and raw reply with what was wrong with it per class, so
    a caller can save them even when the generation fails.
    """

    names: dict[str, list[str]]
    requests: list[dict] = field(default_factory=list)
    rejected: dict[str, dict[str, str]] = field(default_factory=dict)
    seconds: float = 0.0


def _problem(cls: str, table: dict[str, list] | None, have: list[str], n: int, refused: dict[str, str]) -> str:
    """Why class `cls` is still short after a reply, in words."""
    if table is None:
        return "the reply was not JSON"
    if cls not in table:
        return "missing from the reply"
    why = "; ".join(f"{item!r} {bad}" for item, bad in refused.items())
    return f"{len(have)} of {n} valid" + (f" (refused {why})" if why else "")


def generate_neighbors(
    client: ChatClient, classes: list[str], n: int = 10, *, exclude: list[str] = (), max_rounds: int = 4,
    record: Generation | None = None, notify: Callable[[str], None] = lambda _msg: None, modality: str = "audio",
) -> Generation:
    """Ask the LLM until every class has n valid neighbors, re-asking only for classes still short.

    `record` (a Generation to fill) lets the caller keep the raw replies if this raises; `modality`
    ("audio" or "image") words the request for what the classifier sees or hears.
    """
    start = time.monotonic()
    have: dict[str, list[str]] = {c: [] for c in classes}
    refused: dict[str, list[str]] = {c: [] for c in classes}
    gen = record if record is not None else Generation(names={})
    problems: dict[str, str] = {}
    for _ in range(max_rounds):
        short = {c: n - len(have[c]) for c in classes if len(have[c]) < n}
        if not short:
            break
        if gen.requests:
            notify(f"asking again for {len(short)} classes: "
                   + "; ".join(f"{c}: {problems[c]}" for c in list(short)[:5]) + (" ..." if len(short) > 5 else ""))
        prompt = build_prompt(short, classes, {c: have[c] + refused[c] for c in short}, modality)
        entry = {"prompt": prompt, "reply": None, "cached": False}
        gen.requests.append(entry)
        reply, cached = client.ask(prompt, modality)
        entry.update(reply=reply, cached=cached)
        extra: list[str] = []
        try:
            table = _reply_table(parse_json_reply(reply), list(short), extra)
        except ValueError:
            table = None
        if extra:  # a class nobody asked for (or one already complete): dropped, and said so in .llm.json
            entry["dropped_classes"] = extra
        progress = False
        round_refused: dict[str, dict[str, str]] = {}
        for cls, items in (table or {}).items():
            for item in items:
                if len(have[cls]) >= n:
                    break  # extra terms beyond n are ignored
                bad = _reject(item, have[cls], classes, exclude)
                if bad is None:
                    have[cls].append(item.strip())
                    progress = True
                else:
                    gen.rejected.setdefault(cls, {})[str(item)] = bad
                    round_refused.setdefault(cls, {})[str(item)] = bad
                    if isinstance(item, str) and item.strip():
                        refused[cls].append(item.strip())
        problems = {c: _problem(c, table, have[c], n, round_refused.get(c, {})) for c in short if len(have[c]) < n}
        entry["problems"] = problems
        if progress and not cached:
            client.remember(prompt, reply, modality)
    short = sorted(c for c in classes if len(have[c]) < n)
    if short:
        listed = "; ".join(f"{c}: {problems[c]}" for c in short[:5]) + (f"; and {len(short) - 5} more" if len(short) > 5 else "")
        raise SeptctlError(
            f"{client.where}: after {len(gen.requests)} requests, {len(short)} classes still lack {n} valid neighbors "
            f"({listed}); raise --max-rounds, try another model, or use --llm builtin"
        )
    gen.names = {c: have[c] for c in sorted(classes)}
    gen.seconds = round(time.monotonic() - start, 3)
    return gen
