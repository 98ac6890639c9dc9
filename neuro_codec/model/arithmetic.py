"""The event arithmetic of a model: float64 or Loihi fixed point, and the events it gives.

A checkpoint fine-tuned in Loihi fixed point has a decoder trained on fixed-point events, and
Lava's fixed_pt run gives exactly those; so the arithmetic is a property of the loaded model
(`Checkpoint.arithmetic`), used by every path that makes events (encode, eval, the Lava
simulation, the energy report, the benchmarks, the main job). A `--precision` flag only
overrides it.
"""

from __future__ import annotations

from enum import Enum

import numpy as np

from neuro_codec.model.encoder import SpikingEncoder


class Arithmetic(str, Enum):
    """How the spiking encoder computes: `FLOAT` (float64, equal to Lava's float models) or
    `FIXED` (Loihi 2's integer arithmetic, equal to Lava's fixed_pt models bit for bit)."""

    FLOAT = "float"
    FIXED = "fixed"


def encode_events(encoder: SpikingEncoder, x, arithmetic: Arithmetic | str = Arithmetic.FLOAT,
                  mu: int | None = None) -> np.ndarray:
    """z [N, T] uint8 for one waveform [samples] in `arithmetic` (at μ-SPARSE level `mu`)."""
    if Arithmetic(arithmetic) is Arithmetic.FIXED:
        from neuro_codec.model.fixed_point import simulate_fixed_point

        return simulate_fixed_point(encoder, x, mu=mu)[0][0].numpy().astype(np.uint8)
    return encoder.run_float64(x, mu=mu)[-1]
