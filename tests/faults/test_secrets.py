"""API keys reach the LLM server and nothing else: not an artifact, a cache entry, a log line or an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

KEY = "sk-test-0123456789abcdefSECRET"


def _files_containing(text: str, *roots: Path) -> list[str]:
    hits = []
    for root in roots:
        for p in Path(root).rglob("*"):
            if p.is_file() and text.encode() in p.read_bytes():
                hits.append(str(p))
    return hits


@pytest.fixture
def keyed(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))  # a private cache to search whole
    classes = tmp_path / "classes.txt"
    classes.write_text("siren\nrain\n")
    return classes


def _reply(prompt: str) -> str:
    if "templates" in prompt:
        return json.dumps({"templates": ["a sound of {}.", "the noise of {}", "{} nearby"]})
    return json.dumps({"siren": ["police car wail", "ambulance"], "rain": ["drizzle", "downpour"]})


def test_key_never_reaches_files_or_output(cli, tmp_path, fake_llm, keyed):
    fake_llm.reply = _reply
    out = tmp_path / "neighbors.yaml"
    result = cli("neighbors", "--classes", keyed, "--llm", "fake-model", "--base-url", fake_llm.url, "--n", "2",
                 "--out", out)
    assert result.code == 0, result.err
    assert yaml.safe_load(out.read_text())["neighbors"] == {"rain": ["drizzle", "downpour"],
                                                          "siren": ["police car wail", "ambulance"]}
    again = cli("neighbors", "--classes", keyed, "--llm", "fake-model", "--base-url", fake_llm.url, "--n", "2",
                "--out", tmp_path / "replayed.yaml")  # served from the LLM cache
    assert again.code == 0 and "1 from cache" in again.err
    prefixes = cli("prefixes", "--llm", "fake-model", "--base-url", fake_llm.url, "--n", "3",
                   "--out", tmp_path / "prefixes.yaml")
    assert prefixes.code == 0, prefixes.err
    assert fake_llm.seen_auth and all(a == f"Bearer {KEY}" for a in fake_llm.seen_auth)  # the key was in play
    assert list((tmp_path / "cache" / "llm").glob("*.json"))  # replies were cached ...
    assert _files_containing(KEY, tmp_path) == []  # ... but no file anywhere holds the key
    for r in (result, again, prefixes):
        assert KEY not in r.out + r.err


@pytest.mark.parametrize("status", [400, 401, 500])
def test_key_is_scrubbed_from_errors(cli, tmp_path, fake_llm, keyed, status):
    fake_llm.status, fake_llm.error_message = status, f"Incorrect API key provided: {KEY}"
    result = cli("neighbors", "--classes", keyed, "--llm", "fake-model", "--base-url", fake_llm.url, "--n", "2",
                 "--max-tries", "1", "--out", tmp_path / "n.yaml")
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1
    assert KEY not in result.out + result.err
    assert _files_containing(KEY, tmp_path) == []


def test_doctor_shows_secrets_as_set_only(cli, monkeypatch, keyed):
    monkeypatch.setenv("HF_TOKEN", "hf_" + KEY)
    monkeypatch.setenv("MY_SERVICE_SECRET", "s3" + KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", f"https://user:{KEY}@llm.example/v1")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    table, as_json = cli("doctor"), cli("doctor", "--json")
    assert table.code == 0 and as_json.code == 0, table.err + as_json.err
    for r in (table, as_json):
        assert KEY not in r.out + r.err
    env = json.loads(as_json.out)["environment"]
    assert env["OPENAI_API_KEY"] == "set" and env["HF_TOKEN"] == "set" and env["MY_SERVICE_SECRET"] == "set"
    assert env["OPENAI_BASE_URL"] == "https://***@llm.example/v1"
    assert "ANTHROPIC_API_KEY" not in env  # unrelated unset variables are not listed
