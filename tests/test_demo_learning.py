"""Every baseline learns the demo dataset: loss falls and base accuracy beats zero-shot.

The demo's own settings (examples/demo.sh): the default synthesized dataset, `tiny`,
50 epochs; seed 0 as the demo, and seeds 1 and 2 so that a pass is not one lucky draw.
New-class evaluation must work for every method (DePT without its head).
"""

import json

import pytest
import yaml

from septctl.data.synth import synthesize_dataset

METHODS = ("coop", "cocoop", "kgcoop", "dept")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo") / "synth"
    synthesize_dataset(root)
    return root


def _accuracy(run_cli, *args) -> float:
    code, out, err = run_cli("eval", *args, "--json")
    assert code == 0, err
    return json.loads(out)["accuracy"]


@pytest.mark.parametrize("seed", ["0", "1", "2"])
@pytest.mark.parametrize("method", METHODS)
def test_baseline_learns_the_demo(run_cli, tmp_path, demo, method, seed):
    zero_shot = _accuracy(run_cli, "--zeroshot", "--backbone", "tiny", demo, "--classes", "base", "--out", tmp_path / "zs")
    run = tmp_path / method
    code, _, err = run_cli("train", "--backbone", "tiny", demo, "--baseline", method, "--epochs", "50", "--seed", seed, "--out", run, "-q")
    assert code == 0, err
    losses = [e["loss"] for e in yaml.safe_load((run / "run.yaml").read_text())["losses"]]
    assert len(losses) == 50 and losses[-1] < 0.9 * losses[0]
    assert _accuracy(run_cli, run, "--classes", "base") > zero_shot
    assert 0 <= _accuracy(run_cli, run, "--classes", "new") <= 100
