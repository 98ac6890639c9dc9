"""Real piano music from music21's bundled corpus: the non-generated half of the built-in data.

Two kinds of work, found in the corpus that ships inside the `music21` wheel (no download):
solo piano pieces (two-part keyboard scores: Bach, C. P. E. Bach, Chopin, Joplin, Mozart,
Schoenberg, Clara Schumann, Verdi) and the Bach chorales (four voices, played on a piano).
`corpus_midi` turns a work into a one-instrument piano MIDI (GM program 0) with a seeded
touch: chorales get a tempo and a dynamic level, every note a little velocity jitter.
"""

from __future__ import annotations

import io
import warnings
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import pretty_midi

from neuro_codec.data.midi_gen import without_overlaps
from neuro_codec.errors import DataError

Kind = Literal["piano", "chorale"]

# Corpus folders with two-part scores that are not piano music: music21's test files and
# exercises, medieval vocal duets (named as placeholder parts) and folk tune books.
_NOT_PIANO_FOLDERS = ("demos", "theoryExercises", "trecento", "airdsAirs")
_PLACEHOLDER_PART_NAMES = ("", "MusicXML Part")
CHORALE_TEMPO_QPM = (66.0, 92.0)  # chorales carry no tempo: each draws one from this range
CHORALE_VELOCITY = (52, 100)  # and an overall dynamic level (MIDI velocity) from this range
VELOCITY_JITTER = 6  # ± per note, uniform integers
# music21 maps dynamics to velocities up to 127; a player rarely goes past about 110.
_VELOCITY_RANGE = (24, 108)


@dataclass(frozen=True)
class CorpusWork:
    """One piece of music21's core corpus that the built-in dataset can use."""

    piece_id: str  # dataset id: "piano-<path>" or "chorale-<bwv>", filesystem-safe
    corpus_path: str  # music21 core-corpus path, e.g. "joplin/maple_leaf_rag.mxl"
    kind: Kind
    quarter_length: float  # length of the score in quarter notes, from music21's metadata
    tempo_qpm: float  # the score's first metronome mark, 120 where there is none


@lru_cache(maxsize=1)
def piano_works() -> tuple[CorpusWork, ...]:
    """Solo piano pieces of the core corpus, sorted by corpus path (cached per process).

    Found by rule rather than by a fixed list: scores with two parts (the two staves of a
    keyboard score) whose every part is a keyboard instrument, is named "Piano", or has only
    a placeholder name, outside the folders of `_NOT_PIANO_FOLDERS`. Each candidate is
    parsed once to check its parts (about 3 s for the ~15 two-part scores).
    """
    from music21 import corpus, instrument

    bundle = corpus.corpora.CoreCorpus().metadataBundle
    works = []
    for entry in bundle.search(numberOfParts=2):
        path = str(entry.sourcePath)
        if path.split("/")[0] in _NOT_PIANO_FOLDERS or entry.number is not None:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                score = corpus.parse(path)
        except Exception:  # music21 raises many types on a bad file; such a file is not used
            continue
        if all(_is_keyboard(p, instrument) for p in score.parts):
            marks = score.metronomeMarkBoundaries()
            tempo = marks[0][2].getQuarterBPM() if marks else None
            works.append(CorpusWork(
                piece_id="piano-" + _stem(path).replace("/", "-"),
                corpus_path=path, kind="piano", quarter_length=float(score.highestTime),
                tempo_qpm=float(tempo) if tempo else 120.0,
            ))
    return tuple(sorted(works, key=lambda w: w.corpus_path))


@lru_cache(maxsize=1)
def bach_chorales() -> tuple[CorpusWork, ...]:
    """The Bach chorales of music21's chorale iterator (Riemenschneider order, duplicates
    removed), with their lengths from the corpus metadata (no parsing; cached per process)."""
    from music21 import corpus

    bundle = corpus.corpora.CoreCorpus().metadataBundle
    lengths = {str(e.sourcePath): float(e.metadata.quarterLength)
               for e in bundle.search("bach", "composer")}
    works, seen = [], set()
    for name in corpus.chorales.Iterator(returnType="filename"):
        if name in seen:
            continue
        seen.add(name)
        path = name if name.endswith(".mxl") else name + ".mxl"
        works.append(CorpusWork(
            piece_id="chorale-" + _stem(path).split("/")[-1], corpus_path=path, kind="chorale",
            quarter_length=lengths.get(path, 64.0), tempo_qpm=120.0,
        ))
    return tuple(works)


