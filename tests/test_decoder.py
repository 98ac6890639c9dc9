"""The frame-rate decoder: the head's STFT framing, shapes, the first stage as decode's
0-step output, and its config (the joint diffusion refiner's retired fields)."""

from dataclasses import replace

import pytest
import torch

from neuro_codec.model.codec import Codec
from neuro_codec.model.decoder import RETIRED_FIELDS, DecoderConfig, FirstStage, istft
from neuro_codec.model.presets import get_preset

CFG = DecoderConfig(dim=16, hidden=32, blocks=1, n_fft=256, stft_hop=128)


def test_the_heads_frames_invert():
    # The head predicts the centred STFT frames less the last, half-outside one; their
    # inverse covers every sample but the last half-frame.
    x = torch.randn(2, 16 * 512)
    spec = torch.stft(x, CFG.n_fft, CFG.stft_hop, window=torch.hann_window(CFG.n_fft),
                      center=True, return_complex=True)[..., : 16 * CFG.stft_per_frame]
    y = istft(spec, CFG, x.shape[-1])
    keep = x.shape[-1] - CFG.n_fft // 2
    assert torch.allclose(y[:, :keep], x[:, :keep], atol=1e-5)


def test_first_stage_shapes_and_decode_length():
    stage = FirstStage(CFG)
    z = (torch.rand(3, 80, 12) < 0.1).float()
    assert stage(z).shape == (3, CFG.n_bins, 12 * CFG.stft_per_frame)
    preset = get_preset("tiny")
    codec = Codec(preset.encoder, preset.decoder).eval()
    x = codec.decode(z, 12 * 512 - 100)
    assert x.shape == (3, 12 * 512 - 100) and torch.isfinite(x).all()
    # Without a refiner, steps change nothing: the first stage is the decoder.
    assert torch.equal(codec.decode(z, 12 * 512 - 100, steps=2), x)
    with pytest.raises(ValueError, match="steps"):
        codec.decode(z, 100, steps=-1)


def test_decode_zero_steps_is_the_first_stage_istft():
    preset = get_preset("tiny")
    codec = Codec(preset.encoder, preset.decoder).eval()
    z = (torch.rand(1, 80, 8) < 0.2).float()
    expected = istft(codec.first_stage(z), codec.cfg, 8 * 512).clamp(-1, 1)
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


# What every checkpoint saved with the joint diffusion refiner's fields stores (the shipped
# ones: no refiner blocks).
STORED = {"refiner_dim": 256, "refiner_blocks": 0, "time_dim": 64, "compress": 0.5,
          "residual_scale": 1.0}


def test_the_joint_refiners_fields_are_read_without_blocks_and_refused_with_them():
    assert set(STORED) == set(RETIRED_FIELDS)
    assert not set(RETIRED_FIELDS) & set(CFG.to_dict())
    assert DecoderConfig.from_dict({**CFG.to_dict(), **STORED}) == CFG
    with pytest.raises(ValueError, match="refiner_blocks=3: .*joint diffusion refiner, which "
                                         "was removed"):
        DecoderConfig.from_dict({**CFG.to_dict(), **STORED, "refiner_blocks": 3})
