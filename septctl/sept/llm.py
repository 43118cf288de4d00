"""A small chat client for neighbor and prefix generation, with a replayable cache.

Talks to OpenAI or any OpenAI-compatible server through the `openai` package. We do
our own retries (429, timeouts, 5xx) so the bound and the backoff are explicit and
fast in tests. Replies the caller found useful are cached under cache_dir("llm"),
keyed by sha256(model, base_url, prompt), so a rerun replays them without network; a
request for another modality than audio has the modality in its key too, so an audio
reply is never replayed for an image request (audio keys are the ones they always were).
Every request is bounded twice: `timeout_s` per reply and `total_s` for all tries of
all requests of one command together, so a hung server fails in seconds, not hours.
Each retry is announced through `notify` with its cause; a 429's Retry-After is obeyed.
The API key is only ever handed to the client object: it is scrubbed from every
error message and is never part of a cache entry or a card.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from septctl.artifacts import sha256_text, write_json
from septctl.errors import SeptctlError
from septctl.paths import cache_dir

# Local servers (vLLM, llama.cpp, Ollama) accept any key; the openai client insists on one.
_PLACEHOLDER_KEY = "not-needed"
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
DEFAULT_TIMEOUT_S = 30.0  # one reply; a local 8B model answers a neighbors prompt well within this
DEFAULT_TOTAL_S = 300.0  # every try of every request of one command


def with_scheme(base_url: str | None) -> tuple[str | None, str | None]:
    """(URL, hint): a --base-url without http(s):// gets one, http for loopback/IP hosts, https otherwise."""
    if base_url is None or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", base_url):
        return base_url, None
    host = urlsplit(f"//{base_url}").hostname or ""
    local = host == "localhost" or re.fullmatch(r"[0-9.]+|\[?[0-9a-fA-F:]+\]?", host) is not None
    fixed = f"{'http' if local else 'https'}://{base_url}"
    return fixed, f"--base-url {base_url!r} has no scheme; using {fixed} (write the scheme to choose)"


