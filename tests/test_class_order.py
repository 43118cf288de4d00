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


def test_a_changed_label_order_is_a_changed_dataset(run_cli, synth_dataset, tmp_path):
    """Editing or deleting class_order.txt after training moves classes between base and new: eval refuses to score
    the run on the new halves (naming the file), and training again into the same --out is refused, not skipped."""
    data = tmp_path / "ordered"
    shutil.copytree(synth_dataset, data)
    classes = sorted({line.rsplit(",", 1)[1] for line in (data / "train.csv").read_text().splitlines()[1:]})
    order_file = data / "class_order.txt"
    order_file.write_text("\n".join(classes[::-1]) + "\n", encoding="utf-8")
    run = tmp_path / "run"
    train = ("train", data, "--backbone", "tiny", "--epochs", "1", "--shots", "2", "--out", run)
    assert run_cli(*train)[0] == 0
    assert run_cli("eval", run, "--classes", "new")[0] == 0
    for change in ("swap", "delete"):
        if change == "swap":
            swapped = classes[::-1]
            swapped[0], swapped[-1] = swapped[-1], swapped[0]
            order_file.write_text("\n".join(swapped) + "\n", encoding="utf-8")
        else:
            order_file.unlink()
        code, _, err = run_cli("eval", run, "--classes", "new")
        assert code == 2 and "label order (class_order.txt)" in err, err
        code, _, err = run_cli(*train)
        assert code == 2 and "holds a different run" in err, err
    order_file.write_text("\n".join(classes[::-1]) + "\n", encoding="utf-8")  # restored: the run is usable again
    assert run_cli("eval", run, "--classes", "new")[0] == 0
