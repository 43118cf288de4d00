"""The Caltech101 preparer on synthesized trees in the release layout, with split files in CoOp's format.

CoOp's rule, restated here on its own: the folders of 101_ObjectCategories/ sorted as Python sorts
strings (case-sensitive), BACKGROUND_Google and Faces_easy removed, give the labels; four folders
are renamed; base = the first ceil(K/2) labels.
"""

from __future__ import annotations

import json
import math

import pytest

from septctl.data.layout import DatasetFolder
from septctl.data.preparers import caltech101
from septctl.data.schema import base_new_split, select_classes
from septctl.errors import SeptctlError

IGNORED = ("BACKGROUND_Google", "Faces_easy")
RENAMED = {"airplanes": "airplane", "Faces": "face", "Leopards": "leopard", "Motorbikes": "motorbike"}
SMALL = ("BACKGROUND_Google", "Faces_easy", "Faces", "Leopards", "accordion", "airplanes", "car_side", "ibis")


def _image(path, colour=(200, 30, 30), fmt="JPEG"):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (12, 9), colour).save(path, format=fmt)


def _release(root, folders=SMALL, per_split=(2, 1, 1), split_file=True):
    """101_ObjectCategories/<folder>/image_NNNN.jpg (every folder, the ignored ones too) and CoOp's split file:
    per folder `per_split` images in train, val and test, labelled by CoOp's rule."""
    images = root / "101_ObjectCategories"
    kept = sorted(f for f in folders if f not in IGNORED)
    split = {"train": [], "val": [], "test": []}
    for folder in folders:
        n = 0
        for name, count in zip(split, per_split):
            for _ in range(count):
                n += 1
                impath = f"{folder}/image_{n:04d}.jpg"
                _image(images / impath, fmt="PNG" if n % 2 else "JPEG")
                if folder in kept:
                    split[name].append([impath, kept.index(folder), RENAMED.get(folder, folder)])
    if split_file:
        (root / "split_zhou_Caltech101.json").write_text(json.dumps(split), encoding="utf-8")
    return root


def _edit_split(root, change):
    path = root / "split_zhou_Caltech101.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def _csv(path):
    return [line.split(",") for line in path.read_text(encoding="utf-8").splitlines()[1:]]


def test_prepare_keeps_coops_train_and_test_renamed_and_labelled(run_cli, tmp_path):
    src = _release(tmp_path / "release")
    out = tmp_path / "caltech-101"
    code, _, err = run_cli("data", "prepare", "caltech-101", "--source", src, "--out", out)
    assert code == 0, err
    train, test = _csv(out / "train.csv"), _csv(out / "test.csv")
    assert len(train) == 2 * 6 and len(test) == 6  # val is left out; the ignored folders too
    assert ["101_ObjectCategories/Faces/image_0001.jpg", "face"] in train
    assert ["101_ObjectCategories/car_side/image_0004.jpg", "car side"] in test
    assert sorted({c for _, c in train}) == ["accordion", "airplane", "car side", "face", "ibis", "leopard"]
    files = {p.relative_to(out).as_posix() for p in (out / "101_ObjectCategories").rglob("*.jpg")}
    assert files == {p for p, _ in train + test}
    assert not any(name in p for p in files for name in IGNORED)
    assert not (out / "101_ObjectCategories" / "Faces" / "image_0003.jpg").exists()  # a val image
    order = (out / "class_order.txt").read_text(encoding="utf-8").splitlines()
    assert order == ["face", "leopard", "accordion", "airplane", "car side", "ibis"]


def test_base_new_on_the_prepared_folder_follow_coops_labels_not_sorted_names(run_cli, tmp_path):
    src = _release(tmp_path / "release")
    out = tmp_path / "prepared"
    assert run_cli("data", "prepare", "caltech101", "--source", src, "--out", out)[0] == 0
    folder = DatasetFolder(out)
    assert folder.modality == "image" and folder.info is None  # a folder of any name works
    classes = {r.classname for r in folder.splits()[0]}
    assert select_classes(classes, "base", folder.class_order) == ["accordion", "face", "leopard"]  # labels 0-2
    assert select_classes(classes, "new", folder.class_order) == ["airplane", "car side", "ibis"]
    assert base_new_split(classes)[0] == ["accordion", "airplane", "car side"]  # the name sort would differ
    code, out_text, err = run_cli("data", "check", out)
    assert code == 0, err
    assert "base = accordion, face, leopard; new = airplane, car side, ibis" in out_text
    assert "label order" in out_text and "12 / 12" in out_text  # image widths, not durations