@dataclass
class ChatClient:
    """One model on one endpoint. `max_tries` bounds attempts per request; waits double from `backoff_s`."""

    model: str
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    max_tries: int = 3
    backoff_s: float = 2.0
    timeout_s: float = DEFAULT_TIMEOUT_S
    total_s: float = DEFAULT_TOTAL_S
    use_cache: bool = True
    notify: Callable[[str], None] = field(default=lambda _msg: None, repr=False)
    _deadline: float | None = field(default=None, init=False, repr=False)
    _client: Any = field(default=None, init=False, repr=False)
    _key: str = field(default="", init=False, repr=False)

    @property
    def where(self) -> str:
        return f"LLM {self.model!r} at {self.base_url or 'api.openai.com'}"

    def cache_key(self, prompt: str, modality: str = "audio") -> str:
        kind = "" if modality == "audio" else f"{modality}\n"
        return sha256_text(f"{self.model}\n{self.base_url or ''}\n{kind}{prompt}")

    def cached(self, prompt: str, modality: str = "audio") -> str | None:
        """The reply stored for this exact request, if any."""
        if not self.use_cache:
            return None
        path = cache_dir("llm") / f"{self.cache_key(prompt, modality)}.json"
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))["reply"]
        except (ValueError, KeyError, TypeError):
            return None  # a damaged entry is simply asked again

    def remember(self, prompt: str, reply: str, modality: str = "audio") -> None:
        """Store a reply the caller accepted (useless replies are not cached, so a re-ask really asks)."""
        if not self.use_cache:
            return
        entry = {
            "model": self.model,
            "base_url": self.base_url,
            "modality": modality,
            "prompt": prompt,
            "reply": reply,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        write_json(cache_dir("llm") / f"{self.cache_key(prompt, modality)}.json", entry)

    def ask(self, prompt: str, modality: str = "audio") -> tuple[str, bool]:
        """Return (reply, came_from_cache) for a single-message chat asking for a JSON object."""
        hit = self.cached(prompt, modality)
        if hit is not None:
            return hit, True
        return self._request(prompt), False

    def _connect(self) -> Any:
        if self._client is None:
            import openai

            key = os.environ.get(self.api_key_env, "")
            if not key and self.base_url is None:
                raise SeptctlError(
                    f"${self.api_key_env} is not set; export your API key there, or name another variable with "
                    "--api-key-env, or use --llm builtin"
                )
            self._key = key or _PLACEHOLDER_KEY
            self._client = openai.OpenAI(
                api_key=self._key, base_url=self.base_url, max_retries=0, timeout=self.timeout_s
            )
        return self._client

    def _scrub(self, text: str) -> str:
        text = " ".join(str(text).split())
        return text.replace(self._key, "***") if self._key else text

    def _left(self) -> float:
        """Seconds left of the total budget (which starts at the first request)."""
        if self._deadline is None:
            self._deadline = time.monotonic() + self.total_s
        return self._deadline - time.monotonic()

    def _out_of_time(self, last: str) -> SeptctlError:
        return SeptctlError(
            f"{self.where}: {last}, and the total time of {self.total_s:g} s (--max-time) ran out; "
            "raise --max-time, or check the server (finished replies are cached)"
        )

    def _request(self, prompt: str) -> str:
        import openai

        client = self._connect()
        last, timed_out = "", False
        for attempt in range(self.max_tries):
            left = self._left()
            if left <= 0:
                raise self._out_of_time(last or "no reply yet")
            wait = self.backoff_s * 2**attempt
            try:
                resp = client.with_options(timeout=min(self.timeout_s, left)).chat.completions.create(
                    model=self.model,
                    messages=[{"role": "user", "content": prompt}],
                    response_format={"type": "json_object"},
                )
                content = resp.choices[0].message.content if resp.choices else None
                if not content:
                    raise SeptctlError(f"{self.where}: empty reply; try again or another model")
                return content
            except openai.RateLimitError as exc:
                after = _retry_after(exc.response.headers.get("retry-after"))
                last = "rate limited (HTTP 429" + (f", Retry-After {after:g} s)" if after is not None else ")")
                wait = after if after is not None else wait
            except openai.APITimeoutError:
                timed_out = min(self.timeout_s, left) == self.timeout_s
                last = f"timed out after {min(self.timeout_s, left):.1f} s"
            except openai.InternalServerError as exc:
                last = f"server error (HTTP {exc.status_code})"
            except openai.APIConnectionError as exc:
                raise SeptctlError(
                    f"{self.where}: cannot connect ({self._scrub(exc)}); check --base-url and the network"
                ) from None
            except openai.AuthenticationError:
                raise SeptctlError(
                    f"{self.where}: the API key was refused (HTTP 401); check ${self.api_key_env}"
                ) from None
            except openai.APIStatusError as exc:
                raise SeptctlError(
                    f"{self.where}: HTTP {exc.status_code} ({self._scrub(exc.message)}); check --llm and --base-url"
                ) from None
            if attempt + 1 < self.max_tries:
                if wait >= self._left():
                    raise self._out_of_time(f"{last}; the next try would start after {wait:g} s")
                self.notify(f"{last}; try {attempt + 2} of {self.max_tries} in {wait:g} s")
                time.sleep(wait)
        hint = "raise --timeout if the server is slow, or check that it answers" if timed_out else \
            "wait and rerun (finished replies are cached) or raise --max-tries"
        raise SeptctlError(f"{self.where}: {last} on all {self.max_tries} tries; {hint}")


def _retry_after(value: str | None) -> float | None:
    """A Retry-After header in seconds (the HTTP-date form is rare from LLM servers and is ignored)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def parse_json_reply(reply: str) -> Any:
    """The JSON object in a reply: bare, inside a ```json fence, or between the outer braces."""
    candidates = [reply.strip(), *(m.strip() for m in _FENCE.findall(reply))]
    start, end = reply.find("{"), reply.rfind("}")
    if 0 <= start < end:
        candidates.append(reply[start : end + 1])
    for text in candidates:
        try:
            return json.loads(text)
        except ValueError:
            continue
    raise ValueError("no JSON object in the reply")
