"""Datasets: the built-in rendered piano set (plan, render, manifest) and training clips.

The built-in set mixes procedural pieces (`midi_gen.py`) and real ones from music21's corpus
(`corpus.py`), played on a drawn piano (`pianos.py`) under drawn recording conditions
(`acoustics.py`), rendered by `render.py` into `<root>/wav/` with their MIDI in `<root>/midi/`
and listed in `<root>/manifest.csv`. `ClipDataset` cuts any manifest (built-in or MAESTRO,
`maestro.py`) into fixed-length clips with their onset rolls. docs/data.md has the rules.
"""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import pretty_midi
import soundfile as sf
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from neuro_codec.data import corpus, midi_gen, render
from neuro_codec.data.acoustics import CLEAN, Acoustics, draw_acoustics
from neuro_codec.data.audio import HOP_SAMPLES, SAMPLE_RATE_HZ
from neuro_codec.data.corpus import CorpusWork
from neuro_codec.data.pianos import (
    CANONICAL_PIANO,
    PIANOS,
    TRAINING_PIANO_WEIGHTS,
    get_piano,
)
from neuro_codec.data.pieces import SPLITS, Piece, Split
from neuro_codec.errors import DataError
from neuro_codec.fileio import atomic_path, write_bytes_atomic

N_PITCHES = 128
DataKind = Literal["builtin", "maestro"]

DATA_ENV = "NEURO_CODEC_DATA"  # overrides the default root of the built-in set
DEFAULT_ROOT = Path("data/builtin")
DEFAULT_MINUTES = 180.0  # ≈ 144 min of training audio: the 80 % train share of every source
DEFAULT_SEED = 0
DEFAULT_WORKERS = 2
MANIFEST_NAME = "manifest.csv"
BUILD_NAME = "build.json"  # the arguments the manifest was built with (the cache key)
# Bump when a change to the generator or renderer invalidates old data. 2: many pianos, drawn
# recording conditions, and a generator with rests, pauses and fade-outs; 3: the noise floor
# kept 50 dB below the peak, and in 40 % of the pieces instead of 70 %; 4: half the pieces
# recorded clean.
BUILD_FORMAT = 5
MANIFEST_COLUMNS = ("piece_id", "source", "split", "duration_s", "wav_path", "midi_path",
                    "piano", "acoustics")
_CONDITIONS_STREAM = 3  # the seed stream of the per-piece piano and acoustics draws
SOURCE_GENERATED = "generated"
SOURCE_PIANO = "music21-piano"
SOURCE_CHORALE = "music21-chorale"


@dataclass(frozen=True)
class PieceSpec:
    """A planned piece of the built-in set, before rendering."""

    piece_id: str
    source: str
    split: str
    est_duration_s: float  # expected length (the generator's target, or from the score)
    gen_seed: int | None = None  # seed of `midi_gen.generate_piece` (generated pieces)
    work: CorpusWork | None = None  # the music21 score (corpus pieces)
    piano: str = CANONICAL_PIANO  # `pianos.PIANOS` key
    acoustics: Acoustics = CLEAN  # recording conditions


def draw_conditions(piece_id: str, split: str, seed: int) -> tuple[str, Acoustics]:
    """The piano and recording conditions of a piece: a pure function of (seed, piece id).

    Training and validation pieces draw a piano from `TRAINING_PIANO_WEIGHTS` (never the
    held-out piano) and conditions from `draw_acoustics`. Test pieces are played as every
    piece was before: the canonical piano, no room or colouring, peak-normalised to −1 dBFS,
    so that the test split's scores stay comparable across corpus versions; the other
    pianos are measured on re-renders of the test split (`held_out.py`).
    """
    if split == "test":
        return CANONICAL_PIANO, CLEAN
    rng = np.random.default_rng([seed, _CONDITIONS_STREAM, zlib.crc32(piece_id.encode())])
    names = list(TRAINING_PIANO_WEIGHTS)
    weights = np.array([TRAINING_PIANO_WEIGHTS[n] for n in names])
    piano = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    return piano, draw_acoustics(rng)