def test_training_and_predict_split_in_the_folders_label_order(run_cli, tmp_path):
    from septctl.backbones import load_backbone
    from septctl.engine.config import TrainConfig
    from septctl.engine.train import resolve
    from septctl.predict import class_names

    src = _release(tmp_path / "release")
    out = tmp_path / "prepared"
    assert run_cli("data", "prepare", "caltech101", "--source", src, "--out", out)[0] == 0
    folder = DatasetFolder(out)
    setup = resolve(TrainConfig(dataset=str(out), backbone="tiny", shots=1), folder, None, load_backbone("tiny"))
    assert setup.classes == ["accordion", "face", "leopard"]
    assert {r.classname for r in setup.rows} == set(setup.classes)
    known = sorted(setup.all_classes)
    assert class_names("new", known, folder.class_order) == ["airplane", "car side", "ibis"]
    assert class_names("new", known) == ["face", "ibis", "leopard"]  # what a run without the order would say


def test_the_full_release_gives_coops_base_and_new(run_cli, tmp_path):
    src = _release(tmp_path / "release", folders=caltech101.FOLDERS, per_split=(1, 0, 1))
    labels = sorted(f for f in caltech101.FOLDERS if f not in IGNORED)  # CoOp: sorted folders, ignored removed
    assert len(caltech101.FOLDERS) == 102 and len(labels) == 100
    out = tmp_path / "caltech-101"
    assert run_cli("data", "prepare", "caltech101", "--source", src, "--out", out)[0] == 0
    folder = DatasetFolder(out)
    assert folder.info.name == "caltech101"
    expected = [RENAMED.get(f, f).replace("_", " ") for f in labels]
    assert list(folder.class_order) == expected == list(folder.info.classes)
    base = select_classes(expected, "base", folder.class_order)
    m = math.ceil(len(labels) / 2)
    assert base == sorted(expected[:m]) == folder.info.base
    assert {"face", "leopard", "motorbike", "accordion", "helicopter"} <= set(base)
    assert {"ibis", "inline skate", "airplane"} & set(base) == {"airplane"}
    assert {"ibis", "inline skate", "joshua tree", "yin yang"} <= set(folder.info.new)
    assert labels[:4] == ["Faces", "Leopards", "Motorbikes", "accordion"] and labels[m - 1] == "helicopter"


def test_missing_images_are_listed_and_allow_missing_drops_them(run_cli, tmp_path):
    src = _release(tmp_path / "release")
    for p in (src / "101_ObjectCategories" / "ibis").glob("*"):
        p.unlink()  # a whole class gone
    code, _, err = run_cli("data", "prepare", "caltech101", "--source", src, "--out", tmp_path / "a")
    assert code == 2 and "3 of 18 files listed by split_zhou_Caltech101.json are missing" in err
    assert not (tmp_path / "a").exists()
    code, _, err = run_cli("data", "prepare", "caltech101", "--source", src, "--out", tmp_path / "b",
                           "--allow-missing")
    assert code == 0, err
    assert (tmp_path / "b" / "class_order.txt").read_text().splitlines() == [
        "face", "leopard", "accordion", "airplane", "car side"]  # the order keeps only classes with files


def test_an_unreadable_image_is_refused_unless_allowed(run_cli, tmp_path):
    src = _release(tmp_path / "release")
    (src / "101_ObjectCategories" / "accordion" / "image_0002.jpg").write_bytes(b"not a picture")
    code, _, err = run_cli("data", "prepare", "caltech101", "--source", src, "--out", tmp_path / "a")
    assert code == 2 and "are unreadable (first: 101_ObjectCategories/accordion/image_0002.jpg)" in err
    code, _, err = run_cli("data", "prepare", "caltech101", "--source", src, "--out", tmp_path / "b",
                           "--allow-missing")
    assert code == 0 and "skipped 1 unreadable file(s)" in err


