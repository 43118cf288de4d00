"""The fault suite's shared world: a tiny dataset, its cached embeddings, a finished run, SEPT inputs.

Built once per session (about a second of work on `tiny`) and treated as read-only:
a test that needs a damaged copy makes one under its own tmp_path. `refused` checks
the contract every bad input must meet: exit status 2, exactly one line on stderr
naming the culprit, and nothing left behind (no new or changed files, no *.tmp).
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

TEMPLATE = "a sound of {}."


@dataclass(frozen=True)
class World:
    root: Path
    data: Path  # synthetic dataset, 8 classes, 2 train + 1 test clips each
    run: Path  # a complete CoOp run on its base classes
    neighbors: Path  # neighbors.yaml for the 4 base classes, 2 neighbors each
    margins: Path  # margins.safetensors for those neighbors on `tiny`
    base: tuple[str, ...]

    def copy_data(self, dest: Path) -> Path:
        return Path(shutil.copytree(self.data, dest))

    def copy_run(self, dest: Path) -> Path:
        return Path(shutil.copytree(self.run, dest))


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> World:
    from septctl.artifacts import write_yaml
    from septctl.backbones import load_backbone
    from septctl.data.layout import DatasetFolder
    from septctl.data.schema import base_new_split
    from septctl.data.synth import synthesize_dataset
    from septctl.embed import embed_dataset
    from septctl.engine.config import TrainConfig
    from septctl.engine.train import train
    from septctl.sept import margins as mg
    from septctl.sept.neighbors import load_neighbors

    root = tmp_path_factory.mktemp("faults-world")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEPTCTL_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))  # as the autouse fixture does
        data = root / "synth"
        classes = synthesize_dataset(data, train_per_class=2, test_per_class=1, seconds=0.5)
        base = base_new_split(classes)[0]
        backbone = load_backbone("tiny")
        embed_dataset(DatasetFolder(data), backbone, progress=False)
        run = train(TrainConfig(backbone="tiny", dataset=str(data), epochs=1, shots=1, seed=0), root / "run", progress=False,
                    echo=lambda _: None)
        neighbors = root / "neighbors.yaml"
        write_yaml(neighbors, {"neighbors": {c: [f"{c} far away", f"loud {c}"] for c in base}})
        ns = load_neighbors(neighbors)
        m = mg.compute_margins(backbone, ns.classes, ns.rows(), [TEMPLATE])
        meta = mg.margins_metadata(classes=ns.classes, n=ns.n, neighbors_sha256=ns.sha256,
                                   prefixes_sha256="single", templates=[TEMPLATE], backbone_name="tiny",
                                   weights_id=backbone.weights_id())
        margins = root / "margins.safetensors"
        mg.save_margins(margins, m, meta, {"kind": "margins"})
    return World(root, data, run, neighbors, margins, tuple(base))


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run `septctl ARGS` in-process and capture what it printed."""
    from septctl.cli.common import run_app
    from septctl.cli.main import app

    def run(*args) -> Result:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["septctl", *map(str, args)])
        code = run_app(app)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file under `roots` (lock files aside: flock needs them to persist) with size and mtime."""
    files = {}
    for root in roots:
        for p in Path(root).rglob("*"):
            if p.is_file() and not p.name.endswith(".lock"):
                st = p.stat()
                files[str(p)] = (st.st_size, st.st_mtime_ns)
    return files


def assert_refused(result: Result, *names: str) -> str:
    """Exit 2 and one stderr line, naming every string in `names`; return that line."""
    lines = [ln for ln in result.err.splitlines() if ln.strip()]
    assert result.code == 2, f"exit {result.code}, stderr:\n{result.err}"
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.err}"
    line = lines[0]
    assert line.startswith("error: "), line
    for name in names:
        assert name in line, f"{name!r} not named in: {line}"
    assert "Traceback" not in result.err
    return line


@pytest.fixture
def refused(cli, world, tmp_path, tmp_path_factory, monkeypatch):
    """Run a command that must be refused; check the message and that nothing was written."""
    cache = tmp_path_factory.getbasetemp() / "cache"
    monkeypatch.chdir(tmp_path)  # default output folders (runs/...) land here, where they are watched

    def run(args: list, *names: str, fix: str | None = None, kept: tuple[Path, ...] = ()) -> str:
        """`kept`: diagnostics the command writes on purpose when it fails (e.g. an LLM's raw replies)."""
        watched = (world.root, tmp_path, cache)
        before = snapshot(*watched)
        line = assert_refused(cli(*args), *names)
        if fix is not None:
            assert fix in line, f"fix {fix!r} not suggested in: {line}"
        after = snapshot(*watched)
        for path in kept:
            assert str(path) in after and str(path) not in before, f"{path} was not written"
            del after[str(path)]
        assert after == before, (
            f"files changed by a refused command: new {sorted(set(after) - set(before))}, "
            f"changed {sorted(k for k in before if k in after and before[k] != after[k])}, "
            f"removed {sorted(set(before) - set(after))}"
        )
        leftovers = [str(p) for root in watched for p in Path(root).rglob("*.tmp")]
        assert not leftovers, f"temporary files left behind: {leftovers}"
        return line

    return run


@dataclass
class FakeLLM:
    """A local OpenAI-compatible chat server: answers every request with `reply` (or an HTTP error)."""

    url: str
    reply: object = "{}"  # str content, or a callable(prompt) -> str
    status: int = 200
    error_message: str = ""
    seen_auth: list = None


@pytest.fixture
def fake_llm():
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    state = FakeLLM(url="", seen_auth=[])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            state.seen_auth.append(self.headers.get("Authorization", ""))
            if state.status != 200:
                payload = {"error": {"message": state.error_message, "type": "invalid_request_error"}}
            else:
                prompt = body["messages"][-1]["content"]
                content = state.reply(prompt) if callable(state.reply) else state.reply
                payload = {"id": "fake", "object": "chat.completion", "created": 0, "model": body.get("model"),
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": content}}],
                           "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
            data = json.dumps(payload).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):  # keep the test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield state
    server.shutdown()
    server.server_close()
