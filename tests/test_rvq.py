"""The RVQ baseline: the spiking encoder's layout without spikes, 8 × 1,024 codes = 80 bits per
frame, codes that decode to exactly the quantised latent the decoder was trained on."""

from dataclasses import replace

import pytest
import torch
from factories import noise

from neuro_codec.model.codec import RVQCodec, build_codec
from neuro_codec.model.presets import get_preset
from neuro_codec.model.rvq import RVQConfig, RVQEncoder


def test_default_is_the_papers_budget():
    cfg = RVQConfig()
    assert (cfg.codebooks, cfg.codebook_size, cfg.code_bits, cfg.bits_per_frame) == (8, 1024, 10,
                                                                                     80)
    assert round(cfg.bits_per_frame * 22050 / 512) == 3445
    with pytest.raises(ValueError, match="power of two"):
        RVQConfig(codebook_size=1000)


def test_same_layout_as_the_spiking_encoder():
    enc_cfg = get_preset("small").encoder
    rvq = RVQEncoder(enc_cfg, RVQConfig())
    first, rec, out = rvq.layers
    assert tuple(first.weight.shape) == (256, 512)
    assert tuple(rec.weight_ih_l0.shape) == (256, 256) and tuple(rec.weight_hh_l0.shape) == (256,
                                                                                              256)
    assert tuple(out.weight.shape) == (80, 256)
    # The banded first layer has exactly the spiking encoder's synapses.
    from neuro_codec.model.encoder import SpikingEncoder

    spiking = SpikingEncoder(enc_cfg)
    assert torch.equal(first.weight != 0, spiking.fc[0].weight != 0)


def test_codes_decode_to_the_quantised_latent():
    p = get_preset("tiny")
    codec = RVQCodec(p.encoder, p.decoder, RVQConfig(codebooks=3, codebook_size=16))
    x = torch.from_numpy(noise(512 * 12 - 7, 0)).float()[None]
    codec.train()
    codec(x.repeat(2, 1)[:, :512 * 11])           # one training step's codebook update
    codec.eval()
    latent, codes, _ = codec.encoder(x)
    assert codes.shape == (1, 3, 12) and codes.dtype == torch.int64
    assert int(codes.min()) >= 0 and int(codes.max()) < 16
    assert torch.allclose(codec.encoder.dequantize(codes), latent, atol=1e-6)
    assert torch.equal(codec.encode_codes(x), codes)
    assert torch.equal(codec.encode(x), latent)     # what `decode` takes, as a spiking z
    a = codec.decode_codes(codes, x.shape[-1], steps=0)
    b = codec.decode(latent, x.shape[-1], steps=0)
    assert a.shape == (1, x.shape[-1]) and torch.allclose(a, b, atol=1e-5)


def test_the_kind_chooses_the_codec_class():
    from neuro_codec.model.codec import Codec
    from neuro_codec.model.presets import ModelKind

    p = get_preset("tiny")
    for kind in ModelKind:
        rvq = RVQConfig() if kind is ModelKind.RVQ else None
        levels = 4 if kind is ModelKind.MU_SPARSE else 0
        codec = build_codec(kind, replace(p.encoder, mu_levels=levels),
                            replace(p.decoder, mu_levels=levels), rvq_config=rvq)
        assert type(codec) is (RVQCodec if kind is ModelKind.RVQ else Codec)
        assert codec.rvq_config == rvq
    with pytest.raises(ValueError, match="needs an RVQConfig"):
        build_codec(ModelKind.RVQ, p.encoder, p.decoder)
    with pytest.raises(ValueError, match="free codec has no RVQConfig"):
        build_codec(ModelKind.FREE, p.encoder, p.decoder, rvq_config=RVQConfig())
    with pytest.raises(ValueError, match="no compression levels"):
        RVQCodec(replace(p.encoder, mu_levels=4), replace(p.decoder, mu_levels=4), RVQConfig())
