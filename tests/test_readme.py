"""The README's command examples run as written (on the random `tiny` backbone, the one change: --backbone tiny).

A README that drifts from the CLI is the first thing a newcomer meets; this test reads the fenced bash blocks
of the README's pipeline and SEPT sections and runs every `septctl` line in order, in one working folder.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import needs_shared
from tests.faults.conftest import fake_llm  # noqa: F401 (a fixture)

REPO = Path(__file__).resolve().parents[1]


def readme_examples() -> list[str]:
    """The `septctl ...` lines of the README's bash blocks, comments dropped."""
    text = (REPO / "README.md").read_text()
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("septctl "):
                lines.append(line)
    return lines


def on_tiny(line: str) -> str:
    """The example with the backbone set explicitly to tiny (and run folders named after it); CLIP's image examples
    on clip-tiny, the random CLIP."""
    line = line.replace("--backbone pengi", "--backbone tiny").replace("/pengi/", "/tiny/")
    line = line.replace("--backbone clip-vit-b16", "--backbone clip-tiny")
    words = line.split()
    computes = words[1] in ("embed", "train", "margins") or "--zeroshot" in words or words[1:3] == ["neighbors", "stats"]
    return line + " --backbone tiny" if computes and "--backbone" not in words else line


def test_the_examples_are_found():
    lines = readme_examples()
    assert any(line.startswith("septctl train") for line in lines) and len(lines) >= 12
    assert on_tiny("septctl embed data/SESA") == "septctl embed data/SESA --backbone tiny"
    assert on_tiny("septctl eval runs/sesa/pengi/coop --classes new") == "septctl eval runs/sesa/tiny/coop --classes new"
    assert on_tiny("septctl report runs/") == "septctl report runs/"
    assert on_tiny("septctl embed shapes/ --backbone clip-vit-b16") == "septctl embed shapes/ --backbone clip-tiny"


def _fake_llm_reply(prompt: str) -> str:
    """Ten distinct made-up terms per target label, as a well-behaved LLM would answer."""
    targets = re.findall(r"^- (.+): (\d+)", prompt.split("Targets", 1)[1], flags=re.M)
    return json.dumps({name: [f"zq{i}w{j}" for j in range(int(k))] for i, (name, k) in enumerate(targets)})


@pytest.mark.slow
def test_readme_examples_run_as_written(tmp_path, fake_llm):
    from septctl.data.synth import synthesize_like

    sesa = needs_shared("SESA")
    (tmp_path / "SESA").symlink_to(sesa)  # the README's `--source SESA/`
    synthesize_like("esc50", tmp_path / "root" / "ESC50", per_class=4, test_per_class=1, seconds=0.3)
    fake_llm.reply = _fake_llm_reply
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "SEPTCTL_CACHE": str(tmp_path / "cache"), "SEPTCTL_DATA": str(tmp_path / "root"),
           "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake_llm.url, "SEPTCTL_THREADS": "2"}
    ran = []
    for line in readme_examples():
        if line.startswith("septctl download"):
            continue  # the network; tiny needs no weights
        line = on_tiny(line)
        result = subprocess.run(line, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"README example failed: {line}\n{result.stderr[-2000:]}"
        ran.append(shlex.split(line)[1])
    assert {"data", "embed", "eval", "train", "report", "neighbors", "prefixes", "margins"} <= set(ran)
    assert list((tmp_path / "runs" / "sesa" / "tiny" / "coop").rglob("metrics.yaml"))
