"""`septctl predict` and the classifier behind it: the labels `eval` scores, any class names, long and broken files."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from septctl.data.world import SR


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A synth-tones dataset and a CoOp run trained on its base classes with synth-clap (a few seconds)."""
    from septctl.cli.common import run_app
    from septctl.cli.main import app
    from septctl.data.synth import synthesize_world

    root = tmp_path_factory.mktemp("predict")
    data = root / "synth-tones"
    synthesize_world("synth-tones", data, train_per_class=4, test_per_class=6, seed=3)
    mp = pytest.MonkeyPatch()
    mp.setenv("SEPTCTL_CACHE", str(root / "cache"))
    mp.setattr("sys.argv", ["septctl", "train", str(data), "--backbone", "synth-clap", "--epochs", "3", "--shots", "4",
                            "--out", str(root / "run"), "-q"])
    try:
        assert run_app(app) == 0
    finally:
        mp.undo()
    return data, root / "run"


def _csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def _test_files(data, names: list[str], into) -> None:
    """Copy the test clips of `names` into `into` (a folder of unlabelled recordings)."""
    from septctl.data.layout import open_dataset

    into.mkdir()
    for row in open_dataset(str(data)).rows("test"):
        if row.classname in names:
            shutil.copy(data / row.path, into / (row.path.split("/")[-1]))


def test_predict_new_classes_matches_eval(world, run_cli, tmp_path):
    data, run = world
    code, out, err = run_cli("eval", run, "--classes", "new", "--json")
    assert code == 0, err
    scored = json.loads(out)
    folder = tmp_path / "recordings"
    _test_files(data, scored["class_names"], folder)
    code, out, err = run_cli("predict", run, folder, "--classes", "new", "--format", "csv", "-k", "1")
    assert code == 0, err
    rows = _csv(out)
    assert len(rows) == scored["n"] > 0
    truth = {f.name: f.name.rsplit("_test_", 1)[0].replace("_", " ") for f in folder.iterdir()}
    assert set(truth.values()) == set(scored["class_names"])
    hits = sum(r["label_1"] == truth[r["file"].rsplit("/", 1)[-1]] for r in rows)
    assert round(100 * hits / len(rows), 4) == pytest.approx(scored["accuracy"], abs=1e-6)
    print(f"eval and predict, new classes: {scored['accuracy']:.2f} % of {scored['n']}")


def test_names_the_run_never_saw_and_jsonl(world, run_cli, tmp_path):
    data, run = world
    clip = sorted((data / "audios").glob("*_test_*.wav"))[0]
    names = "mid rising buzzer,low falling hiss,high steady knock"
    code, out, err = run_cli("predict", run, clip, "--classes", names, "--format", "jsonl", "-k", "3")
    assert code == 0, err
    [row] = [json.loads(line) for line in out.splitlines()]
    assert row["file"] == str(clip) and row["window"] is None
    assert sorted(row["labels"]) == sorted(names.split(","))
    assert sum(row["probs"]) == pytest.approx(1.0, abs=1e-5) and row["probs"] == sorted(row["probs"], reverse=True)


