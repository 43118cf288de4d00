"""The LLM client against a real chat-completions server on 127.0.0.1 (no network beyond loopback)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from septctl.errors import SeptctlError
from septctl.sept.llm import ChatClient, parse_json_reply
from septctl.sept.neighbors import generate_neighbors
from septctl.sept.prefixes import generate_prefixes
from tests.conftest import invoke as _cli

CLASSES = ["dog", "rain"]
GOOD = {"dog": ["puppy yelp", "growl", "howl"], "rain": ["drizzle", "downpour", "raindrops on a roof"]}


class FakeChat:
    """A chat-completions endpoint that plays a script: each item is (status, content, delay_s)."""

    def __init__(self):
        self.script: list[tuple[int, str, float]] = []
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                status, content, delay = fake.script.pop(0) if fake.script else (500, "script exhausted", 0)
                time.sleep(delay)
                if status == 200:
                    payload = {
                        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": content}}],
                    }
                else:
                    payload = {"error": {"message": content, "type": "test", "code": status}}
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def prompts(self) -> list[str]:
        return [r["body"]["messages"][0]["content"] for r in self.requests]


@pytest.fixture
def chat(monkeypatch, tmp_path):
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    fake = FakeChat()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def client(fake, **kw):
    return ChatClient(model="test-model", base_url=fake.url, api_key_env="SEPT_TEST_KEY",
                      **{"max_tries": 3, "backoff_s": 0.01, "timeout_s": 5.0, **kw})


def test_good_reply_then_cache_replay(chat, tmp_path):
    chat.script = [(200, json.dumps(GOOD), 0)]
    gen = generate_neighbors(client(chat), CLASSES, 3)
    assert gen.names == GOOD and len(chat.requests) == 1
    assert chat.requests[0]["path"] == "/v1/chat/completions"
    assert chat.requests[0]["body"]["response_format"] == {"type": "json_object"}
    assert len(list((tmp_path / "cache" / "llm").glob("*.json"))) == 1
    again = generate_neighbors(client(chat), CLASSES, 3)
    assert again.names == GOOD and len(chat.requests) == 1 and again.requests[0]["cached"]


def test_fenced_reply_and_extra_terms(chat):
    table = {"Dog": GOOD["dog"] + ["bark extra"], "rain": GOOD["rain"]}
    chat.script = [(200, "Here you go:\n```json\n" + json.dumps(table) + "\n```\nEnjoy", 0)]
    gen = generate_neighbors(client(chat), CLASSES, 3)
    assert gen.names == GOOD  # key matched case-insensitively; the 4th term is dropped


def test_malformed_reply_is_asked_again_and_not_cached(chat, tmp_path):
    chat.script = [(200, "{not json at all", 0), (200, json.dumps(GOOD), 0)]
    gen = generate_neighbors(client(chat), CLASSES, 3)
    assert gen.names == GOOD and len(chat.requests) == 2
    chat.script = [(200, "sorry, no", 0)] * 2
    with pytest.raises(SeptctlError, match="after 2 requests.*--max-rounds"):
        generate_neighbors(client(chat, use_cache=False), CLASSES, 3, max_rounds=2)
    cached = [json.loads(p.read_text())["reply"] for p in (tmp_path / "cache" / "llm").glob("*.json")]
    assert cached == [json.dumps(GOOD)]


def test_missing_classes_are_re_asked_alone(chat):
    chat.script = [(200, json.dumps({"dog": GOOD["dog"]}), 0), (200, json.dumps({"rain": GOOD["rain"]}), 0)]
    gen = generate_neighbors(client(chat), CLASSES, 3)
    assert gen.names == GOOD
    first, second = chat.prompts()
    assert "- dog: 3" in first and "- rain: 3" in first
    assert "- rain: 3" in second and "- dog:" not in second
    assert "- dog\n- rain" in second  # the full list is still given for distinctness


def test_invalid_and_excluded_neighbors_are_refilled(chat):
    first = {"dog": ["Dog", "growl", "GROWL", "rain", "howl"], "rain": ["drizzle", "siren in the rain", "downpour"]}
    chat.script = [(200, json.dumps(first), 0), (200, json.dumps({"dog": ["whimper"], "rain": ["pitter patter"]}), 0)]
    gen = generate_neighbors(client(chat), CLASSES, 3, exclude=["siren"])
    assert gen.names == {"dog": ["growl", "howl", "whimper"], "rain": ["drizzle", "downpour", "pitter patter"]}
    assert gen.rejected["dog"] == {"Dog": "is a class name", "GROWL": "repeated", "rain": "is a class name"}
    assert gen.rejected["rain"] == {"siren in the rain": "contains an excluded name"}
    second = chat.prompts()[1]
    assert "- dog: 1 (do not repeat: growl; howl; Dog; GROWL; rain)" in second
    assert "siren in the rain" in second


def test_rate_limit_then_success(chat):
    chat.script = [(429, "slow down", 0), (429, "slow down", 0), (200, json.dumps(GOOD), 0)]
    assert generate_neighbors(client(chat), CLASSES, 3).names == GOOD
    assert len(chat.requests) == 3


def test_rate_limit_bound(chat):
    chat.script = [(429, "slow down", 0)] * 3
    with pytest.raises(SeptctlError, match=r"429\) on all 3 tries.*--max-tries"):
        generate_neighbors(client(chat), CLASSES, 3)
    assert len(chat.requests) == 3


def test_timeout_then_success_and_timeout_bound(chat):
    chat.script = [(200, json.dumps(GOOD), 1.5), (200, json.dumps(GOOD), 0)]
    assert generate_neighbors(client(chat, timeout_s=0.4), CLASSES, 3).names == GOOD
    chat.script = [(200, "{}", 1.5)] * 2
    with pytest.raises(SeptctlError, match="timed out after 0.4 s on all 2 tries"):
        generate_neighbors(client(chat, timeout_s=0.4, max_tries=2, use_cache=False), CLASSES, 3)


def test_missing_key_for_openai_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path))
    monkeypatch.delenv("SEPT_TEST_KEY", raising=False)
    with pytest.raises(SeptctlError, match=r"\$SEPT_TEST_KEY is not set"):
        ChatClient(model="m", api_key_env="SEPT_TEST_KEY", use_cache=False).ask("hi")


def test_prefixes_are_normalised_validated_and_refilled(chat):
    first = {"templates": ["a recording of <class>", "the sound of {class}.", "no slot here", "{} and {}",
                           "A recording of {}"]}
    chat.script = [(200, json.dumps(first), 0), (200, "```json\n" + json.dumps({"templates": ["{} nearby"]}) + "\n```", 0)]
    gen = generate_prefixes(client(chat), 3)
    assert gen.names["prefixes"] == ["a recording of {}", "the sound of {}.", "{} nearby"]
    assert gen.rejected["templates"]["no slot here"] == "needs exactly one {} slot"
    assert "a recording of {}" in chat.prompts()[1]  # asked not to repeat


def test_parse_json_reply_forms():
    assert parse_json_reply('{"a": 1}') == {"a": 1}
    assert parse_json_reply('text ```\n{"a": 2}\n``` more') == {"a": 2}
    assert parse_json_reply('Sure! {"a": 3} hope this helps') == {"a": 3}
    with pytest.raises(ValueError):
        parse_json_reply("no json")


SECRET = "sk-test-SECRET-0123456789"




def test_api_key_never_written_or_printed(chat, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("SEPT_TEST_KEY", SECRET)
    classes = tmp_path / "classes.txt"
    classes.write_text("dog\nrain\n")
    out = tmp_path / "neighbors.yaml"
    chat.script = [(429, "busy", 0), (200, json.dumps(GOOD), 0)]
    code, cap = _cli(monkeypatch, capsys, "neighbors", "--classes", str(classes), "--llm", "test-model",
                     "--n", "3", "--base-url", chat.url, "--api-key-env", "SEPT_TEST_KEY", "--backoff", "0.01",
                     "--out", str(out))
    assert code == 0, cap.err
    assert chat.requests[-1]["auth"] == f"Bearer {SECRET}"  # the key was really used
    data = yaml.safe_load(out.read_text())
    assert data["neighbors"] == GOOD and data["card"]["llm"] == {"model": "test-model", "base_url": chat.url}
    assert data["card"]["requests"][0]["reply"] == json.dumps(GOOD)
    # a server that echoes the key in its error message
    chat.script = [(401, f"Incorrect API key provided: {SECRET}", 0)]
    code, cap2 = _cli(monkeypatch, capsys, "prefixes", "--llm", "test-model", "--n", "3", "--base-url", chat.url,
                      "--api-key-env", "SEPT_TEST_KEY", "--out", str(tmp_path / "p.yaml"))
    assert code == 2 and "SEPT_TEST_KEY" in cap2.err
    chat.script = [(400, f"bad request for key {SECRET}", 0)]
    code, cap3 = _cli(monkeypatch, capsys, "prefixes", "--llm", "test-model", "--n", "3", "--base-url", chat.url,
                      "--api-key-env", "SEPT_TEST_KEY", "--out", str(tmp_path / "p.yaml"))
    assert code == 2 and "HTTP 400" in cap3.err and "***" in cap3.err
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".json" for p in written)  # the cache entry exists and was checked
    for p in written:
        assert SECRET not in p.read_text(errors="replace"), p
    for c in (cap, cap2, cap3):
        assert SECRET not in c.err and SECRET not in c.out
