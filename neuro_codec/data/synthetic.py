"""Seeded synthetic data for tests and benchmarks: decaying harmonic tones, and event matrices
shaped like a sparse encoder's.

Real training uses the rendered built-in piano data (`dataset.py`) or MAESTRO; the tones need
no rendering, so tests can train and resume in seconds (items match `ClipDataset`'s). The
bursty event matrices stand in for real events where a test or benchmark needs many of them.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import Dataset

from neuro_codec.data.audio import HOP_SAMPLES, SAMPLE_RATE_HZ


class SyntheticTones(Dataset):
    """`n_clips` clips of `clip_samples` samples, each a few struck harmonic notes."""

    def __init__(self, n_clips: int = 8, clip_samples: int = 2**13, seed: int = 0):
        self.clip_samples = clip_samples
        rng = np.random.default_rng(seed)
        t = np.arange(clip_samples) / SAMPLE_RATE_HZ
        n_frames = clip_samples // HOP_SAMPLES
        self.items = []
        for i in range(n_clips):
            x = np.zeros(clip_samples)
            onsets = np.zeros((128, n_frames), dtype=np.float32)
            for _ in range(rng.integers(1, 4)):
                pitch = int(rng.integers(40, 90))
                start = int(rng.integers(0, max(1, clip_samples // 2)))
                f0 = 440.0 * 2 ** ((pitch - 69) / 12)
                env = np.where(t >= start / SAMPLE_RATE_HZ,
                               np.exp(-(t - start / SAMPLE_RATE_HZ) * 3.0), 0.0)
                tone = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in (1, 2, 3))
                x += rng.uniform(0.1, 0.3) * env * tone
                onsets[pitch, start // HOP_SAMPLES] = 1.0
            self.items.append({"audio": torch.from_numpy(x.astype(np.float32)),
                               "onsets": torch.from_numpy(onsets), "piece_id": f"tone-{i}",
                               "start": 0})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def bursty_event_matrix(n_units: int, n_frames: int, rate: float, seed: int = 0,
                        notes_per_frame: float = 0.12, burst_frames: float = 2.0) -> np.ndarray:
    """A synthetic event matrix like a sparse encoder's: bursty and unit-selective.

    Notes arrive as a Poisson process (pitch uniform over the piano's MIDI 21–108); unit n
    answers a note of pitch m with probability g_n·exp(−(m − μ_n)²/2σ_n²) by a burst of
    geometric length (mean `burst_frames`, at most 8); each unit also fires at its own
    log-normal background rate. The note rate is scaled (bisection) to hit `rate`.

    Args:
        n_units, n_frames: N, T.
        rate: target event rate S/(N·T), in (0, 0.5].
        seed: seeds everything; the same arguments give the same matrix.
    Returns:
        [N, T] uint8 matrix of 0/1 whose rate is within about 2 % of `rate`.
    """
    rng = np.random.default_rng(seed)
    pref = rng.uniform(21, 108, n_units)  # μ_n, MIDI pitch
    width = rng.uniform(2, 8, n_units)  # σ_n, semitones
    gain = rng.uniform(0.3, 1.0, n_units)  # g_n
    background = rng.lognormal(0.0, 1.0, n_units)
    background /= background.mean()

    def sample(scale: float) -> np.ndarray:
        r = np.random.default_rng(seed + 1)  # same draws for every scale: rate is monotone
        onset = np.repeat(np.arange(n_frames), r.poisson(notes_per_frame * scale, n_frames))
        pitch = r.integers(21, 109, onset.size)
        answer = gain * np.exp(-0.5 * ((pitch[:, None] - pref) / width) ** 2)
        note, unit = np.nonzero(r.random(answer.shape) < answer)
        length = np.minimum(r.geometric(1.0 / burst_frames, note.size), 8)
        event = np.repeat(np.arange(note.size), length)
        offset = np.arange(event.size) - np.repeat(np.cumsum(length) - length, length)
        times, units = onset[note][event] + offset, unit[event]
        keep = times < n_frames
        z = np.zeros((n_units, n_frames), dtype=np.uint8)
        z[units[keep], times[keep]] = 1
        z |= r.random((n_units, n_frames)) < 0.15 * rate * background[:, None]
        return z

    lo, hi = 1e-3, 1e3
    for _ in range(16):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if sample(mid).mean() < rate else (lo, mid)
    return sample(math.sqrt(lo * hi))