def test_softmax_is_at_the_runs_logit_scale_and_short_clips_are_filled_as_embed_fills_them(world, tmp_path):
    from septctl.predict import load_run

    data, run = world
    model = load_run(run, "new")
    clip = sorted((data / "audios").glob("*_test_*.wav"))[0]
    short = tmp_path / "short.wav"
    sf.write(short, sf.read(clip)[0][: SR // 3], SR)  # a third of synth-clap's 1 s clip
    with torch.no_grad():
        text = torch.nn.functional.normalize(model.method.encode_names(model.classes), dim=-1)
    assert model.logit_scale == 100.0
    for path in (clip, short):
        [row] = model.predict(path, top_k=len(model.classes), cache=False)
        feats = model.backbone.encode_files([path])  # `septctl embed`'s loading: tiled to the clip length
        expected = (model.logit_scale * torch.nn.functional.normalize(feats, dim=-1) @ text.T).softmax(-1)[0]
        assert row.end_s == pytest.approx(1 / 3 if path == short else 1.0, abs=1e-4)
        assert [round(p, 5) for p in row.probs] == [round(float(expected[model.classes.index(n)]), 5)
                                                    for n in row.labels]


def test_a_long_file_gives_window_and_file_rows(world, run_cli, tmp_path):
    data, run = world
    clips = sorted((data / "audios").glob("*_test_*.wav"))[:30]
    long = tmp_path / "long.wav"
    sf.write(long, np.concatenate([sf.read(c)[0] for c in clips]), SR)  # 30 one-second sounds, 30 s
    code, out, err = run_cli("predict", run, long, "--classes", "all", "--per-window", "--format", "csv")
    assert code == 0, err
    windows = _csv(out)
    assert [int(r["window"]) for r in windows] == list(range(30))
    assert float(windows[-1]["end_s"]) == pytest.approx(30.0)
    code, out, err = run_cli("predict", run, long, "--classes", "all", "--format", "csv", "-k", "12",
                             "--window", "0.5", "--hop", "0.25", "--per-window")
    assert code == 0, err
    assert len(_csv(out)) == 119  # (30 - 0.5) / 0.25 + 1 half-second windows
    code, out, err = run_cli("predict", run, long, "--classes", "all", "--format", "csv", "-k", "12")
    assert code == 0, err
    [whole] = _csv(out)
    assert whole["window"] == "" and (float(whole["start_s"]), float(whole["end_s"])) == (0.0, 30.0)
    # the file's row is the mean of its windows' probabilities
    from septctl.predict import load_run

    model = load_run(run, "all")
    per_window = model.predict(long, top_k=12, per_window=True)
    mean = {n: sum(r.probs[r.labels.index(n)] for r in per_window) / 30 for n in model.classes}
    assert float(whole["prob_1"]) == pytest.approx(mean[whole["label_1"]], abs=1e-5)


def test_a_corrupt_file_is_listed_and_the_rest_predicted(world, run_cli, tmp_path):
    data, run = world
    folder = tmp_path / "mixed"
    folder.mkdir()
    for clip in sorted((data / "audios").glob("*_test_*.wav"))[:3]:
        shutil.copy(clip, folder / clip.name)
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00not audio at all")
    code, out, err = run_cli("predict", run, folder, tmp_path / "missing.wav", "--classes", "new", "--format", "csv")
    assert code == 1
    assert len(_csv(out)) == 3
    assert f"failed: {folder / 'broken.wav'}: " in err and "missing.wav: no such file or folder" in err
    code, out, err = run_cli("predict", run, folder, "--classes", "new", "--strict")
    assert code == 2 and "broken.wav" in err and out == ""


def test_zeroshot_without_a_run_and_list_files(world, run_cli, tmp_path):
    data, _ = world
    clips = sorted((data / "audios").glob("*_test_*.wav"))[:4]
    listing = tmp_path / "list.txt"
    listing.write_text("# recordings\n" + "\n".join(map(str, clips[:2])) + "\n\n")
    out_file = tmp_path / "rows.jsonl"
    code, out, err = run_cli("predict", "--zeroshot", "--backbone", "synth-clap", f"@{listing}", str(clips[2]),
                             "--list", listing, "--classes", "high steady hiss,low rising knock,mid falling bell",
                             "--out", out_file)
    assert code == 0, err
    rows = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert [r["file"] for r in rows] == [str(c) for c in clips[:3]]  # a file named twice is predicted once
    code, out, err = run_cli("predict", "--zeroshot", "--backbone", "synth-clap", str(clips[0]), "--classes", "new")
    assert code == 2 and "comma list" in err


def test_cached_embeddings_are_reused_by_content(world, tmp_path, monkeypatch):
    from septctl.predict import load_zeroshot

    data, _ = world
    clip = sorted((data / "audios").glob("*_test_*.wav"))[0]
    renamed = tmp_path / "same-sound.wav"
    shutil.copy(clip, renamed)
    model = load_zeroshot("synth-clap", ["high steady hiss", "low rising knock"])
    first = model.predict(clip)
    calls = []
    real = model.backbone.encode_audio
    monkeypatch.setattr(model.backbone, "encode_audio", lambda w: calls.append(len(w)) or real(w))
    again = model.predict(renamed)
    assert calls == [] and again[0].probs == first[0].probs
    model.predict(renamed, window=0.5)  # another window setting is another entry
    assert calls == [2]


def test_waveforms_and_batches_give_the_file_results(world):
    from septctl.predict import load_zeroshot

    data, _ = world
    clips = sorted((data / "audios").glob("*_test_*.wav"))[:5]
    model = load_zeroshot("synth-clap", ["high steady hiss", "low rising knock", "mid falling bell"])
    from_files = model.predict(clips, top_k=3, batch_size=2, cache=False)
    waves = [sf.read(c, dtype="float32")[0] for c in clips]
    from_waves = model.predict([waves[0], torch.from_numpy(waves[1])], top_k=3, batch_size=16)
    assert [r.file for r in from_waves] == ["<waveform 0>", "<waveform 1>"]
    for a, b in zip(from_files, from_waves):
        assert a.labels == b.labels and a.probs == pytest.approx(b.probs, abs=1e-5)


def test_bad_requests_are_refused(world, run_cli, tmp_path):
    data, run = world
    clip = sorted((data / "audios").glob("*.wav"))[0]
    for args, says in [(("--window", "2"), "at most synth-clap's clip length, 1 s"),
                       (("--classes", "dog"), "at least two names"),
                       (("--classes", "dog,dog"), "named twice"),
                       (("--backbone", "tiny"), "--zeroshot only")]:
        code, out, err = run_cli("predict", run, clip, *args)
        assert code == 2 and says in err, (args, err)
    code, out, err = run_cli("predict", run)
    assert code == 2 and "no inputs" in err
    code, out, err = run_cli("predict", data / "audios", clip)  # the run forgotten
    assert code == 2 and "not a run folder" in err and "--zeroshot" in err


def test_a_damaged_cache_is_started_afresh(world, tmp_path, monkeypatch):
    from septctl.paths import cache_dir
    from septctl.predict import load_zeroshot

    data, _ = world
    clip = sorted((data / "audios").glob("*_test_*.wav"))[0]
    (cache_dir("predict") / "embeddings.sqlite").write_bytes(b"not a database, a crash left this" * 100)
    model = load_zeroshot("synth-clap", ["high steady hiss", "low rising knock"])
    first = model.predict(clip)
    calls = []
    real = model.backbone.encode_audio
    monkeypatch.setattr(model.backbone, "encode_audio", lambda w: calls.append(len(w)) or real(w))
    assert model.predict(clip)[0].probs == first[0].probs and calls == []  # cached in the new file


def test_table_and_stdin_list(world, run_cli, tmp_path, monkeypatch):
    import sys

    data, run = world
    clips = sorted((data / "audios").glob("*_test_*.wav"))[:2]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(map(str, clips)) + "\n"))
    code, out, err = run_cli("predict", run, "--list", "-", "--classes", "new", "--format", "table", "-k", "2")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2 and lines[0].startswith(str(clips[0]))
    assert len(re.findall(r" \d\.\d{3}", lines[0])) == 2  # two labels with their probabilities


def test_a_run_whose_dataset_changed_is_flagged(world, run_cli, tmp_path):
    """Files added to the training dataset after the run: predict still labels, and says the dataset changed."""
    data, run = world
    test_csv = data / "test.csv"
    before = test_csv.read_text()
    clip = sorted((data / "audios").glob("*_test_*.wav"))[0]
    added = clip.with_name("added_after_training.wav")
    shutil.copy(clip, added)
    label = next(line.split(",", 1)[1] for line in before.splitlines() if clip.name in line)
    try:
        test_csv.write_text(before + f"audios/{added.name},{label}\n")
        code, out, err = run_cli("predict", run, clip, "--classes", "new", "--format", "csv")
        assert code == 0 and len(_csv(out)) == 1, err
        assert "its dataset changed since training" in err and "added_after_training.wav" in err
    finally:
        test_csv.write_text(before)
        added.unlink()
    code, out, err = run_cli("predict", run, clip, "--classes", "new", "--format", "csv")
    assert code == 0 and "changed since training" not in err
