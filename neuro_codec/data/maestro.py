"""MAESTRO v3 on disk as a dataset: the official csv split, audio cached at 22,050 Hz mono.

`load_maestro(root)` reads `root/maestro-v3.0.0.csv` into `dataset.Piece`s whose `wav_path`
points at a cache of the audio resampled to 22,050 Hz and downmixed to mono
(`root/.neuro_codec_cache/22050hz/<audio_filename>.wav`); `prepare_audio` fills the cache
once, so training never resamples per epoch. The MIDI is MAESTRO's own aligned file.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from tqdm import tqdm

from neuro_codec.data.audio import SAMPLE_RATE_HZ, load_audio, save_audio
from neuro_codec.data.pieces import SPLITS, Piece
from neuro_codec.errors import DataError

CSV_NAME = "maestro-v3.0.0.csv"
CACHE_DIR = Path(".neuro_codec_cache") / f"{SAMPLE_RATE_HZ}hz"
REQUIRED_COLUMNS = ("canonical_composer", "canonical_title", "split", "year",
                    "midi_filename", "audio_filename", "duration")
SOURCE = "maestro"


def load_maestro(root: str | os.PathLike) -> list[Piece]:
    """The pieces of MAESTRO's csv, in its order.

    `id` is the audio file's stem (unique in MAESTRO), `split` the csv's own (train /
    validation / test), `duration_s` the csv's duration; `wav_path` is the cache file
    (it exists once `prepare_audio` has run), `midi_path` the aligned MIDI.

    Raises:
        DataError: the csv is missing, lacks a column, or has an unknown split.
    """
    root = Path(root)
    path = root / CSV_NAME
    if not path.is_file():
        raise DataError(f"MAESTRO csv not found: {path} (--root must be the folder of "
                        f"MAESTRO v3.0.0 holding {CSV_NAME})")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
        rows = list(reader)
    pieces = []
    for line, r in enumerate(rows, start=2):
        if r["split"] not in SPLITS:
            raise DataError(f"{path}:{line}: split {r['split']!r}, expected one of {SPLITS}")
        try:
            duration_s = float(r["duration"])
        except ValueError:
            raise DataError(f"{path}:{line}: duration {r['duration']!r} is not a number") from None
        pieces.append(Piece(
            id=Path(r["audio_filename"]).stem, source=SOURCE, split=r["split"],
            duration_s=duration_s, wav_path=cached_path(root, r["audio_filename"]),
            midi_path=root / r["midi_filename"],
        ))
    return pieces


def cached_path(root: str | os.PathLike, audio_filename: str) -> Path:
    """Where the 22,050 Hz mono copy of `audio_filename` lives."""
    return Path(root) / CACHE_DIR / Path(audio_filename).with_suffix(".wav")


def prepare_audio(root: str | os.PathLike, pieces: list[Piece] | None = None,
                  progress: bool = False) -> None:
    """Fill the cache for `pieces` (all of MAESTRO if None): read each original recording,
    average its channels, resample it to 22,050 Hz (torchaudio's windowed sinc) and write it
    as 16-bit WAV, atomically. Pieces already cached are skipped.

    Raises:
        DataError: an original recording or MIDI file named by the csv is missing.
        AudioError: a recording is not readable audio.
    """
    root = Path(root)
    with open(root / CSV_NAME, newline="", encoding="utf-8") as f:
        original = {cached_path(root, r["audio_filename"]): root / r["audio_filename"]
                    for r in csv.DictReader(f)}
    pieces = load_maestro(root) if pieces is None else pieces
    for p in pieces:
        if not p.midi_path.is_file():
            raise DataError(f"MAESTRO MIDI file not found: {p.midi_path}")
    todo = [p for p in pieces if not p.wav_path.is_file()]
    for p in tqdm(todo, desc="cache MAESTRO audio", unit="file", disable=not progress):
        src = original[p.wav_path]
        if not src.is_file():
            raise DataError(f"MAESTRO audio file not found: {src}")
        save_audio(p.wav_path, load_audio(src, SAMPLE_RATE_HZ, quiet=True), SAMPLE_RATE_HZ)
