"""docs/python.md's code blocks, the README's Python and examples/own_loop.py run as written: offline, on the
shipped synth-clap backbone or random weights.

The blocks of a document run in order in one namespace, in a fresh process in an empty folder; the docs'
`septctl` command lines (its bash blocks) run first, there, to make what the blocks read. The one change made
to a block: the local LLM server's address becomes a fake server's.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path


from tests.faults.conftest import fake_llm  # noqa: F401 (a fixture)

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "python.md"
LOCAL_LLM = "http://localhost:11434/v1"
PREDICT_NAMES = re.compile(r"\b(load_run|load_zeroshot|Classifier|Prediction)\b")


def blocks(path: Path, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "SEPTCTL_CACHE": str(tmp_path / "cache"),
            "OMP_WAIT_POLICY": "PASSIVE"}


def run_blocks(code: list[str], cwd: Path, tmp_path: Path) -> str:
    """Run the blocks in order in one namespace; a failure names its block."""
    script = ("import sys\nns = {}\nfor i, block in enumerate(BLOCKS, 1):\n"
              "    print(f'--- block {i}', flush=True)\n    exec(compile(block, f'block {i}', 'exec'), ns)\n")
    done = subprocess.run([sys.executable, "-c", f"BLOCKS = {code!r}\n{script}"], cwd=cwd, env=env(tmp_path),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def llm_replies(fake) -> None:
    """The fake server answers a neighbors prompt ("- CLASS: HOW MANY" lines) with that many names per class."""
    def reply(prompt: str) -> str:
        asked = re.findall(r"^- ([a-z ]+): (\d+)", prompt, flags=re.M)
        return json.dumps({c: [f"{c} variant {i}" for i in range(int(k))] for c, k in asked})

    fake.reply = reply


def test_the_python_blocks_run(tmp_path, fake_llm):  # noqa: F811
    llm_replies(fake_llm)
    code = [b.replace(LOCAL_LLM, fake_llm.url) for b in blocks(DOC, "python") if not PREDICT_NAMES.search(b)]
    assert len(code) >= 6 and any(LOCAL_LLM in b for b in blocks(DOC, "python"))
    out = run_blocks(code, tmp_path, tmp_path)
    assert "torch.Size([2, 2, 2])" in out  # the margins of 2 classes x 2 neighbors
    assert "SemanticExpansionLoss(K=2, N=2, intra=True" in out
    assert "'high falling bell': ['high falling bell variant 0'" in out


def test_the_predict_blocks_run(tmp_path):
    commands = [line for b in blocks(DOC, "bash") for line in b.splitlines() if line.startswith("septctl ")]
    assert len(commands) == 2
    for line in commands:
        done = subprocess.run([sys.executable, "-m", "septctl", *shlex.split(line)[1:]], cwd=tmp_path,
                              env=env(tmp_path), capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, line + "\n" + done.stderr[-2000:]
    out = run_blocks([b for b in blocks(DOC, "python") if b.startswith(("import septctl", "import torch"))]
                     + [b for b in blocks(DOC, "python") if PREDICT_NAMES.search(b)], tmp_path, tmp_path)
    assert out.count(".wav") >= 3


def test_the_readme_python_runs(tmp_path):
    code = blocks(REPO / "README.md", "python")
    assert code, "README.md has no python block"
    run_blocks(code, tmp_path, tmp_path)


def own_loop(tmp_path: Path, *args: str) -> list[float]:
    done = subprocess.run([sys.executable, str(REPO / "examples" / "own_loop.py"), "--steps", "12", *args],
                          cwd=tmp_path, env=env(tmp_path), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "margins [4, 4, 3]" in done.stdout
    return [float(x) for x in re.findall(r"^step \d+: loss ([0-9.]+)", done.stdout, flags=re.M)]


def test_the_own_loop_example_trains_with_sept(tmp_path):
    losses = own_loop(tmp_path)
    assert len(losses) == 12 and losses[-1] < losses[0]


def test_the_own_loop_example_asks_an_llm_for_neighbors(tmp_path, fake_llm):  # noqa: F811
    llm_replies(fake_llm)
    assert len(own_loop(tmp_path, "--llm", "test-model", "--base-url", fake_llm.url)) == 12
    assert fake_llm.seen_auth  # the server was asked
