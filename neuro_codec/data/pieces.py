"""A piece of a dataset and the splits: what the built-in set (`dataset.py`) and MAESTRO
(`maestro.py`) both produce, so that neither module needs the other's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

SPLITS = ("train", "validation", "test")
Split = Literal["train", "validation", "test"]


@dataclass(frozen=True)
class Piece:
    """One piece of a dataset: its audio (22,050 Hz mono WAV) and the aligned MIDI."""

    id: str  # unique within the dataset, usable as a file stem
    source: str  # "generated", "music21-piano", "music21-chorale" or "maestro"
    split: str  # "train", "validation" or "test"
    duration_s: float  # length of the audio, seconds
    wav_path: Path
    midi_path: Path
    piano: str = ""  # the piano it is played on (`pianos.PIANOS`; "" where unknown: MAESTRO)
    acoustics: str = ""  # its recording conditions (`acoustics.Acoustics.to_json`), or ""
