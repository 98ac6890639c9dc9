"""A seeded synthetic dataset of decaying harmonic tones: for tests and smoke runs only.

Real training uses the rendered built-in piano data (`dataset.py`) or MAESTRO; this one needs
no rendering, so tests can train and resume in seconds. Items match `ClipDataset`'s.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from neuro_codec.audio import HOP_SAMPLES, SAMPLE_RATE_HZ


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
