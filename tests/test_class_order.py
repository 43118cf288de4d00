"""A declared label order (class_order.txt) decides base and new in train, eval and predict, end to end.

On an audio dataset and the `tiny` backbone, so the threading is tested without an image backbone; without
the file the same dataset splits by sorted names (the audio tests pin that).
"""

from __future__ import annotations

import json
import shutil

import yaml

from septctl.data.schema import base_new_split


def test_train_eval_and_predict_follow_the_folders_label_order(run_cli, synth_dataset, tmp_path):
    from septctl.predict import load_run

    data = tmp_path / "ordered"
    shutil.copytree(synth_dataset, data)
    classes = sorted({line.rsplit(",", 1)[1] for line in (data / "train.csv").read_text().splitlines()[1:]})
    order = classes[::-1]  # the sorted names reversed: base is the sorted names' new half
    (data / "class_order.txt").write_text("\n".join(order) + "\n", encoding="utf-8")
    sorted_base, sorted_new = base_new_split(classes)
    run = tmp_path / "run"
    code, _, err = run_cli("train", data, "--backbone", "tiny", "--epochs", "1", "--shots", "2", "--out", run)
    assert code == 0, err
    card = yaml.safe_load((run / "run.yaml").read_text())
    assert card["classes"] == sorted_new and card["class_order"] == order
    code, out, err = run_cli("eval", run, "--classes", "new", "--json")
    assert code == 0, err
    assert json.loads(out)["class_names"] == sorted_base
    assert load_run(run, classes="new").classes == sorted_base
    assert load_run(run, classes="base").classes == sorted_new