@pytest.mark.parametrize("change, message", [
    (lambda d: d["train"].append(["BACKGROUND_Google/image_0001.jpg", 6, "BACKGROUND_Google"]),
     "a class CoOp leaves out"),
    (lambda d: d["test"].append(["Faces_easy/image_0001.jpg", 0, "face"]), "a class CoOp leaves out"),
    (lambda d: d["test"][0].__setitem__(1, 3), "label 3 names both 'airplane' and 'face'"),
    (lambda d: d["test"][-1].__setitem__(1, 9), "class 'ibis' has labels 5 and 9"),
    (lambda d: [row.__setitem__(1, {0: 1, 1: 0}.get(row[1], row[1])) for s in d.values() for row in s],
     "do not follow CoOp's order"),
    (lambda d: d.pop("test"), "not CoOp's split file"),
    (lambda d: d["train"].append(["../escape.jpg", 2, "accordion"]), "leaves 101_ObjectCategories/"),
    (lambda d: d["train"].append(d["train"][0]), "lists Faces/image_0001.jpg twice"),
    (lambda d: d["train"].append(["Faces/image_0009.jpg", 0, "Faces"]), "label 0 names both 'face' and 'Faces'"),
])
def test_a_split_file_not_coops_is_refused_by_name(run_cli, tmp_path, change, message):
    src = _release(tmp_path / "release")
    _edit_split(src, change)
    code, _, err = run_cli("data", "prepare", "caltech101", "--source", src, "--out", tmp_path / "out")
    assert code == 2 and "split_zhou_Caltech101.json" in err and message in err, err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_a_missing_split_file_or_image_folder_is_refused_with_the_fix(run_cli, tmp_path):
    src = _release(tmp_path / "release", split_file=False)
    code, _, err = run_cli("data", "prepare", "caltech101", "--source", src, "--out", tmp_path / "out")
    assert code == 2 and "split_zhou_Caltech101.json: not found" in err and "DATASETS.md" in err
    other = tmp_path / "other"
    other.mkdir()
    (other / "split_zhou_Caltech101.json").write_text('{"train": [], "test": []}')
    code, _, err = run_cli("data", "prepare", "caltech101", "--source", other, "--out", tmp_path / "out")
    assert code == 2 and "101_ObjectCategories: not found" in err


def test_coops_data_folder_works_as_source(run_cli, tmp_path):
    """CoOp's $DATA holds caltech-101/; either folder is a valid --source."""
    _release(tmp_path / "DATA" / "caltech-101")
    code, _, err = run_cli("data", "prepare", "caltech101", "--source", tmp_path / "DATA", "--out", tmp_path / "out")
    assert code == 0, err


def test_a_class_order_file_must_list_exactly_the_classes_once(run_cli, tmp_path):
    src = _release(tmp_path / "release")
    out = tmp_path / "prepared"
    assert run_cli("data", "prepare", "caltech101", "--source", src, "--out", out)[0] == 0
    order_file = out / "class_order.txt"
    order = order_file.read_text().splitlines()
    for text, message in (("\n".join(order[:-1]), "class 'ibis' is not listed"),
                          ("\n".join(order + ["zebra"]), "class 'zebra' is in no split CSV"),
                          ("\n".join(order + ["face"]), "lists 'face' twice"),
                          ("\n", "is empty")):
        order_file.write_text(text + "\n")
        with pytest.raises(SeptctlError, match=message) as caught:
            DatasetFolder(out).splits()
        assert str(caught.value).startswith(f"{order_file}: ") and "\n" not in str(caught.value)
        neighbors = ("neighbors", out, "--llm", "builtin", "--split", "base", "--out", tmp_path / "n.yaml")
        for args in (("data", "check", out), neighbors):
            code, _, err = run_cli(*args)
            assert code == 2 and str(order_file) in err and message in err, (args, err)


def test_registry_declares_coops_label_order_and_no_palm_copy(run_cli):
    from septctl.data.registry import find_dataset

    info = find_dataset("caltech-101")
    assert info.modality == "image" and info.label_order and info.hf_repo is None and info.folds == 1
    assert info.classes[:4] == ("face", "leopard", "motorbike", "accordion") and "car side" in info.classes
    code, out, err = run_cli("data", "download", "caltech101")
    assert code == 2 and "PALM published no copy" in err and "--source original" in err
    code, out, err = run_cli("data", "download", "caltech101", "--source", "original")
    assert code == 0 and "data.caltech.edu/records/mzrjq-6wc02" in out
    code, out, err = run_cli("data", "list", "--json")
    (entry,) = [d for d in json.loads(out) if d["name"] == "caltech101"]
    assert entry["label_order"] and entry["base"] == info.base and "face" in entry["base"]
