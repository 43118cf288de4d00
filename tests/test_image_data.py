"""Image datasets: folders of images, the kind of media a folder holds, data check on images, synth-shapes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from septctl.data.layout import DatasetFolder, open_dataset

ROOT = Path(__file__).resolve().parents[1]


def _png(path: Path, colour=(0, 0, 255), size=(16, 10)) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, format="PNG")


def _wav(path: Path, seconds: float = 0.2) -> None:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(int(16000 * seconds), dtype=np.float32), 16000)


def _image_tree(root: Path, per_class: int = 4) -> Path:
    for c, cls in enumerate(("red_ball", "green_box", "blue_cup")):
        for i in range(per_class):
            _png(root / cls / f"{i}.png", size=(16 + c, 10 + i))
    return root


def test_a_folder_of_images_is_a_dataset_and_stray_sounds_are_left_out(run_cli, tmp_path):
    data = _image_tree(tmp_path / "pictures")
    _wav(data / "red_ball" / "stray.wav")
    folder = open_dataset(str(data))
    assert folder.modality == "image"
    files = folder.all_files()
    assert len(files) == 12 and all(f.endswith(".png") for f in files)
    train, test = folder.splits()
    assert {r.classname for r in train} == {"red ball", "green box", "blue cup"} == {r.classname for r in test}
    code, out, err = run_cli("data", "check", data)
    assert code == 0, err
    assert "12 files, 0 unreadable" in out and "images" in out and "width (min/max)" in out
    assert "left out 1 sound file(s): this folder holds images" in out
    assert "16..18 pixels wide, 10..13 high" in out
    assert "seconds" not in out and "clip length" not in out  # nothing about durations for pictures
    assert "(image data: embed it with a backbone for image: " in out


def test_a_folder_of_sounds_splits_as_before_with_a_stray_image(tmp_path):
    """Adding a picture to a folder of sounds changes nothing: the audio rows and their split stay."""
    sounds = tmp_path / "sounds"
    for cls in ("dog", "cat"):
        for i in range(5):
            _wav(sounds / cls / f"{i}.wav")
    before = open_dataset(str(sounds)).splits()
    _png(sounds / "dog" / "photo.png")
    after = open_dataset(str(sounds))
    assert after.modality == "audio" and after.splits() == before
    from septctl.data.audiofolder import labelling

    assert labelling(sounds).ignored == 1 and labelling(sounds).modality == "audio"


def test_sounds_win_a_tie_and_the_kind_is_counted_over_the_whole_folder(tmp_path):
    from septctl.data.audiofolder import labelling

    data = tmp_path / "mixed"
    for cls in ("a", "b"):
        _wav(data / cls / "x.wav")
        _png(data / cls / "y.png")
    assert labelling(data).modality == "audio" and labelling(data).ignored == 2
    _png(data / "a" / "z.png")
    assert labelling(data).modality == "image" and labelling(data).ignored == 2


def test_train_and_test_folders_of_images(tmp_path):
    data = tmp_path / "split"
    for split, n in (("train", 3), ("test", 2)):
        for cls in ("cat", "dog"):
            for i in range(n):
                _png(data / split / cls / f"{i}.jpg")
    train, test = open_dataset(str(data)).splits()
    assert len(train) == 6 and len(test) == 4 and all(r.path.startswith("test/") for r in test)


def test_common_layout_modality_comes_from_the_files_its_csvs_name(tmp_path):
    data = tmp_path / "common"
    for cls in ("cat", "dog"):
        for i in range(2):
            _png(data / "images" / f"{cls}{i}.png")
    (data / "test.csv").write_text("path,classname\nimages/cat0.png,cat\nimages/dog0.png,dog\n")
    (data / "train.csv").write_text("path,classname\nimages/cat1.png,cat\nimages/dog1.png,dog\n")
    folder = DatasetFolder(data)
    assert folder.modality == "image" and folder.class_order is None and len(folder.splits()[0]) == 2
    assert open_dataset(str(data)).csv_dir == data  # the common layout, read in place: no recorded split


def test_an_unreadable_image_is_named_by_data_check(run_cli, tmp_path):
    data = _image_tree(tmp_path / "pictures")
    (data / "blue_cup" / "1.png").write_bytes(b"\x89PNG broken")
    code, out, err = run_cli("data", "check", data)
    assert code == 1 and "1 unreadable" in out
    assert "blue_cup/1.png" in err and "not a readable image" in err


def test_a_class_order_file_in_a_folder_of_images_sets_base_and_new(run_cli, tmp_path):
    data = _image_tree(tmp_path / "pictures")
    (data / "class_order.txt").write_text("red ball\ngreen box\nblue cup\n", encoding="utf-8")
    folder = open_dataset(str(data))
    assert folder.class_order == ("red ball", "green box", "blue cup")
    code, out, _ = run_cli("data", "check", data)
    assert code == 0 and "base = green box, red ball; new = blue cup" in out
    (data / "class_order.txt").unlink()
    code, out, _ = run_cli("data", "check", data)
    assert code == 0 and "base/new split: base = blue cup, green box; new = red ball" in out


def test_synth_shapes_writes_valid_pictures_deterministically(run_cli, tmp_path):
    from PIL import Image

    from septctl.data.registry import find_dataset

    info = find_dataset("synth-shapes")
    assert info.modality == "image" and len(info.classes) == 12
    out = tmp_path / "shapes"
    code, _, err = run_cli("data", "synth", "--dataset", "synth-shapes", "--out", out, "--train-per-class", "3",
                           "--test-per-class", "2", "--seed", "5")
    assert code == 0, err
    pictures = sorted(out.rglob("*.png"))
    assert len(pictures) == 12 * 5 and not list(out.glob("*.csv"))
    for p in pictures[:24]:
        with Image.open(p) as im:
            im.verify()
        with Image.open(p) as im:
            assert im.format == "PNG" and im.size == (64, 64) and im.mode == "RGB"
    folder = open_dataset(str(out))
    train, test = folder.splits()
    assert folder.modality == "image" and len(train) == 36 and len(test) == 24
    assert sorted({r.classname for r in train}) == sorted(info.classes)
    code, _, err = run_cli("data", "synth", "--dataset", "synth-shapes", "--out", out)
    assert code == 2 and "already exists" in err
    again, other = tmp_path / "again", tmp_path / "other"
    assert run_cli("data", "synth", "--dataset", "synth-shapes", "--out", again, "--train-per-class", "1",
                   "--test-per-class", "2", "--seed", "5")[0] == 0
    assert run_cli("data", "synth", "--dataset", "synth-shapes", "--out", other, "--train-per-class", "3",
                   "--test-per-class", "2", "--seed", "6")[0] == 0
    same = "test/red_star/001.png"
    assert (again / same).read_bytes() == (out / same).read_bytes()  # test pictures ignore the training count
    assert (other / same).read_bytes() != (out / same).read_bytes()


def test_synth_shapes_pictures_show_their_colour():
    """The named colour dominates the shape's pixels: the class is in the picture, not only in its name."""
    from septctl.data.shapes import COLOURS, draw

    for colour, rgb in COLOURS.items():
        pixels = np.asarray(draw(colour, "square", np.random.default_rng(1))).reshape(-1, 3).astype(int)
        nearest = np.abs(pixels[:, None, :] - np.array(list(COLOURS.values()))[None]).sum(-1).min(-1)
        strong = pixels[nearest < 80]
        assert len(strong) > 0.03 * len(pixels)
        assert int(np.argmax(strong.mean(0))) == int(np.argmax(rgb)), colour


