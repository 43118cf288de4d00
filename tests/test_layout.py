import shutil

import pytest

from septctl.data.layout import DatasetFolder, open_dataset
from septctl.errors import SeptctlError


def _copy(synth_dataset, tmp_path):
    root = tmp_path / "ds"
    shutil.copytree(synth_dataset, root)
    return root


def test_reads_splits(synth_dataset):
    ds = DatasetFolder(synth_dataset)
    train, test = ds.splits()
    assert len(train) == 48 and len(test) == 32
    assert ds.folds == 0 and ds.default_fold() is None
    assert len(ds.all_files()) == 80


def test_missing_column(synth_dataset, tmp_path):
    root = _copy(synth_dataset, tmp_path)
    text = (root / "train.csv").read_text().replace("classname", "label", 1)
    (root / "train.csv").write_text(text)
    with pytest.raises(SeptctlError, match=r"train\.csv: missing column\(s\) classname"):
        DatasetFolder(root).rows("train")


def test_unknown_file(synth_dataset, tmp_path):
    root = _copy(synth_dataset, tmp_path)
    with open(root / "test.csv", "a") as f:
        f.write("audios/nothere.wav,siren\n")
    with pytest.raises(SeptctlError, match="nothere.wav"):
        DatasetFolder(root).rows("test")


def test_test_class_not_in_train(synth_dataset, tmp_path):
    root = _copy(synth_dataset, tmp_path)
    lines = (root / "test.csv").read_text().splitlines()
    lines[1] = lines[1].rsplit(",", 1)[0] + ",unicorn"
    (root / "test.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(SeptctlError, match="'unicorn' is not in the training split"):
        DatasetFolder(root).splits()


def test_folds_are_selected_not_copied(tmp_path, synth_dataset):
    root = _copy(synth_dataset, tmp_path)
    (root / "csv_files").mkdir()
    for k in (1, 2):
        shutil.copy(root / "train.csv", root / "csv_files" / f"train_{k}.csv")
        shutil.copy(root / "test.csv", root / "csv_files" / f"test_{k}.csv")
    (root / "train.csv").unlink()
    (root / "test.csv").unlink()
    before = sorted(p.name for p in root.rglob("*.csv"))
    ds = DatasetFolder(root)
    assert ds.folds == 2 and ds.default_fold() == 1
    assert len(ds.rows("train", 2)) == 48
    with pytest.raises(SeptctlError, match="fold 3 not found"):
        ds.rows("train", 3)
    assert sorted(p.name for p in root.rglob("*.csv")) == before


def test_registered_name_needs_prepared_folder(tmp_path):
    with pytest.raises(SeptctlError, match="septctl data prepare esc50"):
        open_dataset("esc50", tmp_path)


def test_excel_bom_and_spaced_header_are_accepted(synth_dataset, tmp_path):
    root = _copy(synth_dataset, tmp_path)
    want = DatasetFolder(root).rows("train")
    text = (root / "train.csv").read_text(encoding="utf-8").replace("path,classname", "path, classname ", 1)
    (root / "train.csv").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    assert DatasetFolder(root).rows("train") == want


def test_odd_spellings_read_as_one(synth_dataset, tmp_path):
    root = _copy(synth_dataset, tmp_path)
    text = (root / "train.csv").read_text(encoding="utf-8")
    first = text.splitlines()[1].split(",")[0]
    (root / "train.csv").write_text(text.replace(first, "./" + first.replace("/", "//"), 1), encoding="utf-8")
    assert DatasetFolder(root).rows("train")[0].path == first  # one spelling, so one cache key per file


def test_outside_rows_need_the_opt_in(synth_dataset, tmp_path, monkeypatch):
    root = _copy(synth_dataset, tmp_path)
    text = (root / "train.csv").read_text(encoding="utf-8")
    first = text.splitlines()[1].split(",")[0]
    shutil.copyfile(root / first, tmp_path / "elsewhere.wav")
    (root / "train.csv").write_text(text.replace(first, "../elsewhere.wav", 1), encoding="utf-8")
    with pytest.raises(SeptctlError, match=r"train\.csv:2: \.\./elsewhere\.wav points outside .*SEPTCTL_ALLOW_OUTSIDE=1"):
        DatasetFolder(root).rows("train")
    monkeypatch.setenv("SEPTCTL_ALLOW_OUTSIDE", "1")
    assert DatasetFolder(root).rows("train")[0].path == "../elsewhere.wav"


def test_prepare_link_records_where_its_symlinks_point(tmp_path):
    import soundfile as sf

    from septctl.data.layout import LINKS_FILE, linked_roots_record, write_layout
    from septctl.data.schema import Row

    src = tmp_path / "release"
    src.mkdir()
    for name in ("a", "b"):
        sf.write(src / f"{name}.wav", [0.1] * 1600, 16000)
    rows = [Row("audios/a.wav", "dog")], [Row("audios/b.wav", "dog")]
    write_layout(tmp_path / "ds", {"audios/a.wav": src / "a.wav", "audios/b.wav": src / "b.wav"},
                 {"train.csv": rows[0], "test.csv": rows[1]}, link=True)
    record = linked_roots_record(tmp_path / "ds")  # in septctl's cache: the dataset cannot write it
    assert record.read_text().split() == [str(src.resolve())] and not (tmp_path / "ds" / LINKS_FILE).exists()
    assert DatasetFolder(tmp_path / "ds").splits() == rows  # symlinks out, but into a recorded root
    record.unlink()
    with pytest.raises(SeptctlError, match="symlink out"):
        DatasetFolder(tmp_path / "ds").splits()
    (tmp_path / "ds" / LINKS_FILE).write_text(f"{src.resolve()}\n")  # as older versions wrote it: not trusted
    with pytest.raises(SeptctlError, match=f"{LINKS_FILE} is no longer trusted.*data prepare --link"):
        DatasetFolder(tmp_path / "ds").splits()
