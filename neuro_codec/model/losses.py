"""The first stage's reconstruction loss: multi-scale log-mel L1, complex STFT L1, waveform L1,
and (optionally) a silence term.

The mel scales are the evaluation's (`spectral.MEL_WINDOWS`, `MEL_BANDS`), so the loss optimises
what the mel distance measures. Spectral terms alone leave phase free (SI-SNR ≪ 0 dB); the
complex STFT and the waveform terms pin it down, and the waveform gradient also teaches the
encoder faster (docs/model.md, calibration runs h and j).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from neuro_codec.data.audio import SAMPLE_RATE_HZ
from neuro_codec.model.spectral import MEL_WINDOWS, mel_transforms

STFT_SIZES = (512, 1024, 2048)


@dataclass(frozen=True)
class LossConfig:
    """Weights of the reconstruction terms.

    Fields:
        mel_weight: multi-scale L1 of ln(max(mel, mel_floor)), averaged over the 7 scales.
        stft_weight: complex STFT L1 over n_fft 512/1024/2048 (hop n_fft/4), each normalised
            by the reference's mean magnitude.
        wave_weight: L1 on the waveform.
        mel_floor: clamp of the mel magnitude before the log.
        silence_weight: weight of `silence_loss` (0: off, the recipe's first training).
        silence_floor_dbfs: the level below which a silent window's output costs nothing.
    """

    mel_weight: float = 1.0
    stft_weight: float = 0.2
    wave_weight: float = 10.0
    mel_floor: float = 1e-5
    silence_weight: float = 0.0
    silence_floor_dbfs: float = -90.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> LossConfig:
        return cls(**d)


def mel_loss(estimate: torch.Tensor, reference: torch.Tensor, floor: float = 1e-5) -> torch.Tensor:
    """Mean over 7 scales of mean |ln max(M(ŝ), floor) − ln max(M(s), floor)|; [B, L] inputs."""
    total = estimate.new_zeros(())
    for mel in mel_transforms(SAMPLE_RATE_HZ, str(estimate.device)):
        total = total + (torch.log(mel(estimate).clamp(min=floor))
                         - torch.log(mel(reference).clamp(min=floor))).abs().mean()
    return total / len(MEL_WINDOWS)


def complex_stft_loss(estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Mean over n_fft ∈ {512, 1024, 2048} of mean|Ŝ − S| / mean|S|; [B, L] inputs."""
    total = estimate.new_zeros(())
    for n_fft in STFT_SIZES:
        window = torch.hann_window(n_fft, device=estimate.device)
        s_hat, s = (torch.stft(x, n_fft, n_fft // 4, window=window, return_complex=True)
                    for x in (estimate, reference))
        total = total + (s_hat - s).abs().mean() / (s.abs().mean() + 1e-8)
    return total / len(STFT_SIZES)


SILENT_WINDOW, SILENT_HOP = 1024, 512   # the windows of neuro_codec.evaluation.silence
SILENT_BELOW_DBFS = -60.0               # a reference window below this level is silent


def silence_loss(estimate: torch.Tensor, reference: torch.Tensor,
                 floor_dbfs: float = -90.0) -> torch.Tensor:
    """Mean over the reference's silent windows of ln(1 + P(ŝ)/P_floor); 0 without one.

    Windows of 1,024 samples, hop 512 (the evaluation's); a window is silent where the
    reference's mean square is below −60 dBFS (a full-scale square wave is 0 dBFS). The term
    is ≈ 0 while the output stays below `floor_dbfs` and grows as ln 10/10 per dB above it:
    a gradient in decibels, so a −70 dBFS hum is pushed as hard as a −50 dBFS click. [B, L]
    inputs.
    """
    def power(x):
        return x.unfold(-1, SILENT_WINDOW, SILENT_HOP).pow(2).mean(-1)

    silent = power(reference) < 10.0 ** (SILENT_BELOW_DBFS / 10.0)
    if not bool(silent.any()):
        return estimate.new_zeros(())
    floor = 10.0 ** (floor_dbfs / 10.0)
    return torch.log1p(power(estimate)[silent] / floor).mean()


def reconstruction_loss(estimate: torch.Tensor, reference: torch.Tensor,
                        cfg: LossConfig) -> dict[str, torch.Tensor]:
    """The weighted terms and their sum under "loss"; [B, L] waveforms."""
    terms = {
        "mel": mel_loss(estimate, reference, cfg.mel_floor),
        "stft": complex_stft_loss(estimate, reference),
        "wave": (estimate - reference).abs().mean(),
        "silence": (silence_loss(estimate, reference, cfg.silence_floor_dbfs)
                    if cfg.silence_weight else estimate.new_zeros(())),
    }
    terms["loss"] = (cfg.mel_weight * terms["mel"] + cfg.stft_weight * terms["stft"]
                     + cfg.wave_weight * terms["wave"] + cfg.silence_weight * terms["silence"])
    return terms
