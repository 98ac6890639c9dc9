"""Loihi fixed point (neuro_codec.model.fixed_point): formats, worst-case ranges, the differentiable
forward equal to the integer replica, and the agreement with the float encoder."""

import numpy as np
import pytest
import torch
from factories import tiny_encoder

from neuro_codec.model.encoder import EncoderConfig
from neuro_codec.model.fixed_point import (
    ACTIVATION_MAX,
    BIAS_MANT_MAX,
    BIAS_MANT_MIN,
    INPUT_MAX,
    VTH_MAX,
    FloatLayer,
    LayerFixedPoint,
    fixed_point_forward,
    loihi_fixed_point_params,
    quantize_input,
    quantize_layer,
    simulate_fixed_point,
    simulate_layer,
)

TINY = [
    EncoderConfig(frame_samples=16, hidden_sizes=(8, 6), recurrent=(False, False), n_units=5),
    EncoderConfig(frame_samples=16, hidden_sizes=(8, 6), recurrent=(False, True), n_units=5),
    EncoderConfig(frame_samples=16, hidden_sizes=(8, 6), recurrent=(True, True), n_units=5),
    EncoderConfig(frame_samples=64, hidden_sizes=(8, 6), recurrent=(False, True), n_units=5,
                  input_init="gabor", input_support="banded", gabor_f_min_hz=200.0,
                  min_window_samples=8),
]



def noise(n_samples: int, seed: int, std: float = 0.3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n_samples, generator=g, dtype=torch.float64) * std).clamp(-1, 1)


def test_formats_and_ranges():
    enc = tiny_encoder(TINY[1], 0)
    net = loihi_fixed_point_params(enc)
    for i, q in enumerate(net.layers):
        assert np.all(q.weight % 2 == 0) and q.weight.min() >= -256 and q.weight.max() <= 254
        assert np.all((q.vth >= 1) & (q.vth <= VTH_MAX))
        assert np.all((q.bias_mant >= BIAS_MANT_MIN) & (q.bias_mant <= BIAS_MANT_MAX))
        assert np.all((q.bias_exp >= 0) & (q.bias_exp <= 7))
        assert q.du == 4095
        k = np.round(enc.lif[i].beta.double().numpy() * 4096).astype(np.int64)
        assert np.array_equal(q.dv, 4096 - k)
        assert np.array_equal(q.real_beta(), enc.lif[i].beta.double().numpy())
        # θ = 1 and S a power of two: the threshold is exact.
        assert np.array_equal(q.real_threshold(), enc.lif[i].threshold.double().numpy())
        # No input can overflow the activation: every input at its extreme, signs aligned.
        in_max = INPUT_MAX if i == 0 else 1
        worst = np.abs(q.weight).sum(axis=1) * in_max
        worst = worst << q.weight_exp if q.weight_exp > 0 else worst >> -q.weight_exp
        if q.rec_weight is not None:
            r = np.abs(q.rec_weight).sum(axis=1)
            worst = worst + (r << q.rec_weight_exp if q.rec_weight_exp > 0
                             else r >> -q.rec_weight_exp)
        assert worst.max() <= ACTIVATION_MAX
        # Each weight is within half a mantissa step of the real one (gain folded in layer 0).
        w = enc.fc[i].weight.detach().double().numpy() * (enc.config.input_gain if i == 0 else 1.0)
        step = 2.0 ** (q.weight_exp + q.input_frac_bits + 1 - q.scale_exp)
        assert np.abs(q.real_weight() - w).max() <= step / 2 + 1e-12
        assert np.abs(q.real_bias() - enc.fc[i].bias.detach().double().numpy()).max() <= \
            2.0 ** (q.bias_exp.max()) / 2 / 64 / q.scale + 1e-12


def test_mantissa_uses_eight_bits():
    """The largest weight of each matrix lands on the top of the 8-bit mantissa range."""
    rng = np.random.default_rng(0)
    layer = FloatLayer(weight=rng.normal(size=(6, 5)), bias=np.zeros(6),
                       beta=np.full(6, 0.5), threshold=np.ones(6),
                       rec_weight=rng.normal(size=(6, 6)) * 0.01)
    q = quantize_layer(layer)
    assert 128 <= np.abs(q.weight).max() <= 256
    assert 128 <= np.abs(q.rec_weight).max() <= 256


def test_quantize_layer_refuses_unrepresentable_decay():
    layer = FloatLayer(weight=np.ones((2, 2)), bias=np.zeros(2), beta=np.array([0.0, 0.5]),
                       threshold=np.ones(2))
    with pytest.raises(ValueError, match="decays"):
        quantize_layer(layer)


def test_quantize_input_twelve_bits():
    x = np.array([-1.0, -0.5, 0.0, 1 / 2048, 0.9999, 1.0, 3.0])
    assert quantize_input(x).tolist() == [-2047, -1024, 0, 1, 2047, 2047, 2047]


