"""Tiny seeded encoders and inputs shared by the conversion, Lava and fixed-point tests."""

from __future__ import annotations

import numpy as np
import torch

from neuro_codec.encoder import EncoderConfig, SpikingEncoder


def tiny_encoder(cfg: EncoderConfig, seed: int = 0, bias_std: float = 0.3) -> SpikingEncoder:
    """A seeded encoder with random biases (so that the bias path is exercised), in eval mode."""
    torch.manual_seed(seed)
    enc = SpikingEncoder(cfg)
    with torch.no_grad():
        for fc in enc.fc:
            fc.bias.normal_(0.0, bias_std)
    return enc.eval()


def noise(n_samples: int, seed: int, std: float = 0.3) -> np.ndarray:
    """Gaussian noise clipped to [−1, 1], float64 (loud enough that every layer spikes)."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0.0, std, n_samples), -1, 1)