def default_root() -> Path:
    """`$NEURO_CODEC_DATA` if set, else `data/builtin` relative to the current directory."""
    return Path(os.environ.get(DATA_ENV) or DEFAULT_ROOT)


def split_of_index(i: int) -> str:
    """Split of the i-th piece of one source's seeded order: 0 → test, 1 → validation,
    2–9 → train, then again every ten pieces (10 % / 10 % / 80 % by count)."""
    return ("test", "validation")[i % 10] if i % 10 < 2 else "train"


def plan_builtin(minutes: float = DEFAULT_MINUTES, seed: int = DEFAULT_SEED) -> list[PieceSpec]:
    """Choose the pieces of the built-in set and their splits.

    Half of `minutes` is music21 pieces, half generated ones (by estimated length; rendered
    lengths differ a little). Each source has an order fixed by `seed` (a shuffle of the
    corpus works; generator seeds drawn from `seed` and the index) and a piece's split
    depends only on its index in that order (`split_of_index`), so a larger `minutes` keeps
    every piece of a smaller one in the same split. Corpus pieces alternate solo piano and
    chorale while piano pieces last. Each half is a prefix of its order, long enough to
    fill its budget and, however small the budget, to hold a test and a validation piece
    from the corpus and a training piece from the generator.

    Raises:
        ValueError: `minutes` not positive or `seed` negative.
    """
    if not minutes > 0:
        raise ValueError(f"minutes: {minutes}; need a positive number")
    if seed < 0:
        raise ValueError(f"seed: {seed}; need a non-negative integer")
    half_s = minutes * 60.0 / 2

    def order(works, stream):
        perm = np.random.default_rng([seed, stream]).permutation(len(works))
        return [works[i] for i in perm]

    source = {"piano": SOURCE_PIANO, "chorale": SOURCE_CHORALE}
    lists = []
    for stream, works in enumerate((corpus.piano_works(), corpus.bach_chorales()), start=1):
        lists.append([PieceSpec(w.piece_id, source[w.kind], split_of_index(i),
                                corpus.estimated_duration_s(w, seed), work=w)
                      for i, w in enumerate(order(works, stream))])
    piano, chorales = lists
    interleaved = [s for pair in zip(piano, chorales) for s in pair]
    n = min(len(piano), len(chorales))
    interleaved += piano[n:] + chorales[n:]

    chosen: list[PieceSpec] = []
    total = 0.0
    for spec in interleaved:
        if total >= half_s and {"test", "validation"} <= {s.split for s in chosen}:
            break
        chosen.append(spec)
        total += spec.est_duration_s

    total, i = 0.0, 0
    while total < half_s or "train" not in {s.split for s in chosen}:
        gen_seed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
        spec = PieceSpec(f"gen-{i:04d}", SOURCE_GENERATED, split_of_index(i),
                         midi_gen.target_duration_s(gen_seed), gen_seed=gen_seed)
        chosen.append(spec)
        total += spec.est_duration_s
        i += 1
    return [replace(s, **dict(zip(("piano", "acoustics"),
                                  draw_conditions(s.piece_id, s.split, seed))))
            for s in chosen]


