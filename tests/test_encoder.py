import numpy as np
import pytest
import torch

from neuro_codec.encoder import DECAY_GRID, EncoderConfig, SpikingEncoder, grid_betas


def _encoder(seed=0, **kw) -> SpikingEncoder:
    torch.manual_seed(seed)
    return SpikingEncoder(EncoderConfig(**kw)).eval()


@pytest.mark.parametrize("n_samples", [1, 511, 512, 513, 22_050])
def test_z_is_binary_with_one_column_per_frame(n_samples):
    x = torch.randn(n_samples) * 0.2
    z = _encoder()(x)
    assert z.shape == (1, 80, -(-n_samples // 512))
    assert set(torch.unique(z).tolist()) <= {0.0, 1.0}


def test_betas_sit_on_the_decay_grid_and_reset_is_to_zero():
    enc = _encoder()
    for lif in enc.lif:
        k = lif.beta.double() * DECAY_GRID
        assert torch.equal(k, torch.round(k))
        assert lif.reset_mechanism == "zero"
        assert lif.beta.shape == lif.threshold.shape and lif.beta.dim() == 1
    b = grid_betas(5, 2.0, 30.0).numpy()
    assert np.all(1 - (1 - b) == b) and np.all(np.diff(b) > 0)


def test_gradients_reach_the_first_layer_through_the_surrogate():
    enc = _encoder()
    enc.train()
    z = enc(torch.randn(2, 8192) * 0.2)
    assert 0 < float(z.detach().mean()) < 1
    z.sum().backward()
    g = enc.fc[0].weight.grad
    assert g is not None and float(g.abs().sum()) > 0


def test_surrogate_is_the_papers_dampened_triangle():
    from neuro_codec.encoder import triangle_surrogate

    v = torch.tensor([-2.0, -0.5, 0.0, 0.25, 1.5], requires_grad=True)
    s = triangle_surrogate(0.3)(v)
    assert s.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
    s.sum().backward()
    assert torch.allclose(v.grad, torch.tensor([0.0, 0.15, 0.3, 0.225, 0.0]))


@pytest.mark.parametrize("seed,kw", [
    (0, {}),
    (1, {"hidden_sizes": (24, 16, 12), "recurrent": (True, False, True), "n_units": 10,
         "input_gain": 10.0}),
])
def test_float64_fast_path_equals_snntorch_spike_for_spike(seed, kw):
    enc = _encoder(seed, **kw)
    x = np.random.default_rng(seed).standard_normal(300 * 512) * 0.2
    fast = enc.run_float64(x)
    with torch.no_grad():
        _, trace = enc.double()(torch.from_numpy(x), return_trace=True)
    for a, b in zip(fast, trace.layers):
        assert a.sum() > 0 and a.mean() < 0.9
        assert np.array_equal(a, b[0].numpy().astype(np.uint8))


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="recurrent"):
        EncoderConfig(hidden_sizes=(4, 4), recurrent=(True,))
    with pytest.raises(ValueError, match="threshold"):
        EncoderConfig(threshold=0.0)
    cfg = EncoderConfig(hidden_sizes=(7,), recurrent=(True,))
    assert EncoderConfig.from_dict(cfg.to_dict()) == cfg
