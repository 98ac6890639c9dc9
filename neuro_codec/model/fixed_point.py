"""Loihi fixed point for the spiking encoder: the integer formats, the rounding into them, and a
bit-exact replica of Lava's `fixed_pt` Dense and LIF arithmetic (no Lava needed).

`conversion.lava_graph` sets Lava's variables from `quantize_network`; training fine-tunes with
`fixed_point_forward` (the same integer arithmetic, differentiable through straight-through
roundings and the surrogate spike); `simulate_fixed_point` (pure integers, no gradient) is the
reference both are tested against. Both give Lava's fixed-point spikes bit for bit. This module
never imports Lava.

Formats (Lava 0.10 `PyLifModelBitAcc`, `PyDenseModelBitAcc`, Loihi's registers):

    weight      8-bit signed mantissa m ∈ [−128, 127]; Lava stores 2m (sign mode MIXED,
                9-bit even values) and one `weight_exp` per Dense: a = (Σ 2m·s) · 2^weight_exp,
                a left shift for exponents > 0, an arithmetic right shift (floor) for < 0
    graded in   12-bit signed payload x_int = round(2^11 · x), |x_int| ≤ 2047 (audio in [−1, 1));
                9 + 12 + log2(F) bits ≤ 31 keeps the int32 dot product exact for F ≤ 4096
    a_in        the summed Dense outputs; Lava declares 16 bits but computes in int32, what
                bounds it is u: |a_in| ≤ 2^17 − 1 so that a_in · 2^6 fits 24 bits
    u, v        24-bit signed state; u = a_in · 2^6 (MSB alignment); u wraps, v saturates
    du          12 bit; du = 4095 (+1 offset = 4096): the current keeps only this step's input
    dv          12 bit; v ← sign(v)·(|v·(4096 − dv)| >> 12), dv = 4096 − round(4096 β)
    bias        13-bit signed mantissa, 3-bit exponent: v += bias_mant · 2^bias_exp each step
    vth         17-bit unsigned; spike iff v > vth · 2^6, then v ← 0

Scale. Layer i has one integer scale S = 2^s: a real current I is a_in = I·S, a real membrane
is v = 64·S·V, θ becomes vth = round(θ S), b becomes bias = round(64 S b), and a weight W
becomes 2m·2^e with 2m·2^e ≈ W·S. S is the largest power of two for which no state can leave
its register for any input (worst case Σ_j |w_nj|·max|x| ≤ 2^17 − 1), vth fits 17 bits and
the bias fits 13 + 7 bits; the weights then use their full 8-bit mantissa per Dense.

What fixed point changes against the float network: weights are rounded to 8 bits relative to
the largest weight of their matrix (the dominant error); the input to 12 bits; the decay of v
truncates toward zero (< 1/64 of an input unit per step); a negative weight exponent floors the
summed input (< 1 unit of 1/S); thresholds are exact when θ·S is an integer (θ = 1 and S a
power of two). Spikes then differ where the float membrane comes within that error of θ.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from neuro_codec.data.audio import frame_audio
from neuro_codec.model.encoder import DECAY_GRID, EncoderTrace, SpikingEncoder

WEIGHT_MANTISSA_MAX = 127       # 8-bit signed mantissa (−128 … 127); Lava stores 2·m
WEIGHT_MANTISSA_MIN = -128
INPUT_FRAC_BITS = 11            # graded input payload: 12-bit signed, x_int = round(x · 2^11)
INPUT_MAX = 2**INPUT_FRAC_BITS - 1
ACTIVATION_MAX = 2**17 - 1      # a_in · 2^6 must stay inside the 24-bit u register
STATE_BITS = 24                 # u and v registers
ACT_SHIFT = 6                   # u = a_in << 6; the threshold is compared as vth << 6
VTH_MAX = 2**17 - 1             # vth is 17-bit unsigned
BIAS_MANT_MIN, BIAS_MANT_MAX = -(2**12), 2**12 - 1   # 13-bit signed
BIAS_EXP_MAX = 7                # 3-bit
DECAY_SHIFT = 12                # du, dv are 12-bit fractions of 4096
DU_FULL = 4095                  # du + 1 (Lava's ds_offset) = 4096: u forgets every step
MAX_FRAME_SAMPLES = 4096        # 9 + 12 + 12 = 33 bits would overflow Lava's int32 dot product


class LayerArrays(Protocol):
    """What the quantiser reads from a layer (conversion's LayerSpec has these fields)."""

    weight: np.ndarray
    bias: np.ndarray
    beta: np.ndarray
    threshold: np.ndarray
    rec_weight: np.ndarray | None


@dataclass(frozen=True)
class FloatLayer:
    """A layer's real-valued parameters in float64 (the `LayerArrays` of an encoder)."""

    weight: np.ndarray              # W [h, n_in]
    bias: np.ndarray                # b [h]
    beta: np.ndarray                # β [h]
    threshold: np.ndarray           # θ [h]
    rec_weight: np.ndarray | None = None  # R [h, h]


@dataclass(frozen=True)
class LayerFixedPoint:
    """A layer in Lava's fixed-point variables (names as in Lava's Dense and LIF)."""

    scale_exp: int                  # s: a real current I is the activation I · 2^s
    weight: np.ndarray              # int64 [h, n_in] Dense weights 2m, even, in [−256, 254]
    weight_exp: int                 # Dense weight_exp of the feed-forward connection
    bias_mant: np.ndarray           # int64 [h], 13-bit signed
    bias_exp: np.ndarray            # int64 [h], 0 … 7
    vth: np.ndarray                 # int64 [h], 17-bit unsigned
    dv: np.ndarray                  # int64 [h], 12-bit: 4096 − round(4096 β)
    rec_weight: np.ndarray | None = None  # int64 [h, h] Dense weights of the recurrence
    rec_weight_exp: int = 0
    input_frac_bits: int = 0        # 11 for the graded input layer, 0 for spike inputs
    du: int = DU_FULL

    @property
    def scale(self) -> float:
        return float(2.0**self.scale_exp)

    def real_weight(self) -> np.ndarray:
        """[h, n_in] the real weight the integers stand for (per unit of real input)."""
        return self.weight * 2.0 ** (self.weight_exp + self.input_frac_bits - self.scale_exp)

    def real_bias(self) -> np.ndarray:
        return (self.bias_mant * 2.0**self.bias_exp) / (2**ACT_SHIFT * self.scale)

    def real_threshold(self) -> np.ndarray:
        return self.vth / self.scale

    def real_beta(self) -> np.ndarray:
        return (2**DECAY_SHIFT - self.dv) / 2**DECAY_SHIFT


@dataclass(frozen=True)
class FixedPointNetwork:
    """The whole encoder in fixed point; `layers[0]` takes the 12-bit graded input."""

    layers: list[LayerFixedPoint]
    input_frac_bits: int = INPUT_FRAC_BITS


def _shift(a: np.ndarray, exp: int) -> np.ndarray:
    return np.left_shift(a, exp) if exp > 0 else np.right_shift(a, -exp)


def _weight_exponent(w_scaled: np.ndarray) -> int:
    """Smallest e with round(w_scaled / 2^(e+1)) inside the 8-bit mantissa range."""
    peak = float(np.max(np.abs(w_scaled), initial=0.0))
    if peak == 0.0:
        return 0
    e = math.floor(math.log2(peak / WEIGHT_MANTISSA_MAX)) - 2
    while True:
        m = np.round(w_scaled / 2.0 ** (e + 1))
        if m.max() <= WEIGHT_MANTISSA_MAX and m.min() >= WEIGHT_MANTISSA_MIN:
            return e
        e += 1


def _weights_at(w: np.ndarray, scale_exp: int, in_bits: int) -> tuple[np.ndarray, int]:
    """Dense weights 2m and exponent for real weights `w` at scale 2^scale_exp.

    With graded input x_int = x·2^in_bits the exponent absorbs the input's fraction bits.
    """
    w_scaled = w * 2.0**scale_exp
    e = _weight_exponent(w_scaled)
    m = np.round(w_scaled / 2.0 ** (e + 1)).astype(np.int64)
    return 2 * m, e - in_bits


def _worst_activation(w_int: np.ndarray, exp: int, in_max: int) -> int:
    """Largest |a_in| a Dense can deliver: every input at ±in_max with the weight's sign."""
    if w_int.size == 0:
        return 0
    worst = np.abs(w_int).sum(axis=1) * in_max
    return int(np.max(np.abs(_shift(worst.astype(np.int64), exp)), initial=0))


def quantize_layer(layer: LayerArrays, graded_input: bool = False,
                   input_scale: np.ndarray | None = None) -> LayerFixedPoint:
    """Round one layer into Lava's fixed-point variables (formats in the module docstring).

    Args:
        layer: real weights, bias, β (on the 1/4096 grid; off-grid values are rounded), θ.
        graded_input: the layer takes the 12-bit graded waveform, not spikes.
        input_scale: [n_in] gain applied to the graded input (folded into the weights).
    Returns:
        the layer's integer variables; `real_*()` gives the values they stand for.
    Raises:
        ValueError: a parameter no scale can represent (β = 0 or 1, θ ≤ 0, frame too long).
    """
    w = np.asarray(layer.weight, dtype=np.float64)
    if input_scale is not None:
        w = w * np.asarray(input_scale, dtype=np.float64)[None, :]
    rec = None if layer.rec_weight is None else np.asarray(layer.rec_weight, dtype=np.float64)
    bias = np.asarray(layer.bias, dtype=np.float64)
    theta = np.asarray(layer.threshold, dtype=np.float64)
    k = np.round(np.asarray(layer.beta, dtype=np.float64) * DECAY_GRID).astype(np.int64)
    if np.any(k < 1) or np.any(k > DECAY_GRID - 1):
        raise ValueError(f"decays β must lie in [1, 4095]/4096 for a 12-bit dv, got "
                         f"{k.min()}…{k.max()} /4096")
    if np.any(theta <= 0):
        raise ValueError("thresholds must be > 0")
    if graded_input and w.shape[1] > MAX_FRAME_SAMPLES:
        raise ValueError(f"{w.shape[1]} graded inputs overflow Lava's int32 dot product "
                         f"(at most {MAX_FRAME_SAMPLES})")
    in_bits = INPUT_FRAC_BITS if graded_input else 0
    in_max = INPUT_MAX if graded_input else 1
    # Start from the largest power of two that the threshold, the bias and the real-valued
    # worst case allow, then step down until the integer worst case fits too.
    row = np.abs(w).sum(axis=1) * (in_max / 2**in_bits)
    if rec is not None:
        row = row + np.abs(rec).sum(axis=1)
    limits = [VTH_MAX / theta.max(), ACTIVATION_MAX / max(row.max(), 1e-30),
              BIAS_MANT_MAX * 2**BIAS_EXP_MAX / (2**ACT_SHIFT * max(np.abs(bias).max(), 1e-30))]
    s = math.floor(math.log2(min(limits)))
    while True:
        w_int, w_exp = _weights_at(w, s, in_bits)
        worst = _worst_activation(w_int, w_exp, in_max)
        r_int, r_exp = (None, 0) if rec is None else _weights_at(rec, s, 0)
        if r_int is not None:
            worst += _worst_activation(r_int, r_exp, 1)
        if worst <= ACTIVATION_MAX:
            break
        s -= 1
    vth = np.round(theta * 2.0**s).astype(np.int64)
    if np.any(vth < 1):
        raise ValueError(f"threshold {theta.min()} rounds to 0 at scale 2^{s}")
    b = bias * 2.0 ** (s + ACT_SHIFT)
    need = np.ceil(np.log2(np.maximum(np.abs(b), 1e-300) / BIAS_MANT_MAX))
    b_exp = np.clip(need, 0, BIAS_EXP_MAX).astype(np.int64)
    b_mant = np.clip(np.round(b / 2.0**b_exp), BIAS_MANT_MIN, BIAS_MANT_MAX).astype(np.int64)
    return LayerFixedPoint(scale_exp=s, weight=w_int, weight_exp=w_exp, bias_mant=b_mant,
                           bias_exp=b_exp, vth=vth, dv=DECAY_GRID - k, rec_weight=r_int,
                           rec_weight_exp=r_exp, input_frac_bits=in_bits)


def quantize_network(input_scale: np.ndarray, layers: Sequence[LayerArrays]) -> FixedPointNetwork:
    """Round every layer (layer 0 takes the graded input times `input_scale` [F])."""
    return FixedPointNetwork(layers=[
        quantize_layer(layer, graded_input=(i == 0), input_scale=input_scale if i == 0 else None)
        for i, layer in enumerate(layers)
    ])


def encoder_layers(encoder: SpikingEncoder,
                   mu: int | None = None) -> tuple[np.ndarray, list[FloatLayer]]:
    """The encoder's (input scale [F], layers) in float64, as the NIR export writes them (at
    μ-SPARSE level `mu`: the biases of `encoder.at_mu(mu)`)."""
    def a(t: torch.Tensor) -> np.ndarray:
        return t.detach().cpu().double().numpy().copy()

    layers = []
    for i, (fc, lif) in enumerate(zip(encoder.fc, encoder.lif)):
        rec = encoder.rec[str(i)].weight if str(i) in encoder.rec else None
        layers.append(FloatLayer(weight=a(fc.weight), bias=a(encoder.layer_bias(i, mu)),
                                 beta=a(lif.beta),
                                 threshold=a(lif.threshold),
                                 rec_weight=None if rec is None else a(rec)))
    scale = np.full(encoder.config.frame_samples, float(encoder.config.input_gain))
    return scale, layers


def loihi_fixed_point_params(encoder: SpikingEncoder, mu: int | None = None) -> FixedPointNetwork:
    """The encoder's Loihi fixed-point variables (the same rounding the Lava graph uses), at
    μ-SPARSE level `mu` if given (each level has its own bias and so its own scales)."""
    scale, layers = encoder_layers(encoder, mu)
    return quantize_network(scale, layers)


def quantize_input(frames: np.ndarray) -> np.ndarray:
    """12-bit graded payloads of waveform samples: clip(round(x · 2^11), ±2047), int64."""
    x = np.round(np.asarray(frames, dtype=np.float64) * 2.0**INPUT_FRAC_BITS)
    return np.clip(x, -INPUT_MAX, INPUT_MAX).astype(np.int64)


def _t_shift(a: torch.Tensor, exp: int) -> torch.Tensor:
    return a << exp if exp > 0 else a >> -exp


def simulate_layer(layer: LayerFixedPoint, inputs: torch.Tensor) -> torch.Tensor:
    """Run one fixed-point layer exactly as Lava's Dense + LIF models do.

    Args:
        inputs: int64 [B, T, n_in]: 12-bit payloads (graded layer) or 0/1 spikes.
    Returns:
        int64 [B, T, h] spikes.
    """
    dev = inputs.device
    w = torch.as_tensor(layer.weight, dtype=torch.int64, device=dev)
    a_ff = _t_shift(inputs @ w.T, layer.weight_exp)            # [B, T, h]
    rec = (None if layer.rec_weight is None
           else torch.as_tensor(layer.rec_weight, dtype=torch.int64, device=dev))
    keep = torch.as_tensor(2**DECAY_SHIFT - layer.dv, dtype=torch.int64, device=dev)
    bias = torch.as_tensor(layer.bias_mant << layer.bias_exp, dtype=torch.int64, device=dev)
    vth = torch.as_tensor(layer.vth << ACT_SHIFT, dtype=torch.int64, device=dev)
    half = 2 ** (STATE_BITS - 1)
    v = torch.zeros_like(a_ff[:, 0])
    s = torch.zeros_like(a_ff[:, 0])
    out = []
    for t in range(a_ff.shape[1]):
        a_in = a_ff[:, t] if rec is None else a_ff[:, t] + _t_shift(s @ rec.T, layer.rec_weight_exp)
        raw = a_in << ACT_SHIFT
        u = torch.where(raw > half, raw - 2 * half, raw)        # 24-bit wrap, as Lava does it
        u = torch.where(u <= -half, raw + 2 * half, u)
        dec = v * keep
        v = torch.sign(dec) * (dec.abs() >> DECAY_SHIFT) + u + bias
        v = v.clamp(-half + 1, half - 1)
        s = (v > vth).to(torch.int64)
        v = v * (1 - s)
        out.append(s)
    return torch.stack(out, dim=1)


def simulate_fixed_point(model: SpikingEncoder | FixedPointNetwork, x: torch.Tensor | np.ndarray,
                         frame_samples: int | None = None,
                         mu: int | None = None) -> tuple[torch.Tensor, EncoderTrace]:
    """Predict Lava's fixed-point spikes bit for bit (integer arithmetic, no gradient).

    Args:
        model: an encoder (rounded with `loihi_fixed_point_params`) or its fixed-point network.
        x: [B, samples] or [samples] waveform in [−1, 1].
        frame_samples: samples per step when `model` is a FixedPointNetwork (default: its
            first layer's input width).
        mu: μ-SPARSE level of an encoder `model` (None for a level-free one).
    Returns:
        z [B, N, T] and the trace of every layer ([B, h_i, T]), as float 0/1 like the encoder.
    """
    net = loihi_fixed_point_params(model, mu) if isinstance(model, SpikingEncoder) else model
    hop = frame_samples or net.layers[0].weight.shape[1]
    x = torch.as_tensor(np.asarray(x, dtype=np.float64) if not torch.is_tensor(x) else x)
    x = x.detach().cpu().double()
    if x.dim() == 1:
        x = x.unsqueeze(0)
    frames = frame_audio(x, hop)
    inp = torch.from_numpy(quantize_input(frames.numpy()))
    trace = EncoderTrace()
    with torch.no_grad():
        for layer in net.layers:
            inp = simulate_layer(layer, inp)
            trace.layers.append(inp.transpose(1, 2).double())
    return trace.z, trace


class _StraightThrough(torch.autograd.Function):
    """Round, floor or truncate forward; identity backward (straight-through estimator)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, op: str) -> torch.Tensor:
        return {"round": torch.round, "floor": torch.floor, "trunc": torch.trunc}[op](x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, None


def _ste(x: torch.Tensor, op: str) -> torch.Tensor:
    return _StraightThrough.apply(x, op)


def fixed_point_forward(encoder: SpikingEncoder, x: torch.Tensor, return_trace: bool = False,
                        mu=None):
    """The encoder's forward pass in Loihi fixed point, differentiable, for fine-tuning.

    Computes Lava's integer arithmetic with integer-valued float64 tensors (exact below 2^53):
    the 12-bit input, 8-bit weights with their exponents and the floor of the shift, the
    13-bit bias, the truncating 12-bit decay and the 24-bit clamp of v, so that its spikes are
    the fixed-point Lava run's, bit for bit. Roundings pass gradients straight through, spikes
    use the encoder's surrogate on the real-valued membrane v / (64 S) − θ; scales and
    exponents are chosen from the current (detached) weights, as `quantize_layer` does.

    Args:
        encoder: the float encoder (its parameters receive the gradients).
        x: [B, samples] or [samples] waveform in [−1, 1].
        return_trace: also return every layer's spikes.
        mu: μ-SPARSE level: an int, or a [B] tensor of per-example levels (each level has its
            own fixed-point scales, so the batch runs level by level).
    Returns:
        z [B, N, T] float64 0/1 (with a surrogate gradient); with `return_trace`, (z, trace).
    """
    if torch.is_tensor(mu) and mu.dim() == 1:
        if return_trace:
            raise ValueError("return_trace needs one μ for the whole batch")
        if x.dim() == 1:
            x = x.unsqueeze(0)
        groups = [(torch.nonzero(mu == m).flatten(), int(m)) for m in torch.unique(mu)]
        parts = [fixed_point_forward(encoder, x[idx], mu=m) for idx, m in groups]
        order = torch.cat([idx for idx, _ in groups]).to(x.device)
        return torch.cat(parts)[torch.argsort(order)]
    mu = None if mu is None else int(mu)
    net = loihi_fixed_point_params(encoder, mu)
    f64 = torch.float64
    if x.dim() == 1:
        x = x.unsqueeze(0)
    frames = frame_audio(x.to(f64), encoder.config.frame_samples)
    inp = torch.clamp(_ste(frames * 2.0**INPUT_FRAC_BITS, "round"), -INPUT_MAX, INPUT_MAX)
    gain = float(encoder.config.input_gain)
    trace = EncoderTrace()
    for i, layer in enumerate(net.layers):
        dev = inp.device
        s = layer.scale_exp
        w = encoder.fc[i].weight.to(f64) * (gain if i == 0 else 1.0)
        e = layer.weight_exp + layer.input_frac_bits
        w_int = 2 * _ste(w * 2.0 ** (s - e - 1), "round")
        a_ff = _ste((inp @ w_int.T) * 2.0**layer.weight_exp, "floor")     # [B, T, h]
        b_exp = torch.as_tensor(2.0**layer.bias_exp, dtype=f64, device=dev)
        b = encoder.layer_bias(i, mu).to(f64) * 2.0 ** (s + ACT_SHIFT)
        bias = torch.clamp(_ste(b / b_exp, "round"), BIAS_MANT_MIN, BIAS_MANT_MAX) * b_exp
        r_int = None
        if layer.rec_weight is not None:
            r = encoder.rec[str(i)].weight.to(f64)
            r_int = 2 * _ste(r * 2.0 ** (s - layer.rec_weight_exp - 1), "round")
        keep = torch.as_tensor((2**DECAY_SHIFT - layer.dv) / 2**DECAY_SHIFT, dtype=f64,
                               device=dev)
        vth = torch.as_tensor(layer.vth * 2.0**ACT_SHIFT, dtype=f64, device=dev)
        unit = 2.0 ** (s + ACT_SHIFT)                                      # v per real unit
        limit = 2.0 ** (STATE_BITS - 1) - 1
        spike_fn = encoder.lif[i].spike_grad
        v = torch.zeros_like(a_ff[:, 0])
        spk = torch.zeros_like(a_ff[:, 0])
        out = []
        for t in range(a_ff.shape[1]):
            a_in = a_ff[:, t]
            if r_int is not None:
                a_in = a_in + _ste((spk @ r_int.T) * 2.0**layer.rec_weight_exp, "floor")
            v = _ste(v * keep, "trunc") + a_in * 2.0**ACT_SHIFT + bias
            v = torch.clamp(v, -limit, limit)
            spk = spike_fn((v - vth) / unit)
            out.append(spk)
            v = v * (1.0 - spk.detach())
        inp = torch.stack(out, dim=1)
        trace.layers.append(inp.transpose(1, 2))
    return (trace.z, trace) if return_trace else trace.z
