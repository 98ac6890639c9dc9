import numpy as np
import pytest
import torch

from neuro_codec.model.encoder import DECAY_GRID, EncoderConfig, SpikingEncoder, grid_betas


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
    # τ log-spaced in [2, 30] frames: 2, 3.936, 7.746, 15.244, 30; β = e^(−1/τ) = 0.606531,
    # 0.775640, 0.878887, 0.936506, 0.967216; × 4096 = 2484.35, 3177.02, 3599.92, 3835.93,
    # 3961.72, rounded to the nearest grid step (not truncated: 3600, 3836, 3962).
    b = grid_betas(5, 2.0, 30.0)
    assert b.dtype == torch.float64
    assert (b * DECAY_GRID).tolist() == [2484.0, 3177.0, 3600.0, 3836.0, 3962.0]
    assert grid_betas(1, 2.0, 30.0).tolist() == [2484 / 4096]   # one neuron: τ_min


def test_membrane_and_spikes_worked_by_hand():
    """One layer of 3 LIF neurons over 5 steps, every membrane value worked out by hand.

    U[t] = β·U[t−1]·(1 − s[t−1]) + I[t],  s[t] = [U[t] > θ],  θ = 1,
    I[t] = w·(gain·x[t]) + b with gain 2 and one sample per frame.

    Every number is a short binary fraction, so float32 holds it exactly and the check is
    `==`. Each plausible slip changes at least one spike, not only a membrane value: decaying
    by 1 − β (neuron 2 at t3), decaying the input too (β·(U + I): neuron 0 at t1), reset by
    subtraction (neuron 1 at t2), no reset (neuron 2 at t4), ≥ for > (neuron 1 at t2), the
    bias left out (neuron 2 at t3), the input gain left out (neuron 0 at t1).
    """
    enc = _encoder(frame_samples=1, hidden_sizes=(), recurrent=(), n_units=3, input_gain=2.0)
    with torch.no_grad():
        enc.fc[0].weight.copy_(torch.tensor([[1.0], [0.5], [0.0]]))
        enc.fc[0].bias.copy_(torch.tensor([0.25, 0.5, 0.375]))
        enc.lif[0].beta.copy_(torch.tensor([2048, 3072, 3584]) / DECAY_GRID)  # 0.5, 0.75, 0.875
    x = torch.tensor([0.25, 0.25, 0.5, -0.25, 0.25])
    # I = 2·w·x + b:  neuron 0: 2x + 0.25 = 0.75, 0.75, 1.25, −0.25, 0.75
    #                 neuron 1:  x + 0.5  = 0.75, 0.75, 1.0,   0.25, 0.75
    #                 neuron 2:    0.375 every step
    # Neuron 0 (β = 0.5): 0.75; 0.375 + 0.75 = 1.125 > 1 spike; reset, 0 + 1.25 = 1.25 spike;
    #   reset, −0.25; −0.125 + 0.75 = 0.625.
    # Neuron 1 (β = 0.75): 0.75; 0.5625 + 0.75 = 1.3125 spike; reset, 1.0 (not > 1);
    #   0.75 + 0.25 = 1.0 (not > 1); 0.75 + 0.75 = 1.5 spike.
    # Neuron 2 (β = 0.875): 0.375; 0.328125 + 0.375 = 0.703125; 0.615234375 + 0.375 =
    #   0.990234375; 0.866455078125 + 0.375 = 1.241455078125 spike; reset, 0.375.
    membrane = [[0.75, 1.125, 1.25, -0.25, 0.625],
                [0.75, 1.3125, 1.0, 1.0, 1.5],
                [0.375, 0.703125, 0.990234375, 1.241455078125, 0.375]]
    spikes = [[0, 1, 1, 0, 0],
              [0, 1, 0, 0, 1],
              [0, 0, 0, 1, 0]]
    with torch.no_grad():
        current = enc.fc[0](enc.config.input_gain * x[:, None])        # [T, 3]
        u = torch.zeros(3)
        got_u, got_s = [], []
        for t in range(x.numel()):
            s, u = enc.lif[0](current[t], u)
            got_u.append(u.tolist())
            got_s.append(s.tolist())
        z = enc(x)
    assert torch.tensor(got_u).T.tolist() == membrane
    assert torch.tensor(got_s).T.tolist() == spikes
    assert z[0].tolist() == spikes
    assert enc.run_float64(x.numpy())[0].tolist() == spikes


def test_gradients_reach_the_first_layer_through_the_surrogate():
    enc = _encoder()
    enc.train()
    z = enc(torch.randn(2, 8192) * 0.2)
    assert 0 < float(z.detach().mean()) < 1
    z.sum().backward()
    g = enc.fc[0].weight.grad
    assert g is not None and float(g.abs().sum()) > 0


def test_surrogate_is_the_papers_dampened_triangle():
    from neuro_codec.model.encoder import triangle_surrogate

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


