"""The MAESTRO v3 loader, on a three-piece tree in MAESTRO's layout that the test builds."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile as sf

from neuro_codec.data import maestro
from neuro_codec.data.audio import resample
from neuro_codec.data.dataset import ClipDataset, load_manifest, onset_roll
from neuro_codec.errors import DataError

ORIG_HZ = 44_100
SR = 22_050
# (split, year, stem, seconds, MIDI pitch of its one note every 0.5 s)
PIECES = [("train", 2004, "MIDI-Unprocessed_01_R1_2004_01_Track01_wav", 2.0, 60),
          ("validation", 2006, "MIDI-Unprocessed_02_R1_2006_02_Track02_wav", 1.5, 64),
          ("test", 2018, "MIDI-Unprocessed_03_R1_2018_03_Track03_wav", 1.0, 67)]


def _stereo(seconds: float, pitch: int) -> np.ndarray:
    t = np.arange(int(seconds * ORIG_HZ)) / ORIG_HZ
    f = 440 * 2 ** ((pitch - 69) / 12)
    left = 0.5 * np.sin(2 * np.pi * f * t)
    right = 0.25 * np.sin(2 * np.pi * 2 * f * t)
    return np.stack([left, right], axis=1).astype(np.float32)


def _build_tree(root: Path) -> None:
    rows = []
    for split, year, stem, seconds, pitch in PIECES:
        (root / str(year)).mkdir(parents=True, exist_ok=True)
        sf.write(str(root / f"{year}/{stem}.wav"), _stereo(seconds, pitch), ORIG_HZ,
                 subtype="PCM_16")
        pm = pretty_midi.PrettyMIDI()
        piano = pretty_midi.Instrument(program=0)
        piano.notes = [pretty_midi.Note(70, pitch, t, t + 0.4)
                       for t in np.arange(0.0, seconds, 0.5)]
        pm.instruments.append(piano)
        pm.write(str(root / f"{year}/{stem}.midi"))
        rows.append({"canonical_composer": "Test", "canonical_title": f"Piece {pitch}",
                     "split": split, "year": year, "midi_filename": f"{year}/{stem}.midi",
                     "audio_filename": f"{year}/{stem}.wav", "duration": seconds})
    with open(root / maestro.CSV_NAME, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


@pytest.fixture()
def tree(tmp_path) -> Path:
    _build_tree(tmp_path)
    return tmp_path


def test_official_split_and_paths(tree):
    pieces = load_manifest(tree, data="maestro")
    assert [(p.split, p.duration_s, p.source) for p in pieces] == [
        ("train", 2.0, "maestro"), ("validation", 1.5, "maestro"), ("test", 1.0, "maestro")]
    assert [p.id for p in pieces] == [stem for _, _, stem, _, _ in PIECES]
    assert pieces[0].midi_path == tree / f"2004/{PIECES[0][2]}.midi"
    assert pieces[0].wav_path == tree / ".neuro_codec_cache/22050hz" / f"2004/{PIECES[0][2]}.wav"
    assert not pieces[0].wav_path.exists()  # cached only when prepared


def test_cache_is_mono_22050_resampled_and_kept(tree):
    maestro.prepare_audio(tree)
    for (_, _, _, seconds, pitch), p in zip(PIECES, maestro.load_maestro(tree)):
        x, rate = sf.read(str(p.wav_path), dtype="float32", always_2d=True)
        assert rate == SR and x.shape == (int(seconds * SR), 1)
        want = resample(_stereo(seconds, pitch).mean(axis=1), ORIG_HZ, SR)
        assert np.max(np.abs(x[:, 0] - want)) < 2e-4  # 16-bit rounding of the source and cache
    mtimes = [p.wav_path.stat().st_mtime_ns for p in maestro.load_maestro(tree)]
    maestro.prepare_audio(tree)
    assert [p.wav_path.stat().st_mtime_ns for p in maestro.load_maestro(tree)] == mtimes


def test_clip_dataset_on_maestro(tree):
    clip = 2**13
    data = ClipDataset(tree, "train", clip_samples=clip, data="maestro")
    assert len(data) == int(2.0 * SR) // clip == 5
    item = data[2]
    assert item["piece_id"] == PIECES[0][2] and item["start"] == 2 * clip
    assert item["audio"].shape == (clip,) and item["onsets"].shape == (128, clip // 512)
    # Onsets every 0.5 s on C4: samples 0, 11025, 22050, …; this clip holds 16384..24575.
    assert np.argwhere(item["onsets"].numpy()).tolist() == [[60, (22050 - 2 * clip) // 512]]
    assert np.array_equal(item["onsets"].numpy(),
                          onset_roll(data.pieces[0].midi_path, 2 * clip, clip // 512))
    # Only the train split was cached.
    cached = sorted(p.name for p in (tree / ".neuro_codec_cache").rglob("*.wav"))
    assert cached == [f"{PIECES[0][2]}.wav"]
    assert len(ClipDataset(tree, "test", clip_samples=clip, data="maestro")) == 2


def test_bad_trees(tmp_path, tree):
    with pytest.raises(DataError, match="maestro-v3.0.0.csv"):
        maestro.load_maestro(tmp_path / "empty")
    text = (tree / maestro.CSV_NAME).read_text()
    (tree / maestro.CSV_NAME).write_text(text.replace("validation", "dev"))
    with pytest.raises(DataError, match="split 'dev'"):
        maestro.load_maestro(tree)
    (tree / maestro.CSV_NAME).write_text(text.replace("canonical_title,", ""))
    with pytest.raises(DataError, match="canonical_title"):
        maestro.load_maestro(tree)
    (tree / maestro.CSV_NAME).write_text(text)
    (tree / f"2018/{PIECES[2][2]}.wav").unlink()
    with pytest.raises(DataError, match="audio file not found"):
        ClipDataset(tree, "test", clip_samples=2**12, data="maestro")
    with pytest.raises(DataError, match="--root"):
        load_manifest(None, data="maestro")