def chorale_tempo_qpm(work: CorpusWork, seed: int) -> float:
    """The tempo a chorale is played at: seeded, in `CHORALE_TEMPO_QPM`."""
    lo, hi = CHORALE_TEMPO_QPM
    return float(_rng(work, seed).uniform(lo, hi))


def estimated_duration_s(work: CorpusWork, seed: int) -> float:
    """Length of the rendered piece from the metadata alone (repeats not counted)."""
    qpm = chorale_tempo_qpm(work, seed) if work.kind == "chorale" else work.tempo_qpm
    return work.quarter_length * 60.0 / qpm


def corpus_midi(work: CorpusWork, seed: int) -> pretty_midi.PrettyMIDI:
    """The work as a one-instrument piano MIDI.

    music21 writes the score (repeats expanded, dynamics as velocities); then all parts are
    merged into one piano (GM program 0), notes doubled on one key are merged, velocities
    are mapped from 1..127 into 24..108 and jittered by ±6. A chorale is stretched from the
    120 qpm music21 gives it to `chorale_tempo_qpm(work, seed)` and its velocities are set
    around a seeded level in `CHORALE_VELOCITY`.

    Raises:
        DataError: music21 cannot parse or translate the score, or it has no notes.
    """
    from music21 import corpus, midi

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = corpus.parse(work.corpus_path)
            data = midi.translate.streamToMidiFile(score).writestr()
        pm = pretty_midi.PrettyMIDI(io.BytesIO(data))
    except Exception as e:  # music21/mido raise many types on a bad score
        raise DataError(f"music21 cannot convert {work.corpus_path}: "
                        f"{type(e).__name__}: {e}") from None

    rng = _rng(work, seed)
    notes = [n for inst in pm.instruments if not inst.is_drum for n in inst.notes]
    if not notes:
        raise DataError(f"{work.corpus_path} has no notes")
    controls = [c for inst in pm.instruments if not inst.is_drum for c in inst.control_changes
                if c.number == 64]
    level = None
    if work.kind == "chorale":
        rng.uniform()  # the tempo draw (chorale_tempo_qpm), kept so the streams stay in step
        level = int(rng.integers(CHORALE_VELOCITY[0], CHORALE_VELOCITY[1] + 1))
    jitter = rng.integers(-VELOCITY_JITTER, VELOCITY_JITTER + 1, len(notes))
    lo, hi = _VELOCITY_RANGE
    for n, dv in zip(notes, jitter):
        v = level if level is not None else lo + (n.velocity - 1) * (hi - lo) / 126
        n.velocity = int(np.clip(round(v + int(dv)), 1, 127))

    piano = pretty_midi.Instrument(program=0, name="Piano")
    piano.notes = without_overlaps(notes)
    piano.control_changes = sorted(controls, key=lambda c: c.time)
    pm.instruments = [piano]
    if work.kind == "chorale":
        _, tempi = pm.get_tempo_changes()
        scale = float(tempi[0]) / chorale_tempo_qpm(work, seed) if len(tempi) == 1 else 1.0
        end = pm.get_end_time()
        pm.adjust_times(np.array([0.0, end]), np.array([0.0, end * scale]))
    return pm


def _is_keyboard(part, instrument_module) -> bool:
    inst = part.getInstrument(returnDefault=True)
    name = (part.partName or "").strip()
    if isinstance(inst, instrument_module.KeyboardInstrument) or "piano" in name.lower():
        return True
    return name in _PLACEHOLDER_PART_NAMES and type(inst) is instrument_module.Instrument


def _stem(path: str) -> str:
    """The corpus path without its extension ("bach/bwv153.1.mxl" -> "bach/bwv153.1")."""
    return path.rsplit(".", 1)[0]


def _rng(work: CorpusWork, seed: int) -> np.random.Generator:
    """The work's own random stream: the dataset seed and a checksum of the piece id."""
    return np.random.default_rng([seed, zlib.crc32(work.piece_id.encode())])