def ensure_builtin(root: str | os.PathLike | None = None, minutes: float = DEFAULT_MINUTES,
                   seed: int = DEFAULT_SEED, progress: bool = False,
                   workers: int = DEFAULT_WORKERS) -> list[Piece]:
    """Render the built-in dataset into `root` unless it is already there; return its pieces.

    Cached and idempotent: if `root/build.json` records the same `minutes` and `seed` and
    every file of the manifest exists, nothing is planned or rendered (well under a second).
    Otherwise the plan is made and only pieces that are missing or stale are rendered, in
    `workers` processes. A piece is current when its WAV, its MIDI and its stamp
    (`wav/<id>.json`: data format, seed, piano, recording conditions, source) exist and the
    stamp matches the plan, so a piece whose piano or room changed is rendered again even
    though its WAV exists. Each file is written atomically and the stamp last, so an
    interrupted run resumes where it stopped. music21 scores that fail to convert are skipped
    and counted.

    Args:
        root: dataset folder; `default_root()` if None.
        minutes: total size, split half corpus, half generated (`plan_builtin`).
        seed: fixes the generated pieces, the order of the corpus and so the splits.
        progress: show a tqdm bar.
        workers: rendering processes (1 renders in this process).
    Returns:
        the manifest's pieces.
    Raises:
        DataError: fluidsynth or the soundfont is missing, or a render fails.
    """
    root = Path(root) if root is not None else default_root()
    stamp = {"format": BUILD_FORMAT, "minutes": float(minutes), "seed": int(seed)}
    if _is_built(root, stamp):
        return load_manifest(root)
    for piano in PIANOS.values():  # fail before the slow planning
        if piano.name == CANONICAL_PIANO or piano.name in TRAINING_PIANO_WEIGHTS:
            piano.check()

    specs = plan_builtin(minutes, seed)
    todo = [s for s in specs if not _is_current(root, s, seed)]
    skipped: dict[str, str] = {}
    jobs = [(s, str(_midi(root, s.piece_id)), str(_wav(root, s.piece_id)), seed) for s in todo]
    bar = tqdm(total=len(jobs), desc="render", unit="piece", disable=not progress)
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            _record(_build_piece(*job), skipped, bar)
    else:
        # spawn, not fork: the parent may hold torch's thread pools, which fork can deadlock.
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = [pool.submit(_build_piece, *job) for job in jobs]
            for fut in as_completed(futures):
                _record(fut.result(), skipped, bar)
    bar.close()
    if skipped and progress:
        print(f"skipped {len(skipped)} music21 score(s) that failed to convert: "
              + ", ".join(sorted(skipped)))

    pieces = []
    for s in specs:
        if s.piece_id in skipped:
            continue
        info = sf.info(str(_wav(root, s.piece_id)))
        pieces.append(Piece(s.piece_id, s.source, s.split, info.frames / info.samplerate,
                            _wav(root, s.piece_id), _midi(root, s.piece_id), s.piano,
                            s.acoustics.to_json()))
    write_manifest(root, pieces)
    write_bytes_atomic(root / BUILD_NAME, json.dumps(
        {**stamp, "pieces": len(pieces), "skipped": sorted(skipped)}, indent=1).encode())
    return load_manifest(root)


def write_manifest(root: str | os.PathLike, pieces: list[Piece]) -> None:
    """Write `root/manifest.csv` (paths relative to `root`), sorted by split then id."""
    root = Path(root)
    rows = sorted(pieces, key=lambda p: (SPLITS.index(p.split), p.id))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(MANIFEST_COLUMNS)
    for p in rows:
        w.writerow([p.id, p.source, p.split, f"{p.duration_s:.3f}",
                    Path(p.wav_path).relative_to(root).as_posix(),
                    Path(p.midi_path).relative_to(root).as_posix(), p.piano, p.acoustics])
    write_bytes_atomic(root / MANIFEST_NAME, buf.getvalue().encode())


def load_manifest(root: str | os.PathLike | None = None,
                  data: DataKind = "builtin") -> list[Piece]:
    """The pieces of a dataset, with absolute paths.

    Args:
        root: the dataset folder (`default_root()` if None, built-in only).
        data: "builtin" reads `root/manifest.csv`; "maestro" reads `root/maestro-v3.0.0.csv`
            and points `wav_path` at the 22,050 Hz mono cache (`maestro.load_maestro`).
    Raises:
        DataError: no manifest, or a malformed one.
    """
    if data == "maestro":
        from neuro_codec.data import maestro

        if root is None:
            raise DataError("MAESTRO needs --root: the folder holding maestro-v3.0.0.csv")
        return maestro.load_maestro(root)
    if data != "builtin":
        raise ValueError(f"data: {data!r}; allowed: 'builtin', 'maestro'")
    root = Path(root) if root is not None else default_root()
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise DataError(f"no built-in dataset at {root} (missing {MANIFEST_NAME}): "
                        f"run `neuro-codec data render --root {root}`")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != MANIFEST_COLUMNS:
            raise DataError(f"{path}: columns {reader.fieldnames}, expected "
                            f"{list(MANIFEST_COLUMNS)}")
        try:
            return [Piece(r["piece_id"], r["source"], r["split"], float(r["duration_s"]),
                          root / r["wav_path"], root / r["midi_path"], r["piano"],
                          r["acoustics"]) for r in reader]
        except (TypeError, ValueError) as e:
            raise DataError(f"{path}: malformed row ({e})") from None


