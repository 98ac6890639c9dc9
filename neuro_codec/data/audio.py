"""Audio input and output for the codec: 22,050 Hz mono float32, read and written with soundfile.

torchaudio's own load/save need torchcodec, so files go through `soundfile`; resampling uses
`torchaudio.functional.resample` (windowed sinc). Other sample rates are resampled (said once
on stderr), several channels are downmixed by averaging.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from neuro_codec.errors import AudioError
from neuro_codec.fileio import atomic_path

SAMPLE_RATE_HZ = 22_050
HOP_SAMPLES = 512

_warned_rates: set[int] = set()


def resample(x: np.ndarray, orig_hz: int, new_hz: int) -> np.ndarray:
    """Resample a 1-D float signal with torchaudio's band-limited sinc interpolation."""
    if orig_hz == new_hz:
        return x.astype(np.float32, copy=False)
    y = AF.resample(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), orig_hz, new_hz)
    return y.numpy()


def load_audio(path: str | os.PathLike, sample_rate_hz: int = SAMPLE_RATE_HZ,
               quiet: bool = False) -> np.ndarray:
    """Read an audio file as mono float32 at `sample_rate_hz`.

    Returns:
        [samples] float32 array.
    Raises:
        AudioError: the file is missing, is not audio, or holds no samples.
    """
    p = Path(path)
    if not p.is_file():
        raise AudioError(f"audio file not found: {p}")
    try:
        data, rate = sf.read(str(p), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
        raise AudioError(f"{p} is not a readable audio file ({e})") from None
    if data.size == 0:
        raise AudioError(f"{p} holds no audio samples")
    x = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if rate != sample_rate_hz:
        if not quiet and rate not in _warned_rates:
            _warned_rates.add(rate)
            print(f"note: resampling {rate} Hz audio to {sample_rate_hz} Hz", file=sys.stderr)
        x = resample(x, rate, sample_rate_hz)
    return np.ascontiguousarray(x, dtype=np.float32)


def save_audio(path: str | os.PathLike, x: np.ndarray,
               sample_rate_hz: int = SAMPLE_RATE_HZ) -> None:
    """Write mono float audio as 16-bit PCM WAV, atomically (temporary file, then rename)."""
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    with atomic_path(path, suffix=".wav") as tmp:
        sf.write(str(tmp), np.clip(x, -1.0, 1.0), sample_rate_hz, subtype="PCM_16", format="WAV")
