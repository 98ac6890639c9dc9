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


# ------------------------------------------------------------ every rate: the first K codebooks


def _trained_codec(cfg: RVQConfig) -> tuple[RVQCodec, torch.Tensor]:
    """A tiny RVQ codec after one training step's codebook update, and a 12-frame clip."""
    torch.manual_seed(0)
    p = get_preset("tiny")
    codec = RVQCodec(p.encoder, p.decoder, cfg)
    x = torch.from_numpy(noise(512 * 12, 0)).float()[None]
    codec.train()
    codec(x.repeat(2, 1))
    codec.eval()
    return codec, x


def test_the_first_k_codebooks_code_and_decode_alone():
    codec, x = _trained_codec(RVQConfig(codebooks=3, codebook_size=16))
    codes = codec.encode_codes(x)
    assert codes.shape == (1, 3, 12)
    for k in (1, 2):
        first = codec.encode_codes(x, codebooks=k)
        assert torch.equal(first, codes[:, :k])
        # The latent of K codes is the sum of those K codebooks' entries, no more.
        books = codec.encoder.quantizer.codebooks                      # [Q, size, D]
        by_hand = sum(books[q][first[0, q]] for q in range(k)).T[None]  # [1, D, T]
        latent = codec.encoder.dequantize(first)
        assert torch.allclose(latent, by_hand, atol=1e-6)
        assert not torch.allclose(latent, codec.encoder.dequantize(codes), atol=1e-3)
        assert torch.equal(codec.decode_codes(first, x.shape[-1], steps=0),
                           codec.decode(latent, x.shape[-1], steps=0))
    for bad in (0, 4):
        with pytest.raises(ValueError, match=r"codebooks must be in \[1, 3\]"):
            codec.encode_codes(x, codebooks=bad)
    with pytest.raises(ValueError, match="codes of 4 codebooks; the model has 3"):
        codec.encoder.dequantize(torch.zeros(1, 4, 12, dtype=torch.long))


def _dropout_k(seed: int, lo: int, q: int) -> int:
    """The K that ResidualVQ's quantiser dropout draws after `torch.manual_seed(seed)`: a seed
    from torch's global RNG, then K − 1 uniform in [lo − 1, q) (vector_quantize_pytorch)."""
    import random

    torch.manual_seed(seed)
    return random.Random(int(torch.randint(0, 10_000, ()))).randrange(lo - 1, q) + 1


def test_quantiser_dropout_codes_a_batch_with_k_codebooks_drawn_from_the_seed():
    # No dead-code replacement here: it rewrites codebook entries during the batch, which would
    # hide the sum the test checks.
    cfg = RVQConfig(codebooks=4, codebook_size=16, quantize_dropout=True, dropout_min_codebooks=2,
                    dead_code_threshold=0)
    codec, x = _trained_codec(cfg)
    enc = codec.encoder.train()
    drawn = []
    for seed in range(30):
        books = enc.quantizer.codebooks.clone()       # before this batch's EMA update
        torch.manual_seed(seed)
        latent, codes, _ = enc(x)
        k = int((codes[0, :, 0] >= 0).sum())
        assert k == _dropout_k(seed, 2, 4)
        assert bool((codes[:, :k] >= 0).all()) and bool((codes[:, k:] == -1).all())
        # The batch is coded with its first K codebooks: the latent is their sum alone.
        by_hand = sum(books[q][codes[0, q]] for q in range(k)).T[None]
        assert torch.allclose(latent, by_hand, atol=1e-5)
        drawn.append(k)
    state = {n: t.clone() for n, t in enc.state_dict().items()}
    torch.manual_seed(7)
    first = enc(x)[1]
    enc.load_state_dict(state)
    torch.manual_seed(7)
    assert torch.equal(enc(x)[1], first)               # a pure function of the seed
    assert sorted(set(drawn)) == [2, 3, 4]
    enc.eval()                                         # inference: every codebook
    assert bool((enc(x)[1] >= 0).all())
    # Off by default: training codes with all Q.
    plain, _ = _trained_codec(RVQConfig(codebooks=4, codebook_size=16))
    assert bool((plain.encoder.train()(x)[1] >= 0).all())


def test_dropout_fields_default_off_and_old_configs_load():
    old = {"codebooks": 8, "codebook_size": 1024, "decay": 0.99, "commitment_weight": 1.0,
           "dead_code_threshold": 2}   # an RVQConfig dict from before quantiser dropout
    cfg = RVQConfig.from_dict(old)
    assert cfg == RVQConfig() and not cfg.quantize_dropout and cfg.dropout_min_codebooks == 1
    assert RVQConfig.from_dict(RVQConfig(quantize_dropout=True).to_dict()).quantize_dropout
    with pytest.raises(ValueError, match=r"dropout_min_codebooks must be in \[1, 8\], got 9"):
        RVQConfig(dropout_min_codebooks=9)
    with pytest.raises(ValueError, match="quantize_dropout must be true or false"):
        RVQConfig(quantize_dropout="yes")


def test_the_shipped_rvq_model_loads_and_resumes_with_its_config():
    from neuro_codec.model.checkpoint import Checkpoint
    from neuro_codec.model.shipped import shipped_path
    from neuro_codec.training import TrainConfig

    ckpt = Checkpoint.read(shipped_path("rvq"))
    assert ckpt.rvq_config == RVQConfig()
    cfg = TrainConfig.from_dict(ckpt.train_config)
    assert cfg.rvq_overrides == () and cfg.rvq_config() == ckpt.rvq_config
    assert ckpt.build_codec().codebooks == 8
