"""The spiking encoder: waveform frames → LIF layers (snnTorch) → binary events z ∈ {0,1}^(N×T).

One simulation step per hop (512 samples). The samples of frame t are the graded input of the
first synaptic layer at step t; every later layer sees only spikes. The last layer's N = 80
units are the code: z[n, t] = 1 iff unit n spikes at step t. The network uses only what NIR
and our Lava mapping express exactly: Affine (Linear), Linear recurrence, and LIF neurons with
reset to zero (`conversion/` exports exactly this structure).

Neuron model (snnTorch `Leaky`, reset_mechanism="zero", per-neuron vector β and threshold):

    I[t]   = W x[t] + b + R s[t−1]            (R only in recurrent layers)
    U[t]   = β ⊙ U[t−1] ⊙ (1 − s[t−1]) + I[t]
    s[t]   = H(U[t] − θ)                        (exact threshold forward; surrogate backward)

which is Lava's float LIF with du = 1, dv = 1 − β, bias = b, vth = θ, v ← 0 after a spike.
β is fixed per neuron on a 1/4096 grid (Loihi's 12-bit decay): then 1 − (1 − β) == β exactly
in floating point, so the float Lava run can equal this one spike for spike, and the fixed-point
decay is exact too. Time constants are spread over a range per layer rather than learned.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

import numpy as np
import snntorch as snn
import torch
from torch import nn

from neuro_codec.data.audio import HOP_SAMPLES, SAMPLE_RATE_HZ, frame_audio

DECAY_GRID = 4096  # Loihi 2's decay registers are 12-bit: du, dv ∈ {0, …, 4095}/4096
MAX_MU_LEVELS = 256  # a level is one byte in the .snc header

InputInit = Literal["random", "gabor"]
InputSupport = Literal["dense", "banded"]
InputPositions = Literal["centre", "tiled"]


class _BoxcarHeaviside(torch.autograd.Function):
    """H(v) forward; the paper's dampened triangle surrogate 0.3·max(0, 1 − |v|) backward."""

    @staticmethod
    def forward(ctx, v: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.save_for_backward(v)
        ctx.scale = scale
        return (v > 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (v,) = ctx.saved_tensors
        return grad * ctx.scale * torch.clamp(1.0 - v.abs(), min=0.0), None


def triangle_surrogate(scale: float = 0.3):
    """A snnTorch `spike_grad`: exact Heaviside forward, scale·max(0, 1 − |v − θ|) backward."""

    def spike_grad(v: torch.Tensor) -> torch.Tensor:
        return _BoxcarHeaviside.apply(v, scale)

    return spike_grad


@dataclass(frozen=True)
class EncoderConfig:
    """Shape and neuron constants of the spiking encoder.

    Fields:
        frame_samples: samples per step (= hop); graded input width of the first layer.
        hidden_sizes: LIF units of each hidden layer, input side first.
        recurrent: per hidden layer, whether it has a Linear recurrence from its own spikes.
        n_units: N, units of the output (code) layer.
        tau_min_steps, tau_max_steps: membrane time constants (in steps) spread log-uniformly
            over each layer's neurons; β = exp(−1/τ) rounded to the 1/4096 grid.
        threshold: firing threshold θ of every neuron (weights carry the scale).
        surrogate_scale: dampening of the surrogate derivative (the paper's 0.3).
        input_gain: multiplies the waveform before the first layer (piano at −1 dBFS peak has
            an RMS near 0.1; the gain brings first-layer currents to order θ at init).
        input_init: first-layer weights at init: "random" (unit-norm Gaussian rows) or
            "gabor" (a filterbank: log-spaced frequencies × 4 phases, Hann-windowed, unit
            norm; then trained like any weight).
        input_support: "dense" (every unit sees the whole frame) or "banded" (unit k sees a
            window of the frame whose length falls with its Gabor frequency, constant-Q:
            ``gabor_cycles`` periods, at least ``min_window_samples``; weights outside stay
            exactly zero in training, so Loihi stores and runs only the band's synapses).
        gabor_f_min_hz, gabor_f_max_hz: frequency range of the filterbank.
        gabor_f_break_hz: 0: the frequencies are log-spaced (constant Q); > 0: evenly spaced
            on ln(1 + f/f_break), log-spaced above f_break and nearly linear below it, so
            that the filters below it are not packed closer than a frame can resolve (a
            512-sample frame resolves ~43 Hz; log spacing from 40 Hz puts 18 of 64
            frequencies, two thirds of the graded synapses, below 172 Hz).
        gabor_cycles: periods of a banded filter's frequency in its window.
        gabor_phases: phases per (frequency, position): p·90° for p < gabor_phases (1…4).
            A LIF unit rectifies its current, so 4 carry the sign of both quadrature
            components, 2 their positive halves at half the synapses.
        min_window_samples: shortest banded window (at most the frame).
        input_positions: "centre": each banded filter sits at the frame's centre (the
            samples outside its window are never seen); "tiled": a filter whose window is
            shorter than the frame is repeated at ⌊frame/window⌋ positions (at most
            ``max_positions``) that tile the frame, so short high-frequency windows see the
            whole frame and say where in it a note starts. The graded cost is the sum of the
            windows, not the number of units.
        max_positions: the most positions of one tiled filter.
        mu_levels: μ-SPARSE's number of compression levels (0: no level). Level μ adds a
            learned vector E_i[μ] to the bias of every layer i: a constant input current, so
            that the network at a fixed μ is an ordinary encoder with bias b_i + E_i[μ]
            (`at_mu`), which NIR, Lava and the fixed-point path express unchanged.
    """

    frame_samples: int = HOP_SAMPLES
    hidden_sizes: tuple[int, ...] = (64, 128)
    recurrent: tuple[bool, ...] = (False, True)
    n_units: int = 80
    tau_min_steps: float = 1.5
    tau_max_steps: float = 20.0
    threshold: float = 1.0
    surrogate_scale: float = 0.3
    input_gain: float = 4.0
    input_init: InputInit = "random"
    input_support: InputSupport = "dense"
    gabor_f_min_hz: float = 40.0
    gabor_f_max_hz: float = 8000.0
    gabor_f_break_hz: float = 0.0
    gabor_cycles: float = 4.0
    gabor_phases: int = 4
    min_window_samples: int = 32
    input_positions: InputPositions = "centre"
    max_positions: int = 16
    mu_levels: int = 0

    def __post_init__(self):
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
        object.__setattr__(self, "recurrent", tuple(bool(r) for r in self.recurrent))
        if self.frame_samples < 1:
            raise ValueError(f"frame_samples must be ≥ 1, got {self.frame_samples}")
        if len(self.recurrent) != len(self.hidden_sizes):
            raise ValueError(f"recurrent has {len(self.recurrent)} entries, hidden_sizes "
                             f"{len(self.hidden_sizes)}: they must match")
        if any(h < 1 for h in self.hidden_sizes) or self.n_units < 1:
            raise ValueError(f"layer sizes must be ≥ 1, got {self.hidden_sizes} and "
                             f"n_units={self.n_units}")
        if not 1.0 <= self.tau_min_steps <= self.tau_max_steps:
            raise ValueError(f"need 1 ≤ tau_min_steps ≤ tau_max_steps, got "
                             f"{self.tau_min_steps}, {self.tau_max_steps}")
        if self.threshold <= 0:
            raise ValueError(f"threshold must be > 0, got {self.threshold}")
        if self.input_init not in ("random", "gabor"):
            raise ValueError(f"input_init must be 'random' or 'gabor', got {self.input_init!r}")
        if self.input_support not in ("dense", "banded"):
            raise ValueError(f"input_support must be 'dense' or 'banded', got "
                             f"{self.input_support!r}")
        if not 0 < self.gabor_f_min_hz < self.gabor_f_max_hz <= SAMPLE_RATE_HZ / 2:
            raise ValueError(f"need 0 < gabor_f_min_hz < gabor_f_max_hz ≤ Nyquist, got "
                             f"{self.gabor_f_min_hz}, {self.gabor_f_max_hz}")
        if self.min_window_samples < 2:
            raise ValueError(f"min_window_samples must be ≥ 2, got {self.min_window_samples}")
        if self.gabor_cycles <= 0:
            raise ValueError(f"gabor_cycles must be > 0, got {self.gabor_cycles}")
        if self.gabor_f_break_hz < 0:
            raise ValueError(f"gabor_f_break_hz must be ≥ 0, got {self.gabor_f_break_hz}")
        if not 1 <= self.gabor_phases <= 4:
            raise ValueError(f"gabor_phases must be in 1…4, got {self.gabor_phases}")
        if self.input_positions not in ("centre", "tiled"):
            raise ValueError(f"input_positions must be 'centre' or 'tiled', got "
                             f"{self.input_positions!r}")
        if self.input_positions == "tiled" and self.input_support != "banded":
            raise ValueError("input_positions='tiled' needs input_support='banded'")
        if self.max_positions < 1:
            raise ValueError(f"max_positions must be ≥ 1, got {self.max_positions}")
        if not 0 <= self.mu_levels <= MAX_MU_LEVELS:
            raise ValueError(f"mu_levels must be in [0, {MAX_MU_LEVELS}], got {self.mu_levels}")

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """Units per LIF layer, output layer last."""
        return (*self.hidden_sizes, self.n_units)

    @property
    def layer_recurrent(self) -> tuple[bool, ...]:
        """Per LIF layer, whether it is recurrent (the output layer never is)."""
        return (*self.recurrent, False)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> EncoderConfig:
        return cls(**d)


def bank_frequencies(cfg: EncoderConfig, n: int) -> np.ndarray:
    """n filter frequencies in [f_min, f_max]: log-spaced, or evenly spaced on
    ln(1 + f/f_break) when ``gabor_f_break_hz`` > 0."""
    lo, hi, brk = cfg.gabor_f_min_hz, cfg.gabor_f_max_hz, cfg.gabor_f_break_hz
    if brk == 0:
        return np.geomspace(lo, hi, n)
    warped = np.linspace(np.log1p(lo / brk), np.log1p(hi / brk), n)
    return brk * np.expm1(warped)


@dataclass(frozen=True)
class BankUnit:
    """One first-layer filter: its frequency, phase index, and support [start, start+length)."""

    freq_hz: float
    phase: int
    start: int
    length: int


def bank_layout(cfg: EncoderConfig) -> list[BankUnit]:
    """The first layer's filters, one per unit, ordered by frequency, then position, phase.

    "centre": unit k = phases·j + p has frequency f_j (`bank_frequencies`) and phase p·90°,
    centred in the frame. "tiled": frequency j has P_j = min(⌊frame/L_j⌋, max_positions)
    positions of its window L_j, evenly spread over the frame, each with every phase; the
    number of frequencies is the largest whose bank fills the layer, and the next frequency
    takes the units left over (its first positions and phases).
    """
    units, frame = cfg.hidden_sizes[0], cfg.frame_samples

    def window(f: float) -> int:
        if cfg.input_support != "banded":
            return frame
        return int(np.clip(round(cfg.gabor_cycles * SAMPLE_RATE_HZ / f),
                           min(cfg.min_window_samples, frame), frame))

    def layout(n_freqs: int) -> list[BankUnit]:
        out = []
        for f in bank_frequencies(cfg, n_freqs):
            length = window(f)
            positions = (min(frame // length, cfg.max_positions)
                         if cfg.input_positions == "tiled" else 1)
            for q in range(positions):
                # Centred in the q-th of `positions` equal parts of the frame.
                start = (q * frame) // positions + (frame // positions - length) // 2
                out += [BankUnit(float(f), p, start, length) for p in range(cfg.gabor_phases)]
        return out

    n_freqs = max(1, -(-units // cfg.gabor_phases))
    if cfg.input_positions == "tiled":
        # The bank grows with the number of frequencies; take the smallest that fills it.
        n_freqs = 1
        while len(layout(n_freqs)) < units:
            n_freqs += 1
    return layout(n_freqs)[:units]


def gabor_bank(cfg: EncoderConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The first layer's filterbank initialisation and its support (`bank_layout`).

    w_k[s] = hann_L(s − c) · cos(2π f (s − c)/sr + p·π/2) on the unit's window [start,
    start + L) with centre c, normalised to unit L2 norm. L is the whole frame for "dense";
    for "banded", clamp(cycles·sr/f, min_window, frame) (constant-Q), so high frequencies
    need few synapses. The phases let the rectifying LIF units carry both the envelope and
    the sign of each band.

    Returns:
        weights [units, frame_samples] float32, mask [units, frame_samples] bool (support).
    """
    units, frame = cfg.hidden_sizes[0], cfg.frame_samples
    weights = np.zeros((units, frame))
    mask = np.zeros((units, frame), dtype=bool)
    for k, unit in enumerate(bank_layout(cfg)):
        start, length = unit.start, unit.length
        s = np.arange(length) - (length - 1) / 2
        window = np.hanning(length + 2)[1:-1]          # no zero end taps inside the support
        w = window * np.cos(2 * np.pi * unit.freq_hz * s / SAMPLE_RATE_HZ
                            + unit.phase * np.pi / 2)
        weights[k, start:start + length] = w / np.linalg.norm(w)
        mask[k, start:start + length] = True
    return torch.from_numpy(weights).float(), torch.from_numpy(mask)


def grid_betas(n: int, tau_min: float, tau_max: float) -> torch.Tensor:
    """Per-neuron decays β = exp(−1/τ), τ log-spaced in [tau_min, tau_max], on the 1/4096 grid.

    Returns:
        [n] float64 tensor; every value is k/4096 for an integer k (so 1 − β is exact).
    """
    taus = np.geomspace(tau_min, tau_max, n) if n > 1 else np.array([tau_min])
    k = np.round(np.exp(-1.0 / taus) * DECAY_GRID)
    return torch.from_numpy(np.clip(k, 0, DECAY_GRID - 1) / DECAY_GRID)


def _lif_steps(lif: snn.Leaky, current: torch.Tensor, rec: nn.Linear | None) -> torch.Tensor:
    """Spikes [B, T, h] of one LIF layer driven by `current` [B, T, h] (plus `rec` of its own
    last spikes): snnTorch `Leaky.forward`'s arithmetic, inlined.

    Per step snnTorch computes the reset as H(U[t−1] − θ), detached, which is s[t−1] itself
    (the same membrane and threshold; U is only reset at the next step, reset_delay), then
    U[t] = clamp(β, 0, 1)·((1 − reset)·U[t−1]) + I[t] and s[t] = H(U[t] − θ) with the
    surrogate backward. The same operations in the same order give the same spikes and
    gradients bit for bit (tests/test_encoder.py); calling the module cost ~2 surrogate
    calls, the β clamp and a dozen small copies per layer and step.
    """
    beta = lif.beta.clamp(0, 1)
    threshold = lif.threshold
    spike = lif.spike_grad
    mem = torch.zeros_like(current[:, 0])
    spk = torch.zeros_like(current[:, 0])
    out = []
    for t in range(current.shape[1]):
        cur = current[:, t] if rec is None else current[:, t] + rec(spk)
        mem = beta * ((1 - spk.detach()) * mem) + cur
        spk = spike(mem - threshold)
        out.append(spk)
    return torch.stack(out, dim=1)


@dataclass
class EncoderTrace:
    """Spikes of every layer from one forward pass: `layers[i]` is [B, units_i, T] of 0/1."""

    layers: list[torch.Tensor] = field(default_factory=list)

    @property
    def z(self) -> torch.Tensor:
        return self.layers[-1]


class SpikingEncoder(nn.Module):
    """LIF layers over waveform frames; `forward(x)` returns z as [B, N, T] of 0/1 floats."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        sizes = (config.frame_samples, *config.layer_sizes)
        self.fc = nn.ModuleList(nn.Linear(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1))
        self.rec = nn.ModuleDict({
            str(i): nn.Linear(h, h, bias=False)
            for i, (h, r) in enumerate(zip(config.layer_sizes, config.layer_recurrent)) if r
        })
        spike_grad = triangle_surrogate(config.surrogate_scale)
        self.lif = nn.ModuleList()
        for h in config.layer_sizes:
            beta = grid_betas(h, config.tau_min_steps, config.tau_max_steps).float()
            self.lif.append(snn.Leaky(
                beta=beta, threshold=torch.full((h,), float(config.threshold)),
                spike_grad=spike_grad, reset_mechanism="zero", learn_beta=False,
                learn_threshold=False,
            ))
        if config.mu_levels:
            # E_i[μ]: zero at init, so that every level starts as the level-free network.
            self.mu_bias = nn.ModuleList(nn.Embedding(config.mu_levels, h)
                                         for h in config.layer_sizes)
            for emb in self.mu_bias:
                nn.init.zeros_(emb.weight)
        bank = (gabor_bank(config) if config.input_init == "gabor"
                or config.input_support == "banded" else None)
        self._init_weights(bank)
        if config.input_support == "banded":
            # The band is kept by masking the gradient, not by a parametrisation: the weight
            # stays a plain tensor with exact zeros (AdamW leaves a weight whose gradient is
            # always zero at zero), so NIR, Lava and the fixed-point path see ordinary Linear
            # weights and the synaptic-op counts see only the band. Not persistent: the
            # config defines it, and the state dict stays the plain weights.
            self.register_buffer("input_mask", bank[1].float(), persistent=False)
            self.fc[0].weight.register_hook(lambda g: g * self.input_mask.to(g.dtype))

    def _init_weights(self, bank: tuple[torch.Tensor, torch.Tensor] | None) -> None:
        # Input layer: unit-norm random filters, so the current is ~ gain·rms·√frame at init.
        # Spiking layers: scaled so that a ~10 % input rate drives the membrane to ~θ.
        for i, fc in enumerate(self.fc):
            fan_in = fc.in_features
            std = 1.0 / math.sqrt(fan_in) if i == 0 else 2.5 / math.sqrt(fan_in)
            nn.init.normal_(fc.weight, 0.0, std)
            nn.init.constant_(fc.bias, 0.0)
        for rec in self.rec.values():
            nn.init.normal_(rec.weight, 0.0, 0.5 / math.sqrt(rec.in_features))
        if bank is not None:
            weights, mask = bank
            with torch.no_grad():
                if self.config.input_init == "gabor":
                    self.fc[0].weight.copy_(weights)
                else:
                    self.fc[0].weight.mul_(mask)

    def check_mu(self, mu) -> None:
        """Raise ValueError unless `mu` (None, an int or a tensor of ints) suits this encoder."""
        if mu is None:
            return
        levels = self.config.mu_levels
        if not levels:
            raise ValueError("this encoder has no compression level μ (not a mu-sparse model)")
        values = torch.as_tensor(mu)
        if values.numel() and (int(values.min()) < 0 or int(values.max()) >= levels):
            raise ValueError(f"μ must be in [0, {levels - 1}], got {values.tolist()}")

    def layer_bias(self, i: int, mu=None) -> torch.Tensor:
        """Layer i's bias current: b_i ([h]), b_i + E_i[μ] ([h]) for an int μ, or [B, h] for
        a tensor of per-example levels. Computed in the module's dtype, so that `at_mu(μ)`,
        `run_float64(…, mu)` and the fixed-point path all see the same folded bias."""
        bias = self.fc[i].bias
        if mu is None:
            if self.config.mu_levels:
                # Silently running without a level would be a model nobody trained.
                raise ValueError("a mu-sparse encoder needs its level μ (or use at_mu(μ))")
            return bias
        self.check_mu(mu)
        levels = torch.as_tensor(mu, dtype=torch.long, device=bias.device)
        return bias + self.mu_bias[i](levels)

    def at_mu(self, mu: int) -> SpikingEncoder:
        """The level-free encoder this one is at level μ: biases b_i + E_i[μ] folded in.

        This is what conversion exports to NIR and Lava runs: a constant bias is all a
        level is, so the Lava graph, the fixed-point rounding and the replica stay as they
        are for every μ.
        """
        self.check_mu(mu)
        plain = SpikingEncoder(replace(self.config, mu_levels=0)).to(self.fc[0].weight.dtype)
        state = {k: v for k, v in self.state_dict().items() if not k.startswith("mu_bias.")}
        with torch.no_grad():
            for i in range(len(self.fc)):
                state[f"fc.{i}.bias"] = self.layer_bias(i, int(mu)).detach().clone()
        plain.load_state_dict(state)
        return plain.train(self.training)

    def forward(self, x: torch.Tensor, return_trace: bool = False, mu=None):
        """Encode waveforms.

        Args:
            x: [B, samples] waveform at 22,050 Hz (or [samples]).
            return_trace: also return every layer's spikes.
            mu: μ-SPARSE level: an int for the whole batch (the same arithmetic as
                `at_mu(mu)`), a [B] tensor of per-example levels (training), or None.
        Returns:
            z: [B, N, T] 0/1 tensor (x's dtype), T = ⌈samples / frame_samples⌉; with
            `return_trace`, (z, EncoderTrace).
        """
        if x.dim() == 1:
            x = x.unsqueeze(0)
        inp = frame_audio(x, self.config.frame_samples) * self.config.input_gain  # [B, T, F]
        trace = EncoderTrace()
        # Layer-major order: a layer's feed-forward currents for all steps are one matmul;
        # only the neuron update (and the recurrence) runs step by step.
        per_example = torch.is_tensor(mu) and mu.dim() == 1
        if mu is None and self.config.mu_levels:
            raise ValueError("a mu-sparse encoder needs its level μ (or use at_mu(μ))")
        for i, (fc, lif) in enumerate(zip(self.fc, self.lif)):
            if mu is None:
                current = fc(inp)                                # [B, T, h]
            elif per_example:
                current = nn.functional.linear(inp, fc.weight) + self.layer_bias(i, mu)[:, None]
            else:
                current = nn.functional.linear(inp, fc.weight, self.layer_bias(i, int(mu)))
            rec = self.rec[str(i)] if str(i) in self.rec else None
            inp = _lif_steps(lif, current, rec)                   # [B, T, h]
            trace.layers.append(inp.transpose(1, 2))
        z = trace.z
        return (z, trace) if return_trace else z

    def spiking_synops(self, trace: EncoderTrace) -> torch.Tensor:
        """Per clip [B], the synaptic operations of the projections that carry spikes:
        Σ_p Σ_j e_p[j]·fan_out_p[j], over the next layer's feed-forward weights and a layer's
        recurrence, e_p[j] the spikes of presynaptic neuron j over the clip and fan_out_p[j]
        the non-zero weights in its column: `hardware.counts`' synops without the graded
        input's, which a bank fixes (samples per frame × window) whatever the spikes.

        Differentiable through the spikes (their surrogate): these are the operations, and so
        the part of the Loihi energy, that training can lower (`--ops-budget-mops`). z has no
        projection on the encoder side: its events leave the chip.
        """
        total = trace.layers[0].new_zeros(trace.layers[0].shape[0])
        for i, spikes in enumerate(trace.layers):                    # [B, h_i, T]
            counts = spikes.sum(-1)                                  # [B, h_i]
            outgoing = [self.fc[i + 1].weight] if i + 1 < len(self.fc) else []
            outgoing += [self.rec[str(i)].weight] if str(i) in self.rec else []
            for weight in outgoing:                                  # [h_out, h_i]
                total = total + counts @ (weight != 0).sum(0).to(counts.dtype)
        return total

    @torch.no_grad()
    def run_float64(self, x: np.ndarray, mu: int | None = None) -> list[np.ndarray]:
        """Inference fast path: the same equations as `forward`, in float64 NumPy, one clip.

        snnTorch's per-step module call costs ~30 µs per layer, which caps `forward` near
        100× real time on a CPU; the same update as plain vector operations runs ~10× faster.
        The arithmetic order is snnTorch's ((1 − s)·U, then β·U + I), so in float64 the spikes
        equal `self.double()(x)` exactly (tested), and equal Lava's float64 LIF.

        Args:
            x: [samples] waveform.
            mu: μ-SPARSE level (folded into the biases, as `at_mu`), or None.
        Returns:
            per LIF layer, [units, T] uint8 spikes; the last is z.
        """
        cfg = self.config
        frames = frame_audio(torch.as_tensor(x, dtype=torch.float64).reshape(-1),
                             cfg.frame_samples)
        inp = frames.numpy() * cfg.input_gain                          # [T, frame]
        layers = []
        for i, (fc, lif) in enumerate(zip(self.fc, self.lif)):
            w = fc.weight.detach().double().numpy()
            bias = self.layer_bias(i, None if mu is None else int(mu))
            current = inp @ w.T + bias.detach().double().numpy()         # [T, h]
            rec = (self.rec[str(i)].weight.detach().double().numpy()
                   if str(i) in self.rec else None)
            beta = lif.beta.detach().double().clamp(0, 1).numpy()
            thr = lif.threshold.detach().double().numpy()
            mem = np.zeros(w.shape[0])
            spk = np.zeros(w.shape[0])
            out = np.zeros(current.shape, dtype=np.float64)
            for t in range(current.shape[0]):
                cur = current[t] if rec is None else current[t] + rec @ spk
                mem = beta * ((1.0 - spk) * mem) + cur
                spk = (mem - thr > 0).astype(np.float64)
                out[t] = spk
            layers.append(out.T.astype(np.uint8))
            inp = out
        return layers
