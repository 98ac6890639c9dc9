"""The test split played by other pianos: what `benchmarks/generalization.py` scores.

The built-in test split is played on one piano (`pianos.CANONICAL_PIANO`). To measure what the
codec does on the pianos it trained on and on one it never heard, the test split's MIDI is
rendered again into `<root>/pianos/<variant>/`, a dataset folder of its own (same layout and
manifest, test split only), so that every tool that reads a dataset reads it:

- "seen": each test piece on one of the training pianos, in turn (`TRAINING_PIANOS`), clean;
- "held-out": every test piece on `pianos.HELD_OUT_PIANO`, clean.

Clean means no synthetic room, colouring or noise and a peak of −1 dBFS, as the canonical
test split: the piano is the only thing that changes.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Literal

import soundfile as sf
from tqdm import tqdm

from neuro_codec.data import dataset as ds
from neuro_codec.data.acoustics import CLEAN
from neuro_codec.data.pianos import HELD_OUT_PIANO, TRAINING_PIANOS, get_piano
from neuro_codec.data.pieces import Piece
from neuro_codec.data.render import render_midi
from neuro_codec.errors import DataError
from neuro_codec.fileio import atomic_path, write_bytes_atomic

Variant = Literal["seen", "held-out"]
VARIANTS: tuple[Variant, ...] = ("seen", "held-out")
_FORMAT = 2  # bump when a change to the rendering invalidates old variants


def variant_pianos(variant: Variant, n_pieces: int) -> list[str]:
    """The piano of each of `n_pieces` test pieces (in manifest order) in `variant`."""
    if variant == "seen":
        return [TRAINING_PIANOS[i % len(TRAINING_PIANOS)] for i in range(n_pieces)]
    if variant == "held-out":
        return [HELD_OUT_PIANO] * n_pieces
    raise ValueError(f"variant: {variant!r}; allowed: {VARIANTS}")


def variant_root(root: str | os.PathLike | None, variant: Variant) -> Path:
    """`<root>/pianos/<variant>`: the dataset folder of the variant."""
    base = Path(root) if root is not None else ds.default_root()
    return base / "pianos" / variant


def ensure_test_variant(root: str | os.PathLike | None, variant: Variant,
                        progress: bool = False) -> Path:
    """Render the test split of the built-in set at `root` on the variant's pianos, unless
    it is already there; return the variant's dataset folder.

    Cached as the built-in set is: `build.json` records the format, the pianos and the test
    pieces; only missing WAVs are rendered, each written atomically.

    Raises:
        DataError: no built-in set at `root`, its test split is empty, or a piano is missing.
    """
    pieces = [p for p in ds.load_manifest(root) if p.split == "test"]
    if not pieces:
        raise DataError(f"the built-in set at {root} has no test pieces")
    pianos = variant_pianos(variant, len(pieces))
    for name in sorted(set(pianos)):
        get_piano(name).check()
    out = variant_root(root, variant)
    stamp = {"format": _FORMAT, "variant": variant,
             "pieces": [[p.id, name] for p, name in zip(pieces, pianos)]}
    try:
        if json.loads((out / ds.BUILD_NAME).read_text()) == stamp and all(
                p.wav_path.is_file() for p in ds.load_manifest(out)):
            return out
    except (OSError, ValueError, DataError):
        pass
    done = []
    for piece, name in tqdm(list(zip(pieces, pianos)), desc=f"render {variant} pianos",
                            unit="piece", disable=not progress):
        midi = out / "midi" / f"{piece.id}.mid"
        wav = out / "wav" / f"{piece.id}.wav"
        if not midi.is_file():
            with atomic_path(midi, suffix=".mid") as tmp:
                shutil.copyfile(piece.midi_path, tmp)
        if not wav.is_file():
            render_midi(midi, wav, piano=get_piano(name), acoustics=CLEAN)
        info = sf.info(str(wav))
        done.append(Piece(piece.id, piece.source, "test", info.frames / info.samplerate, wav,
                          midi, name, CLEAN.to_json()))
    ds.write_manifest(out, done)
    write_bytes_atomic(out / ds.BUILD_NAME, json.dumps(stamp, indent=1).encode())
    return out
