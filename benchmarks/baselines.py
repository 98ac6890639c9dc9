"""Opus baselines on the test split: SI-SNR, mel distance and ViSQOL at 6 and 12 kbps.

    python -m benchmarks.baselines [--root DIR] [--data builtin|maestro] [--clips 8]
                                   [--seconds 5.94] [--bitrates 6 12] [--no-visqol]
                                   [--out out/benchmarks]

Each clip (22,050 Hz mono) goes through `opusenc --hard-cbr --bitrate K` and `opusdec` at
48 kHz, Opus' own rate, and is resampled back to 22,050 Hz. opusdec drops the encoder's
pre-skip and trims the end to the stream's granule position, so the decoded signal is
sample-aligned with the input (checked: the SI-SNR peaks at lag 0) and only needs cutting to
the input's length. Metrics are `neuro_codec.evaluation.metrics`' (the paper's definitions).

The table is kept in `--out/baselines.csv` and drawn in `--out/baselines.png`
(`neuro_codec.evaluation.quality_table`); rows are added or replaced by (codec, kbps), so later
codecs extend the same table. `--checkpoint CKPT ...` adds our trained models, coded through
the real `.snc` bitstream and decoded on the same clips (`neuro_codec.evaluation.evaluate`).
ViSQOL costs a few seconds per clip; the default is 16 clips of 2^17 samples (5.94 s), one per
test piece, taken in turn from each source.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from neuro_codec.data.audio import SAMPLE_RATE_HZ, bits_per_second, resample
from neuro_codec.data.excerpts import split_excerpts
from neuro_codec.errors import CodecError, DataError
from neuro_codec.evaluation.evaluate import model_row, nan_mean
from neuro_codec.evaluation.metrics import mel_distance, si_snr_db, visqol_score
from neuro_codec.evaluation.quality_table import TABLE_NAME, format_table, write_table

OPUS_RATE_HZ = 48_000


def opus_roundtrip(x: np.ndarray, kbps: float,
                   sample_rate_hz: int = SAMPLE_RATE_HZ) -> tuple[np.ndarray, int]:
    """Code `x` with Opus at a hard constant `kbps` and decode it.

    Returns:
        (decoded float32 [len(x)] at `sample_rate_hz`, size of the .opus file in bits).
    Raises:
        DataError: opus-tools is missing or a tool fails.
    """
    for tool in ("opusenc", "opusdec"):
        if shutil.which(tool) is None:
            raise DataError(f"{tool} is not installed: "
                            "apt-get install --no-install-recommends opus-tools")
    with tempfile.TemporaryDirectory(prefix="neuro_codec_opus_") as tmp:
        src, coded, dec = Path(tmp) / "in.wav", Path(tmp) / "x.opus", Path(tmp) / "out.wav"
        sf.write(str(src), np.asarray(x, dtype=np.float32), sample_rate_hz, subtype="FLOAT")
        for cmd in (["opusenc", "--quiet", "--hard-cbr", "--bitrate", f"{kbps:g}",
                     str(src), str(coded)],
                    ["opusdec", "--quiet", "--rate", str(OPUS_RATE_HZ), "--float",
                     str(coded), str(dec)]):
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise DataError(f"{cmd[0]} failed: {proc.stderr.strip()[-200:]}")
        y, rate = sf.read(str(dec), dtype="float32", always_2d=True)
        bits = coded.stat().st_size * 8
    y = resample(y.mean(axis=1), rate, sample_rate_hz)
    out = np.zeros(len(x), dtype=np.float32)
    out[:min(len(x), len(y))] = y[:len(x)]
    return out, bits


def evaluate_opus(clips: list[tuple[str, np.ndarray]], kbps: float, with_visqol: bool = True,
                  progress: bool = False) -> dict:
    """Mean metrics of Opus at `kbps` over `clips`: one table row."""
    scores: dict[str, list[float]] = {"si_snr_db": [], "mel_distance": [], "visqol": []}
    bits = samples = 0
    for _, x in tqdm(clips, desc=f"opus {kbps:g} kbps", disable=not progress):
        y, n_bits = opus_roundtrip(x, kbps)
        bits, samples = bits + n_bits, samples + len(x)
        scores["si_snr_db"].append(si_snr_db(y, x))
        scores["mel_distance"].append(mel_distance(y, x))
        if with_visqol:
            scores["visqol"].append(visqol_score(y, x))
    return {"codec": "opus", "kbps": float(kbps),
            **{k: nan_mean(v) for k, v in scores.items()},
            "file_kbps": bits_per_second(bits, samples) / 1e3, "clips": len(clips)}


# --- command line ----------------------------------------------------------------------------

def _steps_for(checkpoint: str, steps: Sequence[int]) -> list[int]:
    """The step counts worth a row: a model that no shipped refiner was trained on decodes
    the same at any count."""
    from neuro_codec.compression import load_model

    return sorted(set(steps)) if load_model(checkpoint).refiner is not None else [0]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default=None,
                   help="dataset folder (default $NEURO_CODEC_DATA, else data/builtin)")
    p.add_argument("--data", choices=["builtin", "maestro"], default="builtin",
                   help="dataset kind (default builtin)")
    p.add_argument("--split", choices=["train", "validation", "test"], default="test",
                   help="split to code (default test)")
    p.add_argument("--clips", type=int, default=16,
                   help="number of clips (default 16, from at least 8 pieces)")
    p.add_argument("--seconds", type=float, default=2**17 / SAMPLE_RATE_HZ,
                   help="clip length in seconds (default 5.944, i.e. 2^17 samples)")
    p.add_argument("--bitrates", type=float, nargs="+", default=[6.0, 12.0],
                   help="Opus bitrates in kbps (default 6 12)")
    p.add_argument("--no-visqol", action="store_true", help="skip ViSQOL (the slow metric)")
    p.add_argument("--checkpoint", nargs="*", default=[],
                   help="our trained checkpoints to add to the table, on the same clips")
    p.add_argument("--steps", type=int, nargs="+", default=[0],
                   help="steps of the shipped flow-matching refiner for --checkpoint rows of "
                        "the models it was trained on, one row each; 0 is the first stage "
                        "alone (default 0)")
    p.add_argument("--out", default="out/benchmarks",
                   help="folder of the CSV and PNG (default out/benchmarks)")
    args = p.parse_args(argv)
    if args.clips < 1 or args.seconds <= 0:
        p.error("--clips must be at least 1 and --seconds positive")
    try:
        clips = split_excerpts(args.root, args.clips, args.seconds, args.split, args.data)
        if not clips:
            raise DataError(f"no {args.split} piece is {args.seconds:g} s long")
        print(f"{len(clips)} clips of {args.seconds:g} s from the {args.split} split: "
              + ", ".join(name for name, _ in clips))
        rows = [evaluate_opus(clips, kbps, not args.no_visqol, progress=True)
                for kbps in args.bitrates]
        rows += [model_row(path, clips, steps=steps, with_visqol=not args.no_visqol,
                           progress=True)
                 for path in args.checkpoint for steps in _steps_for(path, args.steps)]
        table = write_table(rows, args.out)
    except CodecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(format_table(table))
    print(f"saved {Path(args.out) / (TABLE_NAME + '.csv')} and .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
