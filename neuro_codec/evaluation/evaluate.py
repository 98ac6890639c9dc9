"""Evaluation: encode → file → decode on clips of a split, with rate and quality per clip.

Rates are exact: the payload bits of the file the encoder writes (`.snc`, cheapest format, or
`.rvq`) and
the whole file's bits, per second of audio. Quality: SI-SNR, mel distance and (optionally)
ViSQOL, from `metrics.py`. Results are rows (dicts), summarised by their mean.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from neuro_codec import compression
from neuro_codec.compression import Encoded, LoadedModel, QualityTarget
from neuro_codec.data.audio import SAMPLE_RATE_HZ, bits_per_second
from neuro_codec.evaluation.metrics import quality
from neuro_codec.model.presets import ModelKind


def evaluate_clips(model: LoadedModel, clips: list[tuple[str, np.ndarray]],
                   steps: int | None = None, with_visqol: bool = True, seed: int = 0,
                   progress: bool = False, mu: int | None = None,
                   target: QualityTarget | None = None,
                   keep: Callable[[str, np.ndarray, Encoded], None] | None = None,
                   codebooks: int | None = None) -> list[dict]:
    """Per clip: kbps (payload and file), event rate, SI-SNR, mel distance, ViSQOL, the
    quiet-bin and silence measures (`metrics.quality`), μ, and the coder's speeds (× real
    time; the decoder on the codec's device).

    Each clip goes through `compression.encode` → file bytes → `compression.decode`, exactly what
    `neuro-codec encode` and `decode` do (`mu` / `target`: μ-SPARSE's level or quality
    target; `codebooks`: RVQ's first K codebooks, None for all). `keep`, if given, is called
    with (clip name, decoded waveform, the coded file) of every clip: what was scored, for the
    listening page (`decoded_clips.py`).
    """
    rows = []
    for name, x in tqdm(clips, disable=not progress, desc=f"eval {model.kind.value}"):
        t0 = time.perf_counter()
        coded = compression.encode(model, x, mu=mu, target=target, codebooks=codebooks)
        encode_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        x_hat, header = compression.decode(model, coded.data, steps=steps, seed=seed)
        decode_s = time.perf_counter() - t0
        if keep is not None:
            keep(name, x_hat, coded)
        seconds = x.size / SAMPLE_RATE_HZ
        fmt = getattr(header, "format", None)
        rows.append({
            "clip": name, "format": ModelKind.RVQ.value if fmt is None else fmt.value,
            "payload_kbps": bits_per_second(header.payload_bits, x.size) / 1e3,
            "file_kbps": bits_per_second(8 * len(coded.data), x.size) / 1e3,
            "event_rate": float("nan") if fmt is None else float(coded.z.mean()),
            "mu": float(np.mean(coded.mu)) if coded.mu else float("nan"),
            **quality(x_hat, x, with_visqol),
            "encode_x_realtime": seconds / encode_s, "decode_x_realtime": seconds / decode_s,
        })
    return rows


def nan_mean(values: Iterable[float]) -> float:
    """Mean of the values that are not NaN; NaN when none is.

    NaN marks what a clip or codec does not have (ViSQOL skipped, the event rate of RVQ or
    Opus, μ of a level-free model, a silence measure on a clip without silence): a mean over
    the clips that have it, not a NaN that hides the rest.
    """
    v = np.asarray(list(values), dtype=np.float64)
    v = v[~np.isnan(v)]
    return float(v.mean()) if v.size else float("nan")


def nan_sd(values: Iterable[float]) -> float:
    """Sample standard deviation (ddof = 1) of the values that are not NaN; NaN below two."""
    v = np.asarray(list(values), dtype=np.float64)
    v = v[~np.isnan(v)]
    return float(v.std(ddof=1)) if v.size > 1 else float("nan")


def summarize(rows: list[dict], keys: Sequence[str] | None = None,
              with_sd: bool = False) -> dict[str, float]:
    """Per column, the mean over the rows (`nan_mean`), and with `with_sd` its `<key>_sd`.

    Args:
        rows: per-clip rows of `evaluate_clips` (or any dicts with the same keys).
        keys: the columns (default: every column whose first value is a number).
    """
    if keys is None:
        keys = [k for k in rows[0] if isinstance(rows[0][k], (int, float))]
    out = {}
    for k in keys:
        out[k] = nan_mean(r[k] for r in rows)
        if with_sd:
            out[k + "_sd"] = nan_sd(r[k] for r in rows)
    return out


def table_row(kind: ModelKind | str, rows: list[dict], steps: int | None = None) -> dict:
    """The shared rate–quality table's row (`quality_table`) for per-clip `rows` of a model
    of `kind`."""
    mean = summarize(rows)
    kind = ModelKind(kind)
    label = (kind.value if kind is ModelKind.RVQ else f"spiking-{kind.value}") + (
        "" if steps is None else " (first stage)" if steps == 0
        else f" (+ refiner, {steps} steps)")
    return {"codec": label, "kbps": round(mean["payload_kbps"], 3),
            "si_snr_db": mean["si_snr_db"], "mel_distance": mean["mel_distance"],
            "visqol": mean["visqol"], "file_kbps": mean["file_kbps"], "clips": len(rows),
            "decode_x_realtime": mean["decode_x_realtime"]}


def model_row(checkpoint: str | Path, clips: list[tuple[str, np.ndarray]],
              steps: int | None = None, with_visqol: bool = True,
              progress: bool = False) -> dict:
    """Evaluate a checkpoint on `clips` (GPU if present) and return its table row; `steps`
    refiner steps (None: the model's default)."""
    model = compression.load_model(checkpoint, "cuda" if torch.cuda.is_available() else "cpu")
    steps = model.effective_steps(steps)
    rows = evaluate_clips(model, clips, steps=steps, with_visqol=with_visqol,
                          progress=progress)
    return table_row(model.kind, rows, steps)
