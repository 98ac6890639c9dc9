"""The frame-rate decoder: STFT framing, the compressed domain, shapes, and the diffusion
sampler (an oracle denoiser must give x0 back exactly; a wrong schedule must not)."""

from dataclasses import replace

import pytest
import torch
from diffusers import DDPMScheduler

from neuro_codec.model.codec import Codec
from neuro_codec.model.decoder import DecoderConfig, FirstStage, compress, decompress, istft, stft
from neuro_codec.model.diffusion import _SCHEDULE, VDiffusion, sample
from neuro_codec.model.presets import get_preset

CFG = DecoderConfig(dim=16, hidden=32, blocks=1, n_fft=256, stft_hop=128, refiner_dim=16,
                    refiner_blocks=1, time_dim=16)


def test_stft_frames_match_the_head_and_invert():
    x = torch.randn(2, 16 * 512)
    spec = stft(x, CFG)
    assert spec.shape == (2, CFG.n_bins, 16 * CFG.stft_per_frame)
    y = istft(spec, CFG, x.shape[-1])
    # Every sample but the last half-frame is covered by the frames kept.
    keep = x.shape[-1] - CFG.n_fft // 2
    assert torch.allclose(y[:, :keep], x[:, :keep], atol=1e-5)


def test_compress_decompress_round_trip():
    spec = torch.randn(2, 129, 10, dtype=torch.complex64) * 30
    y = compress(spec, 0.5)
    assert y.shape == (2, 258, 10)
    # |c(S)| = |S|^0.5, phase kept
    assert torch.allclose(torch.complex(*y.chunk(2, 1)).abs(), spec.abs() ** 0.5, rtol=1e-4)
    assert torch.allclose(decompress(y, 0.5), spec, rtol=1e-4, atol=1e-4)


def test_first_stage_shapes_and_decode_length():
    stage = FirstStage(CFG)
    z = (torch.rand(3, 80, 12) < 0.1).float()
    feats, spec = stage(z)
    assert feats.shape == (3, 16, 12) and spec.shape == (3, CFG.n_bins, 12 * CFG.stft_per_frame)
    preset = get_preset("tiny")
    codec = Codec(preset.encoder, preset.decoder).eval()
    for steps in (0, 2):
        x = codec.decode(z, 12 * 512 - 100, steps=steps, generator=torch.Generator().manual_seed(0))
        assert x.shape == (3, 12 * 512 - 100) and torch.isfinite(x).all()
    with pytest.raises(ValueError, match="steps"):
        codec.decode(z, 100, steps=-1)


def test_decode_zero_steps_is_the_first_stage_istft():
    preset = get_preset("tiny")
    codec = Codec(preset.encoder, preset.decoder).eval()
    z = (torch.rand(1, 80, 8) < 0.2).float()
    _, spec = codec.first_stage(z)
    expected = istft(spec, codec.cfg, 8 * 512).clamp(-1, 1)
    assert torch.equal(codec.decode(z, 8 * 512, steps=0), expected)


def test_config_round_trips_and_refuses_the_old_hop_name():
    assert DecoderConfig.from_dict(CFG.to_dict()) == CFG
    assert "frame_samples" in CFG.to_dict() and "hop_samples" not in CFG.to_dict()
    # The old name ("hop_samples") is gone: every shipped checkpoint was re-saved without it.
    old = {k: v for k, v in CFG.to_dict().items() if k != "frame_samples"}
    with pytest.raises(TypeError, match="hop_samples"):
        DecoderConfig.from_dict({**old, "hop_samples": 256})
    with pytest.raises(ValueError, match="frame_samples=300 must be a multiple"):
        replace(CFG, frame_samples=300)
    preset = get_preset("tiny")
    with pytest.raises(ValueError, match="decoder frame_samples=256"):
        Codec(preset.encoder, replace(preset.decoder, frame_samples=256))


def _oracle(x0: torch.Tensor, schedule_kwargs: dict):
    """A denoiser that knows x0: from x_t it returns the true v under the given schedule."""
    sched = DDPMScheduler(**schedule_kwargs)
    ac = sched.alphas_cumprod

    def denoise(x_t, t):
        a = ac[t].sqrt().view(-1, *[1] * (x_t.dim() - 1))
        s = (1 - ac[t]).sqrt().view(-1, *[1] * (x_t.dim() - 1))
        eps = (x_t - a * x0) / s
        return a * eps - s * x0

    return denoise


@pytest.mark.parametrize("sampler,steps", [("ddim", 1), ("ddim", 4), ("dpmpp", 4)])
def test_oracle_denoiser_recovers_x0(sampler, steps):
    x0 = torch.randn(2, 6, 20)
    out = sample(_oracle(x0, _SCHEDULE), x0.shape, steps=steps, sampler=sampler,
                 generator=torch.Generator().manual_seed(1))
    assert torch.allclose(out, x0, atol=1e-3), (out - x0).abs().max()


def test_oracle_of_a_wrong_schedule_does_not_recover_x0():
    x0 = torch.randn(2, 6, 20)
    wrong = {**_SCHEDULE, "beta_schedule": "linear"}
    out = sample(_oracle(x0, wrong), x0.shape, steps=4, sampler="ddim",
                 generator=torch.Generator().manual_seed(1))
    assert (out - x0).abs().max() > 0.05


def test_v_loss_is_zero_for_the_oracle_and_not_for_zero():
    diff = VDiffusion()
    x0 = torch.randn(4, 3, 10)
    gen = torch.Generator().manual_seed(0)
    state = gen.get_state()
    assert float(diff.loss(_oracle(x0, _SCHEDULE), x0, gen)) < 1e-8
    gen.set_state(state)
    assert float(diff.loss(lambda x_t, t: torch.zeros_like(x_t), x0, gen)) > 0.1