def test_integer_lif_by_hand_three_neurons_five_steps():
    """Loihi's fixed-point Dense + LIF update, worked by hand (the module docstring's formats):

        a_in = (Σ_j x_j · 2m_ij) · 2^weight_exp     (weight_exp < 0: arithmetic shift, floor)
        u    = a_in · 2^6                           (du = 4095: u keeps this step's input only)
        v    = sign(v·k)·(|v·k| >> 12) + u + bias_mant · 2^bias_exp,   k = 4096 − dv
        spike iff v > vth · 2^6, then v ← 0

    The inputs and constants are chosen so that each plausible slip changes the spikes: a
    rounded (or truncated) weight shift, v += a_in without the 2^6, a decay floored or rounded
    instead of truncated toward zero, a bias without its exponent, a threshold without its
    2^6, ≥ instead of >, and a reset by subtraction.
    """
    layer = LayerFixedPoint(
        scale_exp=0, weight=np.array([[2, 0], [0, 2], [2, -4]]), weight_exp=-2,
        bias_mant=np.array([0, 7, 2]), bias_exp=np.array([0, 0, 3]),   # bias 0, 7, 16
        vth=np.array([5, 2, 4]),                                      # thresholds 320, 128, 256
        dv=np.array([2048, 1024, 1]),                                 # k = 2048, 3072, 4095
    )
    x = torch.tensor([[[11, -3], [7, 3], [0, 5], [11, 3], [8, -2]]], dtype=torch.int64)
    # Neuron 0: Σ = 2·x0 = 22, 14, 0, 22, 16 → a = ⌊Σ/4⌋ = 5, 3, 0, 5, 4 → u = 320, 192, 0, 320, 256
    #   t0  v = 320                         320 > 320? no   (≥, or a rounded ⌊5.5⌋ = 6, would fire)
    #   t1  v = 320·2048 >> 12 = 160, + 192 = 352 > 320: spike, v ← 0
    #   t2  v = 0
    #   t3  v = 320                         no              (a subtracting reset keeps 32 → fires)
    #   t4  v = 160 + 256 = 416: spike
    # Neuron 1: Σ = 2·x1 = −6, 6, 10, 6, −4 → a = ⌊−1.5⌋ = −2, 1, 2, 1, −1
    #           → u = −128, 64, 128, 64, −64
    #   t0  v = −128 + 7 = −121
    #   t1  −121·3072 = −371,712; |·| >> 12 = 90 (90.75, toward zero) → v = −90 + 64 + 7 = −19
    #   t2  −19·3072 = −58,368 → −14 (14.25) → v = −14 + 128 + 7 = 121 ≤ 128: no
    #   t3  121·3072 = 371,712 → 90 → v = 90 + 64 + 7 = 161 > 128: spike, v ← 0
    #       (a shift truncated toward zero makes t0's a = −1, v = −57: it fires at t2 instead)
    #   t4  v = −64 + 7 = −57
    # Neuron 2: Σ = 2·x0 − 4·x1 = 34, 2, −20, 10, 24 → a = 8, 0, −5, 2, 6
    #           → u = 512, 0, −320, 128, 384
    #   t0  v = 512 + 16 = 528 > 256: spike, v ← 0
    #   t1  v = 0 + 0 + 16 = 16
    #   t2  16·4095 = 65,520 >> 12 = 15 → v = 15 − 320 + 16 = −289
    #   t3  −289·4095 = −1,183,455 → −288 (288.93) → v = −288 + 128 + 16 = −144
    #   t4  −144·4095 = −589,680 → −143 (143.96) → v = −143 + 384 + 16 = 257 > 256: spike
    #       (a floored or a rounded decay ends at v = 255 or 256 at t4, a bias of 2 instead of
    #       2·2^3 at v = 201: no spike)
    spikes = simulate_layer(layer, x)
    assert spikes.dtype == torch.int64
    assert spikes[0].T.tolist() == [[0, 1, 0, 0, 1],
                                    [0, 0, 0, 1, 0],
                                    [1, 0, 0, 0, 1]]


@pytest.mark.parametrize("cfg", TINY)
@pytest.mark.parametrize("seed", [0, 1])
def test_forward_equals_integer_replica(cfg, seed):
    enc = tiny_encoder(cfg, seed)
    x = noise(16 * 200, seed)
    z_int, tr_int = simulate_fixed_point(enc, x)
    z, tr = fixed_point_forward(enc, x, return_trace=True)
    for a, b in zip(tr.layers, tr_int.layers):
        assert torch.equal(a.detach(), b)
        assert 0 < b.sum() < 0.9 * b.numel()
    z.sum().backward()
    for fc in enc.fc:
        assert fc.weight.grad is not None and fc.weight.grad.abs().sum() > 0


def test_agreement_with_float_encoder():
    """Fixed point agrees with float on ≥ 97 % of neuron-steps on average, ≥ 93 % at worst.

    Measured on these tiny random nets (3 shapes × 4 seeds, 300 steps): 95.2–99.9 % per layer,
    mean 98.8 %, output event count +2 % on average. 8-bit weights err by up to 1/254 of
    their matrix's largest weight; with 6–16 inputs per neuron the membrane comes that close
    to θ on ~1 % of neuron-steps, and a flipped spike propagates through the leak, the
    recurrence and the next layers.
    """
    agree, rates = [], []
    for cfg in TINY[:3]:  # the three random shapes the docstring's figures are for
        for seed in range(4):
            enc = tiny_encoder(cfg, seed).double()
            x = noise(16 * 300, seed)
            _, tr_float = enc(x, return_trace=True)
            _, tr_fixed = simulate_fixed_point(enc, x)
            for a, b in zip(tr_float.layers, tr_fixed.layers):
                agree.append(float((a.detach() == b).double().mean()))
            rates.append(float(tr_fixed.z.sum() / tr_float.z.detach().sum()))
    assert min(agree) >= 0.93
    assert np.mean(agree) >= 0.97
    assert abs(np.mean(rates) - 1.0) < 0.05
