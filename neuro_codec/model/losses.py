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
from neuro_codec.model.spectral import MEL_WINDOWS, frame_spectrum, mel_filterbank

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


def _abs(spec: torch.Tensor) -> torch.Tensor:
    """|S| as √(re² + im²): `Tensor.abs` of a complex tensor is an overflow-safe hypot, ≈ 3×
    slower on a CPU and the loss's largest single cost (≈ 20 spectra a step); the values agree
    to 1 ulp in float32's normal range, and no STFT of audio in [−1, 1] leaves it: |S| ≤ n_fft
    (no overflow of the squares), and a |S| below ≈ 4e-23, whose squares underflow to a
    magnitude and a gradient of 0, is 300 dB below anything the losses weigh."""
    re, im = spec.real, spec.imag
    return (re * re + im * im).sqrt()   # `square` is a slower pow on a CPU


class _Magnitude(torch.autograd.Function):
    """|S| of a complex tensor as a real one, with the gradient S/|S| (0 where S = 0), as
    `Tensor.abs`; the backward scales S's real and imaginary parts by grad/|S| in one real
    product, where complex abs's builds sgn(S) and multiplies in complex (and a `where` for
    S = 0 is a second pass: a 0/0 or x/0 weight is set to 0 in place instead)."""

    @staticmethod
    def forward(ctx, spec: torch.Tensor) -> torch.Tensor:
        mag = _abs(spec)
        ctx.save_for_backward(spec, mag)
        return mag

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        spec, mag = ctx.saved_tensors
        weight = torch.nan_to_num_(grad / mag, nan=0.0, posinf=0.0, neginf=0.0)
        return torch.view_as_complex(torch.view_as_real(spec) * weight.unsqueeze(-1))


def magnitude(spec: torch.Tensor) -> torch.Tensor:
    """|spec| (complex → real) with `Tensor.abs`'s values (to 1 ulp) and gradient, cheaper."""
    return _Magnitude.apply(spec) if spec.requires_grad else _abs(spec)


Spectra = dict[int, torch.Tensor]   # n_fft → complex [B, frames, n_fft/2 + 1] (frame_spectrum)


def spectra(x: torch.Tensor) -> Spectra:
    """The STFT of `x` ([B, L]) at every window the loss reads: the 7 mel windows, which
    include the complex term's 512, 1024 and 2048 (the same STFT: hann, hop n_fft/4, centred),
    so each is computed once for both terms."""
    return {n: frame_spectrum(x, n) for n in sorted(set(MEL_WINDOWS) | set(STFT_SIZES))}


def mel_loss(estimate: torch.Tensor, reference: torch.Tensor, floor: float = 1e-5,
             est_spectra: Spectra | None = None, ref_spectra: Spectra | None = None,
             log1p: bool = False) -> torch.Tensor:
    """Mean over 7 scales of mean |ln max(M(ŝ), floor) − ln max(M(s), floor)|; [B, L] inputs.

    With `log1p`, |ln(1 + M(ŝ)) − ln(1 + M(s))| instead: the mel distance's own compression
    (`spectral.mel_distance`, ×ln 10), which weighs loud bands by their relative error and
    leaves quiet ones almost unweighted (`floor` is then unused).

    M is `spectral.mel_transforms`' mel magnitude; it is computed here as |STFT| @ filterbank
    from `spectra` (passed in when the caller shares them with `complex_stft_loss`): the same
    values, frame-major instead of band-major, which a mean does not see.
    """
    est = est_spectra if est_spectra is not None else spectra(estimate)
    ref = ref_spectra if ref_spectra is not None else _reference_spectra(reference)
    device = str(estimate.device)
    total = estimate.new_zeros(())
    for n_fft in MEL_WINDOWS:
        fb = mel_filterbank(n_fft, SAMPLE_RATE_HZ, device)
        def compress(mel: torch.Tensor) -> torch.Tensor:
            return torch.log1p(mel) if log1p else torch.log(mel.clamp(min=floor))

        with torch.no_grad():   # the reference needs no graph
            log_ref = compress(_abs(ref[n_fft]) @ fb)
        total = total + (compress(magnitude(est[n_fft]) @ fb) - log_ref).abs().mean()
    return total / len(MEL_WINDOWS)


def complex_stft_loss(estimate: torch.Tensor, reference: torch.Tensor,
                      est_spectra: Spectra | None = None, ref_spectra: Spectra | None = None
                      ) -> torch.Tensor:
    """Mean over n_fft ∈ {512, 1024, 2048} of mean|Ŝ − S| / mean|S|; [B, L] inputs (the STFTs
    from `spectra` when the caller shares them with `mel_loss`)."""
    est = est_spectra if est_spectra is not None else spectra(estimate)
    ref = ref_spectra if ref_spectra is not None else _reference_spectra(reference)
    total = estimate.new_zeros(())
    for n_fft in STFT_SIZES:
        with torch.no_grad():
            scale = _abs(ref[n_fft]).mean() + 1e-8
        total = total + magnitude(est[n_fft] - ref[n_fft]).mean() / scale
    return total / len(STFT_SIZES)


def _reference_spectra(reference: torch.Tensor) -> Spectra:
    with torch.no_grad():
        return spectra(reference)


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
    est, ref = spectra(estimate), _reference_spectra(reference)
    terms = {
        "mel": mel_loss(estimate, reference, cfg.mel_floor, est, ref),
        "stft": complex_stft_loss(estimate, reference, est, ref),
        "wave": (estimate - reference).abs().mean(),
        "silence": (silence_loss(estimate, reference, cfg.silence_floor_dbfs)
                    if cfg.silence_weight else estimate.new_zeros(())),
    }
    terms["loss"] = (cfg.mel_weight * terms["mel"] + cfg.stft_weight * terms["stft"]
                     + cfg.wave_weight * terms["wave"] + cfg.silence_weight * terms["silence"])
    return terms
