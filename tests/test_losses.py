"""The training loss's fast path (shared STFTs, cached filterbanks, half-size rfft backward)
against a straightforward computation: torchaudio's transforms and torch.stft per term."""

import math

import pytest
import torch
import torchaudio.transforms as AT

from neuro_codec.model.losses import LossConfig, magnitude, reconstruction_loss, silence_loss
from neuro_codec.model.spectral import MEL_BANDS, MEL_WINDOWS, _RealFFT, frame_spectrum


def _straightforward(estimate, reference, cfg: LossConfig) -> dict[str, torch.Tensor]:
    """The loss as written in its docstrings: a MelSpectrogram per scale, a torch.stft per
    size, each applied to estimate and reference separately."""
    mel = 0.0
    for w, m in zip(MEL_WINDOWS, MEL_BANDS):
        t = AT.MelSpectrogram(sample_rate=22050, n_fft=w, win_length=w, hop_length=w // 4,
                              n_mels=m, power=1.0, center=True, norm="slaney",
                              mel_scale="slaney")
        mel = mel + (torch.log(t(estimate).clamp(min=cfg.mel_floor))
                     - torch.log(t(reference).clamp(min=cfg.mel_floor))).abs().mean()
    stft = 0.0
    for n in (512, 1024, 2048):
        s_hat, s = (torch.stft(x, n, n // 4, window=torch.hann_window(n), return_complex=True)
                    for x in (estimate, reference))
        stft = stft + (s_hat - s).abs().mean() / (s.abs().mean() + 1e-8)
    terms = {"mel": mel / 7, "stft": stft / 3, "wave": (estimate - reference).abs().mean(),
             "silence": silence_loss(estimate, reference, cfg.silence_floor_dbfs)}
    terms["loss"] = (cfg.mel_weight * terms["mel"] + cfg.stft_weight * terms["stft"]
                     + cfg.wave_weight * terms["wave"] + cfg.silence_weight * terms["silence"])
    return terms


def _batch():
    g = torch.Generator().manual_seed(3)
    t = torch.arange(2**13) / 22050
    reference = torch.stack([0.3 * torch.sin(2 * torch.pi * f * t) for f in (110.0, 880.0, 3e3)])
    reference = reference + 0.01 * torch.randn(reference.shape, generator=g)
    reference[0, :3000] = 0.0          # a silent stretch: the silence term and exact zeros
    estimate = reference + 0.05 * torch.randn(reference.shape, generator=g)
    return estimate, reference


def test_loss_terms_and_gradient_equal_the_straightforward_computation():
    estimate, reference = _batch()
    cfg = LossConfig(silence_weight=0.5)
    fast_in, slow_in = estimate.clone().requires_grad_(), estimate.clone().requires_grad_()
    fast = reconstruction_loss(fast_in, reference, cfg)
    slow = _straightforward(slow_in, reference, cfg)
    for k in ("mel", "stft", "wave", "silence", "loss"):
        assert fast[k].item() == pytest.approx(slow[k].item(), rel=1e-5), k
    assert fast["mel"].item() > 0.05 and fast["silence"].item() > 1.0   # terms that bite
    fast["loss"].backward()
    slow["loss"].backward()
    scale = slow_in.grad.abs().max()
    assert scale > 0
    assert (fast_in.grad - slow_in.grad).abs().max() <= 1e-5 * scale


@pytest.mark.parametrize("n_fft", [32, 256, 2048])
def test_frame_spectrum_is_torch_stft_frame_major(n_fft):
    x = _batch()[1]
    expected = torch.stft(x, n_fft, n_fft // 4, window=torch.hann_window(n_fft),
                          return_complex=True).transpose(1, 2)
    assert torch.equal(frame_spectrum(x, n_fft), expected)


@pytest.mark.parametrize("n", [32, 33, 2048])
def test_rfft_backward_equals_torch(n):
    g = torch.Generator().manual_seed(n)
    x = torch.randn(3, n, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(3, n // 2 + 1, 2, dtype=torch.float64, generator=g)
    (a,) = torch.autograd.grad((torch.view_as_real(torch.fft.rfft(x)) * w).sum(), x)
    (b,) = torch.autograd.grad((torch.view_as_real(_RealFFT.apply(x)) * w).sum(), x)
    assert (a - b).abs().max() < 1e-12 * a.abs().max()


def test_magnitude_gradient_is_abs_gradient_and_zero_at_zero():
    s = torch.tensor([3 + 4j, 0j, -1 + 0j], dtype=torch.complex128, requires_grad=True)
    (a,) = torch.autograd.grad(magnitude(s).sum(), s)
    (b,) = torch.autograd.grad(s.abs().sum(), s)
    assert torch.equal(magnitude(s.detach()), torch.tensor([5.0, 0.0, 1.0], dtype=torch.float64))
    assert torch.allclose(a, b) and a[1] == 0 and torch.allclose(a[0], torch.tensor(0.6 + 0.8j,
                                                                                     dtype=a.dtype))
    # float32 spectra as the loss sees them: abs's values within 1 ulp, its gradient within 2.
    g = torch.Generator().manual_seed(0)
    spec = torch.complex(torch.randn(4, 50, 257, generator=g),
                         torch.randn(4, 50, 257, generator=g)) * 30
    spec[0, 0, :3] = 0
    spec.requires_grad_(True)
    weight = torch.randn(4, 50, 257, generator=g)
    (a,) = torch.autograd.grad((magnitude(spec) * weight).sum(), spec)
    (b,) = torch.autograd.grad((spec.abs() * weight).sum(), spec)
    mag, ref = magnitude(spec.detach()), spec.detach().abs()
    assert ((mag - ref).abs() <= 1.2e-7 * ref).all()
    assert ((a - b).abs() <= 2.4e-7 * b.abs() + 1e-30).all() and (a[0, 0, :3] == 0).all()


def test_mel_loss_log1p_is_the_mel_distance_in_natural_log():
    """The refiner's mel term with log1p is ln 10 × the evaluation's mel distance."""
    from neuro_codec.model.losses import mel_loss
    from neuro_codec.model.spectral import mel_distance

    g = torch.Generator().manual_seed(0)
    ref = torch.randn(1, 8192, generator=g) * 0.3
    est = ref + 0.1 * torch.randn(1, 8192, generator=g)
    want = math.log(10) * mel_distance(est[0].numpy(), ref[0].numpy())
    assert float(mel_loss(est, ref, log1p=True)) == pytest.approx(want, rel=1e-4)
    # The default compression is another loss (its floor weighs the quiet bands).
    assert float(mel_loss(est, ref)) > 5 * want
