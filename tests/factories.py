"""Tiny seeded encoders and inputs shared by the conversion, Lava and fixed-point tests, tiny
refiner files for the benchmarks' refined rows, and the marker of tests that render with
fluidsynth."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from neuro_codec.data import render
from neuro_codec.model.encoder import EncoderConfig, SpikingEncoder


def tiny_encoder(cfg: EncoderConfig, seed: int = 0, bias_std: float = 0.3) -> SpikingEncoder:
    """A seeded encoder with random biases (so that the bias path is exercised), in eval mode."""
    torch.manual_seed(seed)
    enc = SpikingEncoder(cfg)
    with torch.no_grad():
        for fc in enc.fc:
            fc.bias.normal_(0.0, bias_std)
    return enc.eval()


def identity_and_random_refiners(folder) -> tuple:
    """(identity.pt, random.pt) in `folder`: a tiny untrained end-point refiner, which is the
    identity (its rows must score as the first stage's), and the same with random output
    weights (its rows must not)."""
    from pathlib import Path

    from neuro_codec.model.refiner import BandSplitRefiner, RefinerConfig, RefinerFile

    folder = Path(folder)
    cfg = RefinerConfig(n_fft=256, stft_hop=128, channels=8, blocks=1, time_dim=8)
    net = BandSplitRefiner(cfg)
    RefinerFile(cfg, net.state_dict()).save(folder / "identity.pt")
    for lin in net.band_out:
        torch.nn.init.normal_(lin.weight, 0, 0.5)
    RefinerFile(cfg, net.state_dict()).save(folder / "random.pt")
    return folder / "identity.pt", folder / "random.pt"


def noise(n_samples: int, seed: int, std: float = 0.3) -> np.ndarray:
    """Gaussian noise clipped to [−1, 1], float64 (loud enough that every layer spikes)."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0.0, std, n_samples), -1, 1)


needs_fluidsynth = pytest.mark.skipif(
    shutil.which("fluidsynth") is None
    or not any(p.is_file() for p in render.SOUNDFONT_CANDIDATES),
    reason="fluidsynth and fluid-soundfont-gm are not installed",
)


def _pianos_missing() -> str:
    from neuro_codec.data.pianos import PIANOS
    from neuro_codec.errors import DataError

    for piano in PIANOS.values():
        try:
            piano.check()
        except DataError as e:
            return str(e)
    return ""


# Every piano of the catalogue (fluidsynth, timidity and their banks): scripts/setup.sh
# installs them, so CI runs these tests.
needs_pianos = pytest.mark.skipif(bool(_pianos_missing()), reason=_pianos_missing() or "-")


def peak_allocation(fn) -> tuple[int, BaseException | None]:
    """(peak bytes traced while running fn, the exception it raised or None): the readers'
    allocation bounds are asserted with it."""
    import tracemalloc

    tracemalloc.start()
    error = None
    try:
        fn()
    except BaseException as e:
        error = e
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, error
