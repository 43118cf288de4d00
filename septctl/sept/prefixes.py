"""Prompt templates (paper §3.3): T sentence patterns with one `{}` slot for a class or neighbor name.

The margins average distances over these templates so that no single wording
decides them (Table 7: SEPT vs SEPT-). Templates come from the built-in pool or an
LLM; an LLM's `<class>` or `{class}` slot is rewritten to `{}`. Both speak of what the
backbone embeds: sounds for an audio backbone, pictures for an image one (CLIP); a
prefixes file says which in its card (`modality`, audio when absent).
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

BANKS = {"audio": "banks/prefixes.yaml", "image": "banks/prefixes-image.yaml"}  # the built-in pool per modality
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
    modality: str = "audio"  # what the templates describe, as the file's card says


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
    card = data.get("card") if isinstance(data, dict) else None
    modality = card.get("modality", "audio") if isinstance(card, dict) else "audio"
    return PrefixSet(_check_list(items, path, "prefixes", "regenerate it with `septctl prefixes`"),
                     sha256_file(path), str(path), str(modality))


def bank_path(modality: str = "audio") -> Path:
    return Path(str(resources.files("septctl.sept").joinpath(BANKS[modality])))


def template_bank(n: int, path: str | Path | None = None, *, modality: str = "audio") -> list[str]:
    """The first n templates of the built-in pool of `modality` (sound templates, or picture templates)."""
    path = Path(path) if path else bank_path(modality)
    data = read_yaml(path, "built-in prefix bank")
    items = _check_list(data.get("prefixes") if isinstance(data, dict) else None, path, "prefixes", "reinstall septctl")
    if n > len(items):
        raise SeptctlError(f"{path}: the built-in pool has {len(items)} templates, not {n}; lower --n or use --llm MODEL")
    return items[:n]


PREFIX_PROMPT = """\
I classify {media} with a contrastive {media_text} model: {embedding} is compared with the \
embeddings of short sentences built from a template and a class label, for example {example}. \
A single template rarely suits every {kind}, so I want a large and varied pool of templates.

Write {k} new templates that could naturally {describe}, where {{}} stands for labels such as \
{labels}. Vary {vary}. Every template must contain the two characters {{}} exactly once, and no \
two templates may be the same.{avoid}

Answer with a single JSON object and nothing else, of the form {{"templates": ["...", "..."]}}.
"""

# What the request says per modality (the rest of PREFIX_PROMPT is shared). The audio wording is the
# request septctl has always sent: its cache entries keep replaying.
PREFIX_WORDING = {
    "audio": {
        "media": "audio", "media_text": "audio-text", "embedding": "a clip's embedding",
        "example": '"a recording of {}." with {} replaced by "dog barking"', "kind": "kind of sound",
        "describe": "describe a sound, a voice, an audio event, a piece of music or the source of a sound",
        "labels": '"thunder", "doorbell", "car", "air conditioner", "laughter" or "blues"',
        "vary": 'the register (technical, everyday, literary) and the verbs and modifiers ("produced by", '
                '"coming from", "recorded near", "the noise of", ...)',
    },
    "image": {
        "media": "images", "media_text": "image-text", "embedding": "an image's embedding",
        "example": '"a photo of a {}." with {} replaced by "teapot"', "kind": "kind of picture",
        "describe": "caption a photo, a picture, a drawing or a painting of an object, an animal or a scene",
        "labels": '"bicycle", "giraffe", "bridge", "violin", "tulip" or "fire engine"',
        "vary": 'the medium and the viewpoint ("a sketch of", "a close-up of", "seen from above", ...), the '
                'quality and the light ("blurry", "cropped", "bright", "in the dark", ...) and the register '
                '(technical, everyday, literary)',
    },
}


def build_prompt(k: int, have: list[str], modality: str = "audio") -> str:
    avoid = ""
    if have:
        avoid = " Do not repeat any of these, which I already have:\n" + "\n".join(f"- {t}" for t in have)
    return PREFIX_PROMPT.format(k=k, avoid=avoid, **PREFIX_WORDING[modality])


def _refusals(gen: Generation, shown: int = 5) -> str:
    """Why replies and templates were refused, the first few in words (all are in the .llm.json)."""
    why = [f"{what} {bad}" for what, bad in gen.rejected.get("replies", {}).items()]
    why += [f"{item!r} {bad}" for item, bad in gen.rejected.get("templates", {}).items()]
    if not why:
        return ""
    return " (refused: " + "; ".join(why[:shown]) + (f"; and {len(why) - shown} more" if len(why) > shown else "") + ")"


def generate_prefixes(client: ChatClient, n: int = 100, *, max_rounds: int = 4,
                      record: Generation | None = None, modality: str = "audio") -> Generation:
    """Ask the LLM until n valid, distinct templates are collected.

    `record` (a Generation to fill) lets the caller keep the raw replies if this raises; `modality`
    asks for templates that describe a sound ("audio") or caption a picture ("image").
    """
    start = time.monotonic()
    have: list[str] = []
    gen = record if record is not None else Generation(names={})
    for _ in range(max_rounds):
        if len(have) >= n:
            break
        prompt = build_prompt(n - len(have), have, modality)
        reply, cached = client.ask(prompt, modality)
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
            client.remember(prompt, reply, modality)
    if len(have) < n:
        raise SeptctlError(
            f"{client.where}: after {len(gen.requests)} requests only {len(have)} of {n} valid templates"
            f"{_refusals(gen)}; raise --max-rounds, try another model, or use --llm builtin"
        )
    gen.names = {"prefixes": have}
    gen.seconds = round(time.monotonic() - start, 3)
    return gen
