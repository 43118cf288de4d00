"""Prompt templates (paper §3.3): T sentence patterns with one `{}` slot for a class or neighbor name.

The margins average distances over these templates so that no single wording
decides them (Table 7: SEPT vs SEPT-). Templates come from the built-in pool or an
LLM; an LLM's `<class>` or `{class}` slot is rewritten to `{}`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from septctl.artifacts import read_yaml, sha256_file
from septctl.errors import SeptctlError
from septctl.filecheck import check_names
from septctl.sept.llm import ChatClient, parse_json_reply
from septctl.sept.neighbors import Generation

BANK = "banks/prefixes.yaml"
SLOT = "{}"
_OTHER_SLOTS = re.compile(r"<\s*class\s*>|\{\s*class(?:name)?\s*\}|\[\s*class\s*\]", re.IGNORECASE)


def fill(template: str, name: str) -> str:
    """The sentence for `name` (str.replace, so other braces in a template stay literal)."""
    return template.replace(SLOT, name)


def template_problem(template: object) -> str | None:
    """Why `template` is unusable, or None."""
    if not isinstance(template, str) or not template.strip():
        return "not a string"
    if template.count(SLOT) != 1:
        return f"needs exactly one {SLOT} slot"
    return None


@dataclass(frozen=True)
class PrefixSet:
    templates: list[str]
    sha256: str
    path: str = ""


def _check_list(items: object, path: str | Path, key: str, fix: str) -> list[str]:
    if not isinstance(items, list) or not items:
        raise SeptctlError(f"{path}: no `{key}:` list of templates; {fix}")
    check_names(path, f"`{key}:`", items, fix)
    for t in items:
        if (bad := template_problem(t)) is not None:
            raise SeptctlError(f"{path}: template {t!r} {bad}; edit it or {fix}")
    if len({t.strip().casefold() for t in items}) != len(items):
        raise SeptctlError(f"{path}: a template is repeated; remove the repeat or {fix}")
    return [t.strip() for t in items]


def load_prefixes(path: str | Path) -> PrefixSet:
    """Read and check a prefixes.yaml (top-level `prefixes: [templates]`)."""
    data = read_yaml(path, "prefixes file")
    items = data.get("prefixes") if isinstance(data, dict) else None
    return PrefixSet(_check_list(items, path, "prefixes", "regenerate it with `septctl prefixes`"),
                     sha256_file(path), str(path))


def bank_path() -> Path:
    return Path(str(resources.files("septctl.sept").joinpath(BANK)))


def template_bank(n: int, path: str | Path | None = None) -> list[str]:
    """The first n templates of the built-in pool."""
    path = Path(path) if path else bank_path()
    data = read_yaml(path, "built-in prefix bank")
    items = _check_list(data.get("prefixes") if isinstance(data, dict) else None, path, "prefixes", "reinstall septctl")
    if n > len(items):
        raise SeptctlError(f"{path}: the built-in pool has {len(items)} templates, not {n}; lower --n or use --llm MODEL")
    return items[:n]


PREFIX_PROMPT = """\
I classify audio with a contrastive audio-text model: a clip's embedding is compared with the \
embeddings of short sentences built from a template and a class label, for example \
"a recording of {{}}." with {{}} replaced by "dog barking". A single template rarely suits every \
kind of sound, so I want a large and varied pool of templates.

Write {k} new templates that could naturally describe a sound, a voice, an audio event, a piece \
of music or the source of a sound, where {{}} stands for labels such as "thunder", "doorbell", \
"car", "air conditioner", "laughter" or "blues". Vary the register (technical, everyday, \
literary) and the verbs and modifiers ("produced by", "coming from", "recorded near", \
"the noise of", ...). Every template must contain the two characters {{}} exactly once, and no \
two templates may be the same.{avoid}

Answer with a single JSON object and nothing else, of the form {{"templates": ["...", "..."]}}.
"""


def build_prompt(k: int, have: list[str]) -> str:
    avoid = ""
    if have:
        avoid = " Do not repeat any of these, which I already have:\n" + "\n".join(f"- {t}" for t in have)
    return PREFIX_PROMPT.format(k=k, avoid=avoid)


def _refusals(gen: Generation, shown: int = 5) -> str:
    """Why replies and templates were refused, the first few in words (all are in the .llm.json)."""
    why = [f"{what} {bad}" for what, bad in gen.rejected.get("replies", {}).items()]
    why += [f"{item!r} {bad}" for item, bad in gen.rejected.get("templates", {}).items()]
    if not why:
        return ""
    return " (refused: " + "; ".join(why[:shown]) + (f"; and {len(why) - shown} more" if len(why) > shown else "") + ")"


def generate_prefixes(client: ChatClient, n: int = 100, *, max_rounds: int = 4,
                      record: Generation | None = None) -> Generation:
    """Ask the LLM until n valid, distinct templates are collected.

    `record` (a Generation to fill) lets the caller keep the raw replies if this raises.
    """
    start = time.monotonic()
    have: list[str] = []
    gen = record if record is not None else Generation(names={})
    for _ in range(max_rounds):
        if len(have) >= n:
            break
        prompt = build_prompt(n - len(have), have)
        reply, cached = client.ask(prompt)
        gen.requests.append({"prompt": prompt, "reply": reply, "cached": cached})
        try:
            obj = parse_json_reply(reply)
        except ValueError:
            gen.rejected.setdefault("replies", {})[f"reply {len(gen.requests)}"] = "not JSON"
            continue
        items = obj.get("templates") if isinstance(obj, dict) else obj
        if isinstance(obj, dict) and items is None and len(obj) == 1:
            items = next(iter(obj.values()))
        progress = False
        for item in items if isinstance(items, list) else []:
            if len(have) >= n:
                break
            text = _OTHER_SLOTS.sub(SLOT, item).strip() if isinstance(item, str) else item
            bad = template_problem(text)
            if bad is None and text.casefold() in {h.casefold() for h in have}:
                bad = "repeated"
            if bad is None:
                have.append(text)
                progress = True
            else:
                gen.rejected.setdefault("templates", {})[str(item)] = bad
        if progress and not cached:
            client.remember(prompt, reply)
    if len(have) < n:
        raise SeptctlError(
            f"{client.where}: after {len(gen.requests)} requests only {len(have)} of {n} valid templates"
            f"{_refusals(gen)}; raise --max-rounds, try another model, or use --llm builtin"
        )
    gen.names = {"prefixes": have}
    gen.seconds = round(time.monotonic() - start, 3)
    return gen
