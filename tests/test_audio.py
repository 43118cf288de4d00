import numpy as np
import pytest
import soundfile as sf
import torch

from septctl.data.audio import AudioSpec
from septctl.data.audio import load_clip, prepare_waveform, read_audio, resample
from septctl.errors import SeptctlError

from .conftest import needs_shared

SPEC = AudioSpec(16000, 1.0, "mean")


def test_reads_sesa_8bit_unsigned():
    sesa = needs_shared("SESA")
    path = sorted((sesa / "train").glob("*.wav"))[0]
    assert sf.info(str(path)).subtype == "PCM_U8"
    wave, sr = read_audio(path)
    assert sr == 16000 and wave.dtype == torch.float32
    assert wave.abs().max() <= 1.0 and wave.std() > 0


def test_formats_and_rates(tmp_path):
    x = np.sin(np.linspace(0, 200, 22050)).astype(np.float32)
    for ext, sr, sub in (("wav", 22050, "PCM_16"), ("flac", 48000, "PCM_24"), ("ogg", 44100, "VORBIS")):
        path = tmp_path / f"a.{ext}"
        sf.write(path, np.stack([x, x], 1), sr, subtype=sub)
        clip = load_clip(path, SPEC)
        assert clip.shape == (16000,)


def test_tile_short_and_seeded_crop():
    short = torch.arange(4000, dtype=torch.float32)[None]
    out = prepare_waveform(short, 16000, SPEC)
    assert torch.equal(out[:4000], out[4000:8000])  # tiled, no zeros
    long = torch.randn(1, 50000)
    a = prepare_waveform(long, 16000, SPEC, key="0:x.wav")
    b = prepare_waveform(long, 16000, SPEC, key="0:x.wav")
    c = prepare_waveform(long, 16000, SPEC, key="1:x.wav")
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_channels_concat_vs_mean():
    stereo = torch.stack([torch.ones(8000), -torch.ones(8000)])
    concat = prepare_waveform(stereo, 16000, AudioSpec(16000, 1.0, "concat"))
    assert concat[:8000].eq(1).all() and concat[8000:].eq(-1).all()
    assert prepare_waveform(stereo, 16000, SPEC).eq(0).all()


def test_resample_is_pengis_transform_on_sesa():
    """septctl resamples exactly as Pengi's `torchaudio.transforms.Resample(orig, new)`.

    The functional form used before differed on the first 40 SESA train clips (16 kHz) by
    up to 9.5e-6 at 44.1 kHz and 2.4e-7 at 48 kHz (max abs, measured with torch 2.9.1).
    """
    import torchaudio.transforms as AT

    sesa = needs_shared("SESA")
    for path in sorted((sesa / "train").glob("*.wav"))[:10]:
        wave, sr = read_audio(path)
        for target in (44100, 48000):
            assert torch.equal(resample(wave, sr, target), AT.Resample(sr, target)(wave))
    wave, sr = read_audio(path)
    out = prepare_waveform(wave, sr, AudioSpec(44100, 1.0, "mean"), crop="start")
    assert torch.equal(out, AT.Resample(sr, 44100)(wave)[0, :44100])


def test_bad_files(tmp_path):
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0,), np.float32), 16000)
    with pytest.raises(SeptctlError, match="empty.wav: audio has zero samples"):
        read_audio(empty)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF\x00\x00junk")
    with pytest.raises(SeptctlError, match="junk.wav: unreadable audio"):
        read_audio(junk)


def test_crop_reaches_train_and_eval(run_cli, synth_dataset, tmp_path):
    import yaml

    run = tmp_path / "r"
    code, _, err = run_cli("train", "--backbone", "tiny", synth_dataset, "--epochs", "1", "--shots", "2", "--crop", "center", "--out", run, "-q")
    assert code == 0, err
    assert yaml.safe_load((run / "run.yaml").read_text())["config"]["crop"] == "center"
    code, _, err = run_cli("eval", run, "--crop", "start")
    assert code == 2 and "--crop applies to --zeroshot only" in err
    code, _, err = run_cli("eval", synth_dataset, "--zeroshot", "--backbone", "tiny", "--crop", "start", "--out", tmp_path / "z")
    assert code == 0, err
