"""The spectral transforms and distances that three layers share: the 7-scale mel
transforms (the training loss's and the mel distance's), the mel distance and SI-SNR (the
evaluation's measures, and what μ-SPARSE's quality control in `neuro_codec.compression`
targets). They live here, in the lowest layer that needs them (the loss), once.

- SI-SNR: torchmetrics' scale-invariant SDR on the waveform (the paper's "SI-SNR").
- Mel distance: mean L1 of log10(1 + mel magnitude) over 7 scales, windows 32…2048 samples,
  hop = window/4, 5…320 mel bands (the band count doubles with the window); docs/paper.md §6
  "Metrics".
- `frame_spectrum`, `hann`, `mel_filterbank`: the same STFT and mel filterbanks as the
  transforms, frame-major and cached, for the training loss (one STFT per window serves the
  mel and the complex STFT terms; no per-call window or filterbank).
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


@functools.cache
def hann(n_fft: int, device: str = "cpu") -> torch.Tensor:
    """The periodic Hann window of `n_fft` samples (torch.stft's and the transforms'), built
    once per size and device: the loss and the decoder asked for it on every call."""
    return torch.hann_window(n_fft, device=device)


@functools.cache
def mel_filterbank(n_fft: int, sample_rate_hz: int = SAMPLE_RATE_HZ,
                   device: str = "cpu") -> torch.Tensor:
    """[n_fft/2 + 1, bands] the mel transform of window `n_fft` (one of MEL_WINDOWS) applies to
    a magnitude spectrum: the very matrix of `mel_transforms`, so both give the same mels."""
    transform = mel_transforms(sample_rate_hz, device)[MEL_WINDOWS.index(n_fft)]
    return transform.mel_scale.fb


class _RealFFT(torch.autograd.Function):
    """torch.fft.rfft over the last axis with a half-size backward.

    For y = rfft(x) (length n), ∂L/∂x = n · irfft(h) with h = g but the bins 1 … n/2 − 1
    halved (irfft doubles them, and drops the imaginary parts of bins 0 and n/2, whose
    contribution to a real x is zero). torch's own backward pads g to n bins and runs a
    complex FFT, the loss's slowest step on a CPU.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.n = x.shape[-1]
        return torch.fft.rfft(x, dim=-1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        n = ctx.n
        h = grad.clone()
        h[..., 1:(n + 1) // 2] *= 0.5
        return torch.fft.irfft(h, n=n, dim=-1) * n


def frame_spectrum(x: torch.Tensor, n_fft: int) -> torch.Tensor:
    """[B, L] → complex [B, frames, n_fft/2 + 1]: torch.stft(x, n_fft, n_fft/4, hann,
    center=True, reflect padding) frame-major, the layout a filterbank matmul reads without a
    transpose. The same values as torch.stft's (equal in float32, tested); unfold's backward
    is a fold where torch.stft's as_strided backward scatters through an index_add."""
    pad = n_fft // 2
    padded = torch.nn.functional.pad(x[:, None], (pad, pad), mode="reflect")[:, 0]
    frames = padded.unfold(-1, n_fft, n_fft // 4)
    return _RealFFT.apply(frames * hann(n_fft, str(x.device)))


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
