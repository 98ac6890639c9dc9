"""Audio input and output for the codec: 22,050 Hz mono float32, read and written with soundfile,
and the codec's clock: the sample rate, the hop, how a waveform is cut into frames, and the
bitrate of a number of bits over a number of samples.

torchaudio's own load/save need torchcodec, so files go through `soundfile`; resampling uses
`torchaudio.functional.resample` (windowed sinc). Other sample rates are resampled, several
channels are downmixed by averaging; each is said once on stderr. torch is imported where a
tensor or a resampling needs it, not here: the `.snc` code reads the clock from this module,
and `neuro-codec info`, `pack` and `unpack` run without torch.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import soundfile as sf

from neuro_codec.errors import AudioError
from neuro_codec.fileio import atomic_path

SAMPLE_RATE_HZ = 22_050  # every waveform the codec reads, codes and writes
HOP_SAMPLES = 512  # samples per event frame: one encoder step, 43.07 frames/s at 22,050 Hz
CLIP_SAMPLES = 2**17  # the paper's clip, 5.94 s: evaluation's clips, quality control's segments

_warned_rates: set[int] = set()
_warned_channels: set[int] = set()
_warned_loud: set[Path] = set()

if TYPE_CHECKING:
    import torch

Waveform = TypeVar("Waveform", "torch.Tensor", np.ndarray)


def n_frames(n_samples: int, hop: int = HOP_SAMPLES) -> int:
    """T = ⌈n_samples / hop⌉: the frames of a clip as the encoders cut it (`frame_audio`, the
    last frame zero-padded). A `.snc` or `.rvq` header must state exactly this T."""
    return -(-int(n_samples) // int(hop))


def frame_audio(x: Waveform, hop: int = HOP_SAMPLES) -> Waveform:
    """Cut a waveform into frames of `hop` samples, the tail zero-padded.

    Args:
        x: [B, samples] or [samples] waveform, a torch tensor or a numpy array.
        hop: samples per frame.
    Returns:
        [B, T, hop] or [T, hop] of the same kind, dtype and device as `x`, with
        T = max(1, n_frames(samples, hop)): an empty waveform makes one frame of zeros.
    """
    t = max(1, n_frames(x.shape[-1], hop))
    pad = t * hop - x.shape[-1]
    if isinstance(x, np.ndarray):
        x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, pad)])
    else:
        import torch

        x = torch.nn.functional.pad(x, (0, pad))
    return x.reshape(*x.shape[:-1], t, hop)


def bits_per_second(bits: int | float, n_samples: int,
                    sample_rate_hz: int = SAMPLE_RATE_HZ) -> float:
    """Bits per second of audio: `bits` describing `n_samples` samples at `sample_rate_hz`,
    bits · rate / samples (80 bits per 512-sample frame at 22,050 Hz: 3,445.3125 bps).

    Raises:
        ValueError: n_samples is not positive.
    """
    if n_samples <= 0:
        raise ValueError(f"n_samples must be positive, got {n_samples}")
    return bits * sample_rate_hz / n_samples


def resample(x: np.ndarray, orig_hz: int, new_hz: int) -> np.ndarray:
    """Resample a 1-D float signal with torchaudio's band-limited sinc interpolation."""
    if orig_hz == new_hz:
        return x.astype(np.float32, copy=False)
    # Imported here: the rest of the codec (framing, bitrates, file formats) needs no torch.
    import torch
    import torchaudio.functional as AF

    y = AF.resample(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), orig_hz, new_hz)
    return y.numpy()


def load_audio(path: str | os.PathLike, sample_rate_hz: int = SAMPLE_RATE_HZ,
               quiet: bool = False) -> np.ndarray:
    """Read an audio file as mono float32 at `sample_rate_hz`.

    Several channels are averaged and another sample rate is resampled; unless `quiet`, each
    is said once per process on stderr ("note: downmixing 2 channels to mono", "note:
    resampling 44100 Hz audio to 22050 Hz"), once per channel count or rate. Samples beyond
    full scale (|x| > 1, which a float file can hold) are coded as they are, and said once per
    file ("note: x.wav peaks at 40 (+32.0 dBFS), beyond full scale ±1; coded as it is").

    Returns:
        [samples] float32 array.
    Raises:
        AudioError: the file is missing, is not audio, holds no samples, or holds a NaN or
            infinite sample (it would code into events that mean nothing).
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
    _check_samples(data, rate, p, quiet)
    channels = data.shape[1]
    if channels > 1 and not quiet and channels not in _warned_channels:
        _warned_channels.add(channels)
        print(f"note: downmixing {channels} channels to mono", file=sys.stderr)
    x = data.mean(axis=1) if channels > 1 else data[:, 0]
    if rate != sample_rate_hz:
        if not quiet and rate not in _warned_rates:
            _warned_rates.add(rate)
            print(f"note: resampling {rate} Hz audio to {sample_rate_hz} Hz", file=sys.stderr)
        x = resample(x, rate, sample_rate_hz)
    return np.ascontiguousarray(x, dtype=np.float32)


def _check_samples(data: np.ndarray, rate: int, path: Path, quiet: bool) -> None:
    """Refuse NaN and infinite samples; say once per file when samples pass full scale.

    Args:
        data: [samples, channels] as read, before any downmix or resampling.
        rate: the file's sample rate in Hz (to say where the first bad sample is).
    """
    finite = np.isfinite(data)
    if not finite.all():
        first = int(np.flatnonzero(~finite.all(axis=1))[0])
        raise AudioError(
            f"{path} holds {int(np.isnan(data).sum())} NaN and {int(np.isinf(data).sum())} "
            f"infinite samples (the first at {first / rate:.3f} s); audio must be finite")
    peak = float(np.abs(data).max())
    if peak > 1.0 and not quiet and path not in _warned_loud:
        _warned_loud.add(path)
        print(f"note: {path} peaks at {peak:.4g} ({20 * np.log10(peak):+.1f} dBFS), beyond "
              f"full scale ±1; coded as it is", file=sys.stderr)


def save_audio(path: str | os.PathLike, x: np.ndarray,
               sample_rate_hz: int = SAMPLE_RATE_HZ) -> None:
    """Write mono float audio as 16-bit PCM WAV, atomically (temporary file, then rename)."""
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    with atomic_path(path, suffix=".wav") as tmp:
        sf.write(str(tmp), np.clip(x, -1.0, 1.0), sample_rate_hz, subtype="PCM_16", format="WAV")