# --- onsets ----------------------------------------------------------------------------------

@lru_cache(maxsize=4096)
def _midi_onsets(path: str, mtime_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """(onset times in seconds, pitches) of every note of a MIDI file, drums excluded."""
    try:
        pm = pretty_midi.PrettyMIDI(path)
    except Exception as e:  # pretty_midi/mido raise many types on a bad file
        raise DataError(f"{path} is not a readable MIDI file ({type(e).__name__}: {e})") from None
    notes = [n for inst in pm.instruments if not inst.is_drum for n in inst.notes]
    return (np.array([n.start for n in notes], dtype=np.float64),
            np.array([n.pitch for n in notes], dtype=np.int64))


def onset_roll(midi_path: str | os.PathLike, start_sample: int, n_frames: int,
               hop_samples: int = HOP_SAMPLES,
               sample_rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Note onsets of a MIDI file on the frame grid of the audio that starts at `start_sample`.

    A note with onset time t (seconds) falls in frame f = (round(t · sr) − start) // hop:
    the frame whose `hop_samples` samples hold its first sample. Every onset inside the
    window counts, also of notes that end after it (the paper's analysis kept only notes
    that start and end inside the clip).

    Returns:
        [128, n_frames] float32, 1.0 at (pitch, onset frame), 0.0 elsewhere.
    Raises:
        DataError: the MIDI file is missing or unreadable.
    """
    path = Path(midi_path)
    if not path.is_file():
        raise DataError(f"MIDI file not found: {path}")
    times, pitches = _midi_onsets(str(path), path.stat().st_mtime_ns)
    frames = (np.round(times * sample_rate_hz).astype(np.int64) - start_sample) // hop_samples
    keep = (frames >= 0) & (frames < n_frames)
    roll = np.zeros((N_PITCHES, n_frames), dtype=np.float32)
    roll[pitches[keep], frames[keep]] = 1.0
    return roll


# --- clips -----------------------------------------------------------------------------------

class ClipDataset(Dataset):
    """Fixed-length clips of one split, with their onset rolls.

    Clips are the non-overlapping windows [k·L, (k+1)·L) of each piece (L = `clip_samples`);
    the partial tail is dropped and pieces shorter than one clip are skipped. With
    `random_offset` each access shifts its window right by a random 0 ≤ δ < L (torch's RNG,
    so DataLoader workers draw differently), as far as the piece allows: training then sees
    every phase of the audio, while the number of clips stays fixed.

    Items: {"audio": float32 [L], "onsets": float32 [128, L // hop], "piece_id": str,
    "start": int (first sample of the clip in the piece)}.
    """

    def __init__(self, root: str | os.PathLike | None = None, split: Split = "train",
                 clip_samples: int = 2**17, hop_samples: int = HOP_SAMPLES,
                 data: DataKind = "builtin", random_offset: bool = False,
                 progress: bool = False) -> None:
        if split not in SPLITS:
            raise ValueError(f"split: {split!r}; allowed: {SPLITS}")
        if hop_samples <= 0:
            raise ValueError(f"hop_samples: {hop_samples}; need a positive integer")
        if clip_samples <= 0 or clip_samples % hop_samples:
            raise ValueError(f"clip_samples: {clip_samples}; need a positive multiple of "
                             f"hop_samples ({hop_samples})")
        self.clip_samples = clip_samples
        self.hop_samples = hop_samples
        self.random_offset = random_offset
        if root is None and data == "builtin":
            root = default_root()
        self.pieces = [p for p in load_manifest(root, data) if p.split == split]
        if data == "maestro":
            from neuro_codec.data import maestro

            maestro.prepare_audio(root, self.pieces, progress=progress)
        self._lengths = [self._length(p) for p in self.pieces]
        self._index = [(i, k * clip_samples) for i, n in enumerate(self._lengths)
                       for k in range(n // clip_samples)]
        if not self._index:
            raise DataError(f"the {split} split of {root} has no piece of at least "
                            f"{clip_samples} samples")

    @staticmethod
    def _length(piece: Piece) -> int:
        try:
            info = sf.info(str(piece.wav_path))
        except (sf.LibsndfileError, RuntimeError) as e:
            raise DataError(f"{piece.wav_path}: not readable audio ({e})") from None
        if info.samplerate != SAMPLE_RATE_HZ or info.channels != 1:
            raise DataError(f"{piece.wav_path}: {info.samplerate} Hz, {info.channels} "
                            f"channel(s); expected {SAMPLE_RATE_HZ} Hz mono")
        return info.frames

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, i: int) -> dict:
        piece_idx, start = self._index[i]
        piece = self.pieces[piece_idx]
        if self.random_offset:
            room = min(self.clip_samples - 1, self._lengths[piece_idx] - start - self.clip_samples)
            start += int(torch.randint(0, room + 1, ()).item())
        audio, _ = sf.read(str(piece.wav_path), start=start, frames=self.clip_samples,
                           dtype="float32", always_2d=False)
        onsets = onset_roll(piece.midi_path, start, self.clip_samples // self.hop_samples,
                            self.hop_samples, SAMPLE_RATE_HZ)
        return {"audio": torch.from_numpy(np.ascontiguousarray(audio)),
                "onsets": torch.from_numpy(onsets), "piece_id": piece.id, "start": start}


# --- building one piece (runs in the worker processes) ---------------------------------------

def _wav(root: Path, piece_id: str) -> Path:
    return root / "wav" / f"{piece_id}.wav"


def _midi(root: Path, piece_id: str) -> Path:
    return root / "midi" / f"{piece_id}.mid"


def _is_built(root: Path, stamp: dict) -> bool:
    try:
        built = json.loads((root / BUILD_NAME).read_text())
        pieces = load_manifest(root)
    except (OSError, ValueError, DataError):
        return False
    if {k: built.get(k) for k in stamp} != stamp:
        return False
    return all(p.wav_path.is_file() and p.midi_path.is_file() for p in pieces)


def _piece_stamp(spec: PieceSpec, seed: int) -> dict:
    """Everything a piece's MIDI and WAV are made from: the cache key of one piece."""
    return {"format": BUILD_FORMAT, "seed": int(seed), "gen_seed": spec.gen_seed,
            "work": None if spec.work is None else str(spec.work), "piano": spec.piano,
            "acoustics": spec.acoustics.to_json()}


def _stamp_path(wav_path: str | os.PathLike) -> Path:
    return Path(wav_path).with_suffix(".json")


def _is_current(root: Path, spec: PieceSpec, seed: int) -> bool:
    """The piece's MIDI and WAV exist and were made from this plan (`_piece_stamp`)."""
    wav = _wav(root, spec.piece_id)
    if not (wav.is_file() and _midi(root, spec.piece_id).is_file()):
        return False
    try:
        return json.loads(_stamp_path(wav).read_text()) == _piece_stamp(spec, seed)
    except (OSError, ValueError):
        return False


def _build_piece(spec: PieceSpec, midi_path: str, wav_path: str,
                 seed: int) -> tuple[str, str | None]:
    """Write the piece's MIDI, render it, then its stamp. Returns (id, reason if skipped)."""
    if spec.gen_seed is not None:
        pm = midi_gen.generate_piece(spec.gen_seed)
    else:
        try:
            pm = corpus.corpus_midi(spec.work, seed)
        except DataError as e:
            return spec.piece_id, str(e)
    with atomic_path(midi_path, suffix=".mid") as tmp:
        pm.write(str(tmp))
    render.render_midi(midi_path, wav_path, piano=get_piano(spec.piano),
                       acoustics=spec.acoustics)
    write_bytes_atomic(_stamp_path(wav_path), json.dumps(_piece_stamp(spec, seed)).encode())
    return spec.piece_id, None


def _record(result: tuple[str, str | None], skipped: dict[str, str], bar: tqdm) -> None:
    piece_id, reason = result
    if reason is not None:
        skipped[piece_id] = reason
    bar.update(1)