def _imported(args: list[str], cwd: Path) -> list[str]:
    """Which of torch and PIL a fresh `septctl ARGS` process imported."""
    code = ("import json, sys; from septctl.cli.main import app; from septctl.cli.common import run_app; "
            f"sys.argv = ['septctl', *{args!r}]; rc = run_app(app); "
            "print(json.dumps([rc, [m for m in ('torch', 'PIL') if m in sys.modules]]))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    rc, heavy = json.loads(done.stdout.strip().splitlines()[-1])
    assert rc == 0, done.stderr
    return heavy


def test_light_commands_import_no_pillow_and_image_check_no_torch(synth_dataset, tmp_path):
    assert _imported(["data", "list"], tmp_path) == []
    assert _imported(["data", "check", str(synth_dataset)], tmp_path) == []  # audio: no Pillow either
    assert _imported(["data", "--help"], tmp_path) == []
    pictures = _image_tree(tmp_path / "pictures")
    assert _imported(["data", "check", str(pictures)], tmp_path) == ["PIL"]


@pytest.mark.parametrize("name, kind", [("a/b.WAV", "audio"), ("x.jpeg", "image"), ("x.txt", None), ("x", None)])
def test_media_kind_by_suffix(name, kind):
    from septctl.data.media import kind as media_kind

    assert media_kind(name) == kind
