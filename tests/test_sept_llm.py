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
    """A chat-completions endpoint that plays a script: each item is (status, content, delay_s[, headers])."""

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
                status, content, delay, *headers = fake.script.pop(0) if fake.script else (500, "script exhausted", 0)
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
                    for key, value in (headers[0] if headers else {}).items():
                        self.send_header(key, value)
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
    assert gen.rejected["dog"] == {"Dog": "is the class 'dog'", "GROWL": "repeated", "rain": "is the class 'rain'"}
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


# --- Must show (issue 15): a misbehaving server, seen through `septctl neighbors` ---------------------------

BARK = {"dog bark": ["growl", "howl", "yelp"], "rain": ["drizzle", "downpour", "raindrops on a roof"]}


def _neighbors(monkeypatch, capsys, tmp_path, chat, *extra):
    """Run `septctl neighbors` against the fake server; return (exit code, stderr, seconds, raw-replies file)."""
    classes = tmp_path / "classes.txt"
    classes.write_text("dog bark\nrain\n")
    out = tmp_path / "neighbors.yaml"
    t0 = time.monotonic()
    code, cap = _cli(monkeypatch, capsys, "neighbors", "--classes", classes, "--llm", "test-model", "--n", "3",
                     "--base-url", chat.url, "--api-key-env", "SEPT_TEST_KEY", "--backoff", "0.01", "--no-cache",
                     "--out", out, *extra)
    raw = tmp_path / "neighbors.llm.json"
    return code, " ".join(cap.err.split()), time.monotonic() - t0, json.loads(raw.read_text()) if raw.exists() else None


@pytest.mark.parametrize("reply, reason", [
    ("Sure! Here are some neighbors: growl, howl", "dog bark: the reply was not JSON"),
    (json.dumps({**BARK, "dog bark": ["growl", "Dog Bark", "howl"]}),
     "dog bark: 2 of 3 valid (refused 'Dog Bark' is the class 'dog bark')"),
    (json.dumps({**BARK, "rain": ["drizzle", "downpour"]}), "rain: 2 of 3 valid)"),
    (json.dumps({**BARK, "rain": ["drizzle", "Drizzle", "downpour"]}), "rain: 2 of 3 valid (refused 'Drizzle' repeated)"),
], ids=["not-json", "class-as-neighbor", "short-by-one", "duplicates"])
def test_bad_replies_named_per_class_and_kept(chat, monkeypatch, capsys, tmp_path, reply, reason):
    chat.script = [(200, reply, 0)]
    code, err, _, raw = _neighbors(monkeypatch, capsys, tmp_path, chat, "--max-rounds", "1")
    assert code == 2 and reason in err, err
    assert "neighbors.llm.json" in err and not (tmp_path / "neighbors.yaml").exists()
    assert raw["requests"][0]["reply"] == reply and raw["error"] and raw["model"] == "test-model"
    cls = reason.split(":")[0]
    assert cls in raw["requests"][0]["problems"]
    if "refused" in reason:
        assert list(raw["refused"][cls]) == [reason.split("'")[1]]


def test_a_bad_reply_is_announced_and_re_asked(chat, monkeypatch, capsys, tmp_path):
    replies = [json.dumps({**BARK, "rain": ["drizzle", "downpour"]}), json.dumps({"rain": ["pitter patter"]})]
    chat.script = [(200, reply, 0) for reply in replies]
    code, err, _, raw = _neighbors(monkeypatch, capsys, tmp_path, chat)
    assert code == 0, err
    assert "retry: asking again for 1 classes: rain: 2 of 3 valid" in err
    assert [r["reply"] for r in raw["requests"]] == replies
    assert raw["error"] is None
    assert yaml.safe_load((tmp_path / "neighbors.yaml").read_text())["neighbors"]["rain"][-1] == "pitter patter"


def test_retry_after_is_obeyed_and_announced(chat, monkeypatch, capsys, tmp_path):
    chat.script = [(429, "slow down", 0, {"Retry-After": "2"}), (200, json.dumps(BARK), 0)]
    code, err, seconds, raw = _neighbors(monkeypatch, capsys, tmp_path, chat)
    assert code == 0, err
    assert "retry: rate limited (HTTP 429, Retry-After 2 s); try 2 of 3 in 2 s" in err
    assert 2.0 <= seconds < 10  # waited what the server asked, not --backoff 0.01
    assert raw["requests"][0]["reply"] == json.dumps(BARK)


