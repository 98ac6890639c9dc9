"""Things the codec says once (neuro_codec.data.audio): the sample rate and the hop, how a waveform
is cut into frames and how many frames that makes, the bitrate of some bits, and the notes
`load_audio` prints, each once and never when quiet."""

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from neuro_codec.data import audio
from neuro_codec.data.audio import (
    HOP_SAMPLES,
    SAMPLE_RATE_HZ,
    bits_per_second,
    frame_audio,
    load_audio,
    n_frames,
)

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(p for d in ("neuro_codec", "conversion", "hardware", "benchmarks", "scripts")
                 for p in (ROOT / d).rglob("*.py"))


@pytest.mark.parametrize("pattern, home", [
    (r"^SAMPLE_RATE_HZ\s*=", "neuro_codec/data/audio.py"),
    (r"^HOP_SAMPLES\s*=", "neuro_codec/data/audio.py"),
    (r"^def n_frames\(", "neuro_codec/data/audio.py"),
    (r"^def frame_audio\(", "neuro_codec/data/audio.py"),
    (r"^def bits_per_second\(", "neuro_codec/data/audio.py"),
    (r"^def parse_encoder_graph\(", "conversion/nir_export.py"),
])
def test_defined_in_one_place(pattern, home):
    found = [p.relative_to(ROOT).as_posix() for p in SOURCES
             if re.search(pattern, p.read_text(encoding="utf-8"), re.MULTILINE)]
    assert found == [home]


def test_n_frames_is_the_ceiling():
    assert [n_frames(n, 512) for n in (0, 1, 511, 512, 513, 1024, 130_900)] == \
        [0, 1, 1, 1, 2, 2, 256]
    assert n_frames(SAMPLE_RATE_HZ) == 44 and HOP_SAMPLES == 512   # 43.07 frames in a second


def test_frame_audio_zero_pads_the_tail_of_tensors_and_arrays():
    x = torch.arange(1, 11, dtype=torch.float64)       # 10 samples at hop 4: 3 frames, 2 zeros
    want = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 0, 0]], dtype=torch.float64)
    assert torch.equal(frame_audio(x, 4), want)
    batch = torch.stack([x, -x]).float()
    framed = frame_audio(batch, 4)
    assert framed.shape == (2, 3, 4) and framed.dtype == torch.float32
    assert torch.equal(framed[1], -want.float())
    arr = frame_audio(x.numpy(), 4)
    assert isinstance(arr, np.ndarray) and arr.dtype == np.float64
    assert np.array_equal(arr, want.numpy())
    assert np.array_equal(frame_audio(batch.numpy(), 4), framed.numpy())
    assert frame_audio(x[:8], 4).shape == (2, 4)                      # a whole number: no pad
    assert torch.equal(frame_audio(torch.zeros(0), 4), torch.zeros(1, 4))   # empty: one frame
    for n in (1, 511, 512, 513, 22_050):
        assert frame_audio(torch.zeros(n), HOP_SAMPLES).shape == (n_frames(n), HOP_SAMPLES)


def test_frame_audio_passes_the_gradient():
    x = torch.randn(2, 10, requires_grad=True)
    (frame_audio(x, 4) * torch.arange(12.0).reshape(3, 4)).sum().backward()
    assert torch.equal(x.grad, torch.arange(10.0).expand(2, 10))


def test_bits_per_second():
    assert bits_per_second(80 * 431, 431 * HOP_SAMPLES) == 80 * 22_050 / 512 == 3445.3125
    assert bits_per_second(8, 44_100, sample_rate_hz=44_100) == 8.0
    with pytest.raises(ValueError, match="n_samples must be positive, got 0"):
        bits_per_second(8, 0)


def test_load_audio_says_a_downmix_and_a_resampling_once(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(audio, "_warned_channels", set())
    monkeypatch.setattr(audio, "_warned_rates", set())
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.tile([0.5, -0.25], (100, 1)), SAMPLE_RATE_HZ, subtype="FLOAT")
    x = load_audio(stereo, quiet=True)
    assert capsys.readouterr().err == ""
    assert np.array_equal(x, np.full(100, 0.125, np.float32))
    load_audio(stereo)
    load_audio(stereo)
    assert capsys.readouterr().err == "note: downmixing 2 channels to mono\n"
    quad = tmp_path / "quad11k.wav"
    sf.write(quad, np.zeros((1000, 4)), 11_025, subtype="FLOAT")
    assert load_audio(quad).shape == (2000,)
    assert capsys.readouterr().err == ("note: downmixing 4 channels to mono\n"
                                       "note: resampling 11025 Hz audio to 22050 Hz\n")
    mono = tmp_path / "mono.wav"
    sf.write(mono, np.zeros(100), SAMPLE_RATE_HZ, subtype="FLOAT")
    load_audio(mono)
    load_audio(quad)
    assert capsys.readouterr().err == ""
