"""Plug-ins (septctl/plugins.py): an installed package adds a method, a backbone and a dataset through entry
points, and a broken one costs one line on stderr, never the CLI.

Each plug-in is installed the way pip leaves a distribution: its package plus NAME-0.0.dist-info/ (METADATA and
entry_points.txt) in a folder put on PYTHONPATH of a fresh `python -m septctl` process.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.test_extending import _release

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "plugin"


def install(site: Path, name: str, entry_points: dict[str, dict[str, str]], files: dict[str, str]) -> Path:
    """Write distribution `name` into `site`: `files` (path -> text) and its dist-info."""
    for rel, text in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text, encoding="utf-8")
    info = site / f"{name}-0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(
        "".join(f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n"
                for group, eps in entry_points.items()), encoding="utf-8")
    return site


def septctl(site: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{REPO}", "COLUMNS": "200", "HF_HUB_OFFLINE": "1",
           "SEPTCTL_CACHE": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "septctl", *map(str, args)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_example_plugin_adds_a_method_a_backbone_and_a_dataset(tmp_path):
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    site = tmp_path / "site"
    shutil.copytree(EXAMPLE / "septctl_toy", site / "septctl_toy")
    install(site, "septctl_toy", project["entry-points"], {})
    release, data, run = _release(tmp_path / "release"), tmp_path / "data" / "ToyTones", tmp_path / "run"

    def ok(*args: str) -> str:
        done = septctl(site, tmp_path, *args)
        assert done.returncode == 0 and "plug-in" not in done.stderr, done.stdout[-2000:] + done.stderr[-2000:]
        return done.stdout

    assert '"toy-tones"' in ok("data", "list", "--json")
    assert '"wide-tiny"' in ok("backbones", "--json")
    assert "--init-scale" in ok("train", "--help")
    ok("data", "prepare", "toy-tones", "--source", release, "--out", data)
    ok("train", data, "--backbone", "wide-tiny", "--baseline", "scaled-coop", "--init-scale", "3", "--shots", "2",
       "--epochs", "1", "--out", run, "-q")
    ok("eval", run, "-q")
    card = yaml.safe_load((run / "run.yaml").read_text())
    assert card["config"]["backbone"] == "wide-tiny" and card["config"]["method"] == "scaled-coop"
    assert card["config"]["method_options"] == {"init_scale": 3.0}
    metrics = yaml.safe_load((run / "metrics.yaml").read_text())
    assert {re.sub(r"@[0-9a-f]{8}/", "/", key) for key in metrics["evaluations"]} == {"toy-tones/fold0/base",
                                                                                     "toy-tones/fold0/new"}
    plan = ok("grid", "base2new", data, "--methods", "scaled-coop", "--backbone", "wide-tiny", "--plan")
    assert "--baseline scaled-coop" in plan


BROKEN = {
    "import fails": ({"septctl.methods": {"needs-cuda": "broken_plugin:SPEC"}},
                     "raise ImportError('this plug-in needs a package that is not installed')\n",
                     "import failed: ImportError: this plug-in needs a package that is not installed"),
    "wrong object": ({"septctl.backbones": {"not-a-spec": "broken_plugin:SPEC"}}, "SPEC = {'name': 'x'}\n",
                     "loads a dict, not a BackboneSpec"),
    "name taken": ({"septctl.backbones": {"tiny2": "broken_plugin:SPEC"}},
                   "from septctl.backbones.registry import SPECS\nSPEC = SPECS['tiny']\n", "'tiny' is already taken"),
    "dataset without plan": ({"septctl.datasets": {"half": "broken_plugin"}},
                             "from septctl.data.schema import DatasetInfo\n"
                             "DATASETS = (DatasetInfo('half', 'Half', 'x', ('a', 'b'), 1),)\n",
                             "has no plan(source, name) function"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_plugin_is_one_line_and_the_cli_keeps_working(tmp_path, case):
    entry_points, source, reason = BROKEN[case]
    name = next(iter(next(iter(entry_points.values()))))
    site = install(tmp_path / "site", "broken_plugin", entry_points, {"broken_plugin.py": source})
    for args in (["--help"], ["backbones"], ["data", "list"]):
        done = septctl(site, tmp_path, *args)
        assert done.returncode == 0, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert f"plug-in {name!r}" in lines[0] and "broken_plugin 0.0" in lines[0] and reason in lines[0]
    assert "tiny" in septctl(site, tmp_path, "backbones").stdout