def test_a_server_that_never_answers_fails_fast_and_says_timeout(chat, monkeypatch, capsys, tmp_path):
    chat.script = [(200, "{}", 60)] * 2
    code, err, seconds, raw = _neighbors(monkeypatch, capsys, tmp_path, chat, "--timeout", "0.5", "--max-tries", "2")
    assert code == 2 and seconds < 5, (seconds, err)
    assert "timed out after 0.5 s on all 2 tries; raise --timeout" in err
    assert "retry: timed out after 0.5 s; try 2 of 2" in err
    assert raw["requests"] == [{"prompt": raw["requests"][0]["prompt"], "reply": None, "cached": False}]
    # the total bound: however many tries and however long each may take, --max-time stops it
    chat.script = [(200, "{}", 60)] * 5
    code, err, seconds, _ = _neighbors(monkeypatch, capsys, tmp_path, chat, "--timeout", "20", "--max-tries", "5",
                                       "--max-time", "1.5")
    assert code == 2 and seconds < 5, (seconds, err)
    assert "total time of 1.5 s (--max-time) ran out" in err


def test_llm_bounds_are_stated_in_help(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "400")
    code, cap = _cli(monkeypatch, capsys, "neighbors", "generate", "--help")
    text = " ".join(cap.out.replace("│", " ").split())
    assert code == 0, text
    assert "a server that never answers fails after at most this long. [default: 300.0]" in text
    assert "Seconds to wait for one reply. [default: 30.0]" in text


def test_base_url_without_scheme_gets_a_hint(chat, monkeypatch, capsys, tmp_path):
    chat.script = [(200, json.dumps(BARK), 0)]
    chat.url = chat.url.removeprefix("http://")
    code, err, _, _ = _neighbors(monkeypatch, capsys, tmp_path, chat)
    assert code == 0, err
    assert f"has no scheme; using http://{chat.url}" in err


def test_ctrl_c_while_waiting_for_the_llm_says_so_and_exits_130(tmp_path):
    """Typer turns Ctrl-C into a silent exit 130; septctl says what happened (one line, no traceback)."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)  # accepts connections, never answers
    (tmp_path / "classes.txt").write_text("rain\ndog\n")
    septctl = os.path.join(os.path.dirname(sys.executable), "septctl")
    proc = subprocess.Popen(
        [septctl, "neighbors", "--classes", "classes.txt", "--llm", "gpt-4o", "--out", "n.yaml",
         "--base-url", f"http://127.0.0.1:{server.getsockname()[1]}/v1"],
        cwd=tmp_path, env={**os.environ, "OPENAI_API_KEY": "sk-test"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # a background suite ignores it
    try:
        time.sleep(3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        server.close()
    assert proc.returncode == 130
    assert err.strip().splitlines() == ["interrupted: finished files are kept; rerun the same command to continue"]
    assert not (tmp_path / "n.yaml").exists()


@pytest.mark.parametrize("reply, code", [("Sure, here are templates: a sound of {}", 2),
                                         (json.dumps({"templates": ["A sound of {}.", "The noise of {}.", "Hear {}."]}),
                                          0)], ids=["not-json", "valid"])
def test_prefix_replies_are_kept_beside_out(chat, monkeypatch, capsys, tmp_path, reply, code):
    """As for neighbors: every prompt and raw reply of `prefixes --llm MODEL` is saved, also when it fails."""
    chat.script = [(200, reply, 0)]
    out, raw = tmp_path / "prefixes.yaml", tmp_path / "prefixes.llm.json"
    got, cap = _cli(monkeypatch, capsys, "prefixes", "--llm", "test-model", "--n", "3", "--max-rounds", "1",
                    "--base-url", chat.url, "--api-key-env", "SEPT_TEST_KEY", "--backoff", "0.01", "--no-cache",
                    "--out", out)
    saved = json.loads(raw.read_text())
    assert got == code and saved["requests"][0]["reply"] == reply and saved["model"] == "test-model"
    if code:
        assert "prefixes.llm.json" in " ".join(cap.err.split()) and saved["error"] and not out.exists()
    else:
        assert saved["error"] is None and yaml.safe_load(out.read_text())["card"]["raw_replies"] == str(raw)
