"""The spectral transforms and distances that three layers share: the 7-scale mel
transforms (the training loss's and the mel distance's), the mel distance and SI-SNR (the
evaluation's measures, and what μ-SPARSE's quality control in `neuro_codec.compression`
targets). They live here, in the lowest layer that needs them (the loss), once.

- SI-SNR: torchmetrics' scale-invariant SDR on the waveform (the paper's "SI-SNR").
- Mel distance: mean L1 of log10(1 + mel magnitude) over 7 scales, windows 32…2048 samples,
  hop = window/4, 5…320 mel bands (the band count doubles with the window); docs/paper.md §6
  "Metrics".
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torchaudio.transforms as AT
from torchmetrics.functional.audio import scale_invariant_signal_distortion_ratio

from neuro_codec.data.audio import SAMPLE_RATE_HZ

MEL_WINDOWS = (32, 64, 128, 256, 512, 1024, 2048)
MEL_BANDS = (5, 10, 20, 40, 80, 160, 320)


def as_tensor(x) -> torch.Tensor:
    """A detached float32 CPU tensor of an array or tensor (the measures' common input)."""
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu()
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def aligned(estimate, reference) -> tuple[torch.Tensor, torch.Tensor]:
    """Both signals as tensors; a ValueError naming both shapes if they differ."""
    est, ref = as_tensor(estimate), as_tensor(reference)
    if est.shape != ref.shape:
        raise ValueError(f"estimate shape {tuple(est.shape)} differs from reference "
                         f"shape {tuple(ref.shape)}")
    return est, ref


def si_snr_db(estimate, reference) -> float:
    """Scale-invariant SNR in dB of `estimate` against `reference` (1-D, same length).

    SI-SNR = 10 log10(|αs|² / |αs − ŝ|²) with α = <ŝ, s>/|s|² (torchmetrics' SI-SDR, no mean
    removal, as the paper). Scaling `estimate` leaves it unchanged.
    """
    est, ref = aligned(estimate, reference)
    return float(scale_invariant_signal_distortion_ratio(est, ref))


@functools.cache
def mel_transforms(sample_rate_hz: int = SAMPLE_RATE_HZ,
                   device: str = "cpu") -> tuple[AT.MelSpectrogram, ...]:
    """The 7 mel magnitude spectrograms of the mel distance (also the training loss's)."""
    return tuple(
        AT.MelSpectrogram(
            sample_rate=sample_rate_hz, n_fft=w, win_length=w, hop_length=w // 4,
            n_mels=m, power=1.0, center=True, norm="slaney", mel_scale="slaney",
        ).to(device)
        for w, m in zip(MEL_WINDOWS, MEL_BANDS)
    )


def mel_distance(estimate, reference, sample_rate_hz: int = SAMPLE_RATE_HZ) -> float:
    """Multi-scale mel distance: mean over 7 scales of mean |log10(1+M(ŝ)) − log10(1+M(s))|.

    M is a mel magnitude spectrogram (power 1) with window w ∈ {32,…,2048}, hop w/4 and
    w·5/32 bands. Zero for identical signals; not scale-invariant (as the paper's MelMAE).
    """
    est, ref = aligned(estimate, reference)
    total = 0.0
    with torch.no_grad():
        for mel in mel_transforms(sample_rate_hz):
            total += float((torch.log10(1 + mel(est)) - torch.log10(1 + mel(ref))).abs().mean())
    return total / len(MEL_WINDOWS)