def test_gabor_bank_rows_are_unit_norm_tuned_and_banded():
    from neuro_codec.model.encoder import gabor_bank

    cfg = EncoderConfig(hidden_sizes=(256, 256), recurrent=(False, True), input_init="gabor",
                        input_support="banded")
    w, mask = gabor_bank(cfg)
    assert w.shape == mask.shape == (256, 512)
    assert torch.allclose(w.norm(dim=1), torch.ones(256), atol=1e-5)
    assert torch.equal(w != 0, mask) or bool(((w != 0) <= mask).all())
    # Constant-Q support: the lowest band spans the frame, the highest min_window samples.
    assert int(mask[0].sum()) == 512 and int(mask[-1].sum()) == cfg.min_window_samples
    assert int(mask.sum()) == 61_080   # the synapses Loihi stores for the graded input
    # Unit 4·j peaks at the j-th log-spaced frequency.
    freqs = np.geomspace(cfg.gabor_f_min_hz, cfg.gabor_f_max_hz, 64)
    spectrum = np.abs(np.fft.rfft(w[4 * 40].numpy(), 8192))
    peak_hz = np.argmax(spectrum) * 22_050 / 8192
    assert abs(peak_hz - freqs[40]) / freqs[40] < 0.05


def test_tiled_bank_covers_the_frame_at_every_frequency_for_half_the_synapses():
    from neuro_codec.model.encoder import bank_frequencies, bank_layout, gabor_bank

    cfg = EncoderConfig(hidden_sizes=(512, 256), recurrent=(False, True), input_init="gabor",
                        input_support="banded", input_positions="tiled", gabor_phases=2,
                        gabor_f_break_hz=200.0)
    units = bank_layout(cfg)
    w, mask = gabor_bank(cfg)
    assert len(units) == 512 and w.shape == (512, 512)
    assert torch.allclose(w.norm(dim=1), torch.ones(512), atol=1e-5)
    assert int(mask.sum()) == sum(u.length for u in units) == 30_068   # recipe: 61,080
    by_freq = {}
    for u in units:
        by_freq.setdefault(u.freq_hz, []).append(u)
    freqs = sorted(by_freq)
    for f in freqs[:-1]:                 # the last frequency takes the units left over
        group = by_freq[f]
        length = group[0].length
        positions = min(512 // length, cfg.max_positions)
        assert len(group) == 2 * positions
        starts = sorted({u.start for u in group})
        # Disjoint windows inside the frame, evenly spread: at most one window's worth of the
        # frame (or what max_positions leaves) is unseen.
        assert all(b - a >= length for a, b in zip(starts, starts[1:]))
        assert 0 <= starts[0] and starts[-1] + length <= 512
        assert 512 - positions * length < length or positions == cfg.max_positions
    # Warped spacing: the two lowest filters are ~24 Hz apart, not log-spaced 8 % apart.
    f = bank_frequencies(cfg, len(freqs))
    assert f[0] == pytest.approx(40.0) and f[-1] == pytest.approx(8000.0)
    assert 20 < f[1] - f[0] < 30 and f[-1] / f[-2] > 1.1
    with pytest.raises(ValueError, match="needs input_support='banded'"):
        EncoderConfig(input_positions="tiled")
    with pytest.raises(ValueError, match="gabor_phases"):
        EncoderConfig(gabor_phases=5)


def test_banded_layer_keeps_its_zeros_through_training():
    torch.manual_seed(0)
    cfg = EncoderConfig(frame_samples=64, hidden_sizes=(8,), recurrent=(False,), n_units=5,
                        input_init="random", input_support="banded", gabor_f_min_hz=200.0,
                        min_window_samples=8)
    enc = SpikingEncoder(cfg)
    zeros = enc.fc[0].weight.detach() == 0
    assert 0 < int(zeros.sum()) < zeros.numel()
    opt = torch.optim.AdamW(enc.parameters(), lr=1e-2, weight_decay=0.1)
    for _ in range(5):
        z = enc(torch.randn(2, 64 * 20) * 0.5)
        opt.zero_grad()
        (z.mean() + enc.fc[0].weight.pow(2).sum()).backward()
        opt.step()
    w = enc.fc[0].weight.detach()
    assert torch.equal(w == 0, zeros)                   # outside the band: exactly zero


def test_inlined_lif_loop_equals_snntorch_leaky_bit_for_bit():
    """`forward`'s inlined LIF update against snnTorch's `Leaky` module called per step: the
    same spikes and the same gradients, exactly (a reset taken from the wrong step, or a
    reset that carries gradient, changes both)."""
    from neuro_codec.model import encoder as enc

    def module_loop(lif, current, rec):
        mem = torch.zeros_like(current[:, 0])
        spk = torch.zeros_like(current[:, 0])
        out = []
        for t in range(current.shape[1]):
            spk, mem = lif(current[:, t] if rec is None else current[:, t] + rec(spk), mem)
            out.append(spk)
        return torch.stack(out, dim=1)

    cfg = EncoderConfig(hidden_sizes=(48, 32), recurrent=(False, True), n_units=16)
    torch.manual_seed(0)
    model = SpikingEncoder(cfg)
    x = torch.randn(3, 40 * cfg.frame_samples, generator=torch.Generator().manual_seed(1))
    results = []
    for loop in (enc._lif_steps, module_loop):
        saved, enc._lif_steps = enc._lif_steps, loop
        try:
            model.zero_grad()
            z = model(0.3 * x)
            (z * torch.linspace(-1, 1, z.numel()).reshape(z.shape)).sum().backward()
        finally:
            enc._lif_steps = saved
        results.append((z.detach(), [p.grad.clone() for p in model.parameters()
                                     if p.grad is not None]))
    (z_new, g_new), (z_ref, g_ref) = results
    assert 0.02 < z_ref.mean() < 0.9
    assert torch.equal(z_new, z_ref)
    assert len(g_new) == len(g_ref) == 7 and all(torch.equal(a, b) for a, b in zip(g_new, g_ref))
    assert g_ref[0].abs().sum() > 0
