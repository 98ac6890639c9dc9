"""μ-SPARSE: a level is a bias current. At a fixed μ the encoder is the level-free encoder
`at_mu(μ)`, in float64 and in Loihi fixed point, for one level or a batch of mixed levels;
levels change the events; the rate hinge is the formula; the decoder needs its level."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from factories import noise

from neuro_codec.model.codec import Codec
from neuro_codec.model.decoder import DecoderConfig
from neuro_codec.model.encoder import EncoderConfig, SpikingEncoder
from neuro_codec.model.fixed_point import fixed_point_forward, simulate_fixed_point
from neuro_codec.model.presets import get_preset
from neuro_codec.training.penalties import mu_target_rate, rate_penalty

CFG = EncoderConfig(frame_samples=64, hidden_sizes=(12, 10), recurrent=(False, True), n_units=6,
                    input_init="gabor", input_support="banded", gabor_f_min_hz=200.0,
                    min_window_samples=8, mu_levels=5)


def mu_encoder(seed: int = 0, std: float = 0.4) -> SpikingEncoder:
    """A μ-SPARSE encoder with random biases and level embeddings, in eval mode."""
    torch.manual_seed(seed)
    enc = SpikingEncoder(CFG)
    with torch.no_grad():
        for fc in enc.fc:
            fc.bias.normal_(0.0, 0.3)
        for emb in enc.mu_bias:
            emb.weight.normal_(0.0, std)
    return enc.eval()


def test_level_embeddings_start_at_zero():
    enc = SpikingEncoder(CFG)
    x = torch.from_numpy(noise(64 * 30, 0))
    assert all(float(e.weight.detach().abs().max()) == 0.0 for e in enc.mu_bias)
    plain = SpikingEncoder(replace(CFG, mu_levels=0))
    plain.load_state_dict({k: v for k, v in enc.state_dict().items()
                           if not k.startswith("mu_bias.")})
    want = plain.run_float64(x.numpy())[-1]
    assert all(np.array_equal(enc.run_float64(x.numpy(), mu=m)[-1], want)
               for m in range(CFG.mu_levels))


@pytest.mark.parametrize("mu", [0, 3, 4])
def test_at_mu_is_the_encoder_at_that_level(mu):
    enc = mu_encoder()
    plain = enc.at_mu(mu)
    assert plain.config.mu_levels == 0 and not hasattr(plain, "mu_bias")
    for i, fc in enumerate(plain.fc):
        assert torch.equal(fc.bias, enc.fc[i].bias + enc.mu_bias[i].weight[mu])
        assert torch.equal(fc.weight, enc.fc[i].weight)
    x = noise(64 * 80 - 3, mu)
    want = plain.run_float64(x)
    got = enc.run_float64(x, mu=mu)
    assert all(np.array_equal(a, b) for a, b in zip(got, want))
    # The float32 training forward at an int μ is the folded encoder's, spike for spike.
    xt = torch.from_numpy(x).float()
    assert torch.equal(enc(xt, mu=mu), plain(xt))


def test_levels_change_the_events():
    enc = mu_encoder(std=1.0)
    x = noise(64 * 80, 1)
    zs = [enc.run_float64(x, mu=m)[-1] for m in range(CFG.mu_levels)]
    assert len({z.tobytes() for z in zs}) == CFG.mu_levels


def test_fixed_point_at_a_level_equals_the_folded_replica():
    enc = mu_encoder(2)
    x = torch.from_numpy(noise(64 * 60, 2))
    for mu in range(CFG.mu_levels):
        want = simulate_fixed_point(enc.at_mu(mu), x)[0]
        assert torch.equal(simulate_fixed_point(enc, x, mu=mu)[0], want)
        with torch.no_grad():
            assert torch.equal(fixed_point_forward(enc, x, mu=mu), want)
        assert 0 < float(want.sum()) < want.numel()


def test_mixed_levels_in_a_batch_run_level_by_level():
    enc = mu_encoder(3)
    x = torch.from_numpy(np.stack([noise(64 * 40, s) for s in range(4)]))
    mu = torch.tensor([3, 0, 3, 1])
    z = fixed_point_forward(enc, x, mu=mu)
    for b in range(4):
        assert torch.equal(z[b], simulate_fixed_point(enc, x[b], mu=int(mu[b]))[0][0])
    z.sum().backward()   # the straight-through path reaches the levels that were used
    used = enc.mu_bias[0].weight.grad.abs().sum(dim=1)
    assert used[0] > 0 and used[1] > 0 and used[3] > 0 and used[2] == 0 and used[4] == 0
    zf = enc(x.float(), mu=mu)
    for b in range(4):
        assert torch.equal(zf[b], enc(x[b:b + 1].float(), mu=int(mu[b]))[0])


def test_wrong_levels_are_refused():
    enc = mu_encoder()
    x = noise(64 * 4, 0)
    with pytest.raises(ValueError, match=r"μ must be in \[0, 4\]"):
        enc.run_float64(x, mu=5)
    with pytest.raises(ValueError, match="no compression level"):
        SpikingEncoder(replace(CFG, mu_levels=0)).run_float64(x, mu=0)


def test_rate_penalty_is_the_hinge_of_the_formula():
    z = torch.zeros(3, 80, 100)
    z[0, :40] = 1.0                   # rate 0.5
    z[1, :8] = 1.0                    # rate 0.1
    z[2, :4, :50] = 1.0               # rate 0.025
    mu = torch.tensor([3, 3, 12])     # allowed 0.5, 0.5, 2^-4
    assert torch.allclose(mu_target_rate(mu), torch.tensor([0.5, 0.5, 0.0625], dtype=torch.float64))
    assert float(rate_penalty(z, mu)) == 0.0
    mu = torch.tensor([6, 9, 15])     # allowed 0.25, 0.125, 2^-5
    want = ((0.5 - 0.25) + 0.0 + 0.0) / 3
    assert math.isclose(float(rate_penalty(z, mu)), want, rel_tol=1e-6)
    mu = torch.tensor([6, 12, 18])    # 0.25, 0.0625, 0.015625
    want = ((0.5 - 0.25) + (0.1 - 0.0625) + (0.025 - 0.015625)) / 3
    zr = z.clone().requires_grad_(True)
    loss = rate_penalty(zr, mu)
    assert math.isclose(float(loss.detach()), want, rel_tol=1e-6)
    loss.backward()
    assert torch.allclose(zr.grad[0], torch.full((80, 100), 1 / (3 * 8000)))


def test_decoder_needs_its_level():
    p = get_preset("tiny")
    codec = Codec(replace(p.encoder, mu_levels=4), replace(p.decoder, mu_levels=4)).eval()
    with torch.no_grad():
        codec.first_stage.mu_embed.weight.normal_()
    z = codec.encode(torch.from_numpy(noise(512 * 8, 0)).float()[None], mu=2)
    a = codec.decode(z, 512 * 8, steps=0, mu=2)
    b = codec.decode(z, 512 * 8, steps=0, mu=torch.full((1, 8), 2))    # per frame, same level
    c = codec.decode(z, 512 * 8, steps=0, mu=3)
    assert torch.allclose(a, b) and not torch.allclose(a, c)
    with pytest.raises(ValueError, match="needs the level"):
        codec.decode(z, 512 * 8, steps=0)
    with pytest.raises(ValueError, match="mu_levels"):
        Codec(replace(p.encoder, mu_levels=4), DecoderConfig(**{**p.decoder.to_dict(),
                                                                "mu_levels": 3}))


def test_a_level_is_never_left_out():
    """A μ-SPARSE encoder without its level would be a network nobody trained: refused by
    the float paths, the fixed-point path and the NIR export."""
    from conversion.nir_export import ConversionError, encoder_to_nir

    enc = mu_encoder()
    x = noise(64 * 4, 0)
    with pytest.raises(ValueError, match="needs its level"):
        enc.run_float64(x)
    with pytest.raises(ValueError, match="needs its level"):
        enc(torch.from_numpy(x).float())
    with pytest.raises(ValueError, match="needs its level"):
        simulate_fixed_point(enc, x)
    with pytest.raises(ConversionError, match="at one level"):
        encoder_to_nir(enc)
    assert len(encoder_to_nir(enc.at_mu(1)).nodes) > 0
