"""The generative refiner: a conditional flow-matching postfilter on the first stage's STFT.

Why a postfilter and why flow matching. The first stage is deterministic and trained with L1
losses, so it predicts the conditional mean of the spectrum: partials are right, but what
lies between them (the noise floor, decays, pauses) is an average that sits well above the
reference. A generative stage can put back what an average removes. Trained on a *frozen*
first stage, all of its compute goes to that, and it does not depend on the code: one refiner
is trained on the first-stage outputs of every shipped spiking model (FREE, SPARSE, μ-SPARSE at
all its levels), as FlowDec (Welker et al., 2025) puts a flow-matching postfilter on a
non-adversarial codec.

The domain is the magnitude-compressed complex STFT c(S) = |S|^κ e^{i∠S} (n_fft 1024, hop 256)
of the decoded waveform, scaled by `scale`, as real and imaginary channels (`analysis`; why the
decoded waveform's and not the first stage's own frames: `refine_audio`). With ĉ the first
stage's output's c(Ŝ) and c the reference's, the flow runs from x₀ = ĉ + σ ε (ε ~ N(0, I)) at t = 0
to x₁ = c at t = 1 along straight lines x_t = (1 − t) x₀ + t x₁, where σ follows the first
stage's local level (`prior_spread`). The network predicts the end point as a correction of
the first stage, x̂₁ = ĉ + Δ(x_t, t, ĉ), trained by MSE to x₁ (conditional flow matching,
Lipman et al. 2023, with FlowDec's prior centred on the first stage, in its end-point form);
the velocity is (x̂₁ − x_t)/(1 − t). Sampling integrates dx/dt = v from t = 0 to 1 with K
Euler steps (K network evaluations): K = 1 is the predictive (conditional-mean)
correction; more steps let the sample leave the mean. `sample(…, steps=0)` is the first stage.

The network sees frequency as structure (a band-split design, as BSRNN / BS-RoFormer): the 513
bins are cut into bands that widen with frequency (4 bins up to 1.4 kHz, 8 to 4.1 kHz, 16 to
8.3 kHz, 32 above), each band's bins (x_t and ĉ, real and imaginary) are projected by a linear
map of its own to C features, a stack of 2-D ConvNeXt blocks works on the (band × frame) grid
with the flow time as FiLM, and a linear map per band returns the velocity of its bins. Bands
keep the grid small (48 × 86 positions per second of audio), which is what lets it decode many
times faster than real time on two CPU cores.

A second network (`network="unet"`, `UNetRefiner`) sees every bin: a small 2-D U-Net over
(bin × frame), as FlowDec's and StoRM's score networks are, halving both axes at each level.
Where the band-split network mixes a band's bins through one linear map, the U-Net's 3 × 3
kernels see a partial's neighbourhood at the STFT's own resolution, at about four times the
operations. Both read and return the same tensors, so training, sampling and the file are
the same for either (`build_network`).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass

import torch
from torch import nn

from neuro_codec.errors import CheckpointError
from neuro_codec.fileio import atomic_path

REFINER_FORMAT = "neuro-codec-refiner"
REFINER_VERSION = 1

# (first bin, band width) of each band group at n_fft 1024, scaled for other sizes; the last
# band takes the bins that are left.
BAND_LAYOUT = ((0, 4), (64, 8), (192, 16), (384, 32))
LAYOUT_N_FFT = 1024
DOMAINS = ("complex", "magnitude")
PREDICTIONS = ("endpoint", "velocity")
NETWORKS = ("band-split", "unet")


@dataclass(frozen=True)
class RefinerConfig:
    """The refiner's domain, network and sampling default.

    Fields:
        n_fft, stft_hop: the STFT it works on (Hann window of n_fft samples).
        domain: "complex" (real and imaginary parts of c(S)) or "magnitude" (|S|^κ alone;
            the decoded audio's phase is kept).
        compress: κ of c(S) = |S|^κ e^{i∠S}.
        scale: c(S) is multiplied by this (unit-order data).
        sigma: σ_rel, the prior's spread around the first stage relative to the first
            stage's local magnitude (`prior_spread`).
        sigma_floor: σ_0, the spread where the first stage is silent (scaled units).
        channels: C, features per (band, frame) position.
        blocks: 2-D ConvNeXt blocks.
        kernel_bands, kernel_frames: the depthwise kernel over bands and frames.
        dilations: the blocks' dilation cycle (the same in bands and frames).
        time_dim: width of the flow-time embedding.
        prediction: what the network's output is. "endpoint": a correction Δ of the first
            stage, x̂₁ = ĉ + Δ, from which the velocity is (x̂₁ − x_t)/(1 − t); "velocity": v
            itself (the first design). Why the end point (`RefinerNetwork.endpoint`).
        default_steps: K of `neuro-codec decode` when none is asked for (chosen from
            benchmarks/refiner.py and stored in the file).
        network: "band-split" (`BandSplitRefiner`; `channels`, `blocks`, the kernels and
            `dilations` shape it) or "unet" (`UNetRefiner`; `unet_channels` shapes it).
        unet_channels: the U-Net's channels per level, full resolution first; each further
            level halves the bins and the frames.
    """

    n_fft: int = 1024
    stft_hop: int = 256
    domain: str = "magnitude"
    compress: float = 0.3
    scale: float = 2.0
    sigma: float = 0.25
    sigma_floor: float = 0.02
    channels: int = 64
    blocks: int = 6
    kernel_bands: int = 3
    kernel_frames: int = 5
    dilations: tuple[int, ...] = (1, 2, 4)
    time_dim: int = 64
    prediction: str = "endpoint"
    default_steps: int = 2
    network: str = "band-split"
    unet_channels: tuple[int, ...] = (16, 32, 64, 96)

    def __post_init__(self):
        object.__setattr__(self, "dilations", tuple(int(d) for d in self.dilations))
        object.__setattr__(self, "unet_channels", tuple(int(c) for c in self.unet_channels))
        if self.network not in NETWORKS:
            raise ValueError(f"network must be one of {NETWORKS}, got {self.network!r}")
        if not self.unet_channels or min(self.unet_channels) < 1:
            raise ValueError(f"unet_channels must be ≥ 1, got {self.unet_channels}")
        if self.domain not in DOMAINS:
            raise ValueError(f"domain must be one of {DOMAINS}, got {self.domain!r}")
        if self.prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}, got "
                             f"{self.prediction!r}")
        if not 0 < self.compress <= 1:
            raise ValueError(f"compress must be in (0, 1], got {self.compress}")
        for name in ("scale", "sigma", "sigma_floor"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("channels", "blocks", "kernel_bands", "kernel_frames", "time_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if not self.dilations or min(self.dilations) < 1:
            raise ValueError(f"dilations must be ≥ 1, got {self.dilations}")
        if self.default_steps < 0:
            raise ValueError(f"default_steps must be ≥ 0, got {self.default_steps}")
        if self.n_fft < 64 or self.n_fft % 64:
            raise ValueError(f"n_fft must be a multiple of 64, got {self.n_fft}")

    @property
    def domain_channels(self) -> int:
        """Real channels per bin: 2 (real, imaginary) or 1 (magnitude)."""
        return 2 if self.domain == "complex" else 1

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    def bands(self) -> list[tuple[int, int]]:
        """(first bin, width) of every band, covering bins 0…n_bins − 1 once."""
        factor = self.n_fft / LAYOUT_N_FFT
        layout = [(round(start * factor), max(1, round(width * factor)))
                  for start, width in BAND_LAYOUT]
        out = []
        edges = [start for start, _ in layout[1:]] + [self.n_bins]
        for (start, width), stop in zip(layout, edges):
            out += [(b, min(width, stop - b)) for b in range(start, stop, width)]
        if len(out) > 1 and out[-1][1] < out[-2][1] // 2:   # a sliver joins its neighbour
            (b, w), (_, w_last) = out[-2], out.pop()
            out[-1] = (b, w + w_last)
        return out

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RefinerConfig:
        # Files written before `prediction` existed hold velocity networks.
        return cls(**{"prediction": "velocity", **d})


def to_domain(spec: torch.Tensor, cfg: RefinerConfig) -> torch.Tensor:
    """Complex STFT [B, F, M] → the refiner's real domain: scaled c(S) as [B, 2, F, M] (real,
    imaginary), or its magnitude scale·|S|^κ as [B, 1, F, M]."""
    if cfg.domain == "magnitude":
        return (cfg.scale * spec.abs() ** cfg.compress).unsqueeze(1)
    c = spec * (spec.abs() + 1e-8) ** (cfg.compress - 1.0) * cfg.scale
    return torch.stack([c.real, c.imag], dim=1)


def from_domain(x: torch.Tensor, cfg: RefinerConfig,
                phase: torch.Tensor | None = None) -> torch.Tensor:
    """The inverse of `to_domain` → complex STFT [B, F, M]; the magnitude domain takes its
    phase from `phase` (unit phasors [B, F, M]; negative magnitudes count as 0)."""
    if cfg.domain == "magnitude":
        if phase is None:
            raise ValueError("the magnitude domain needs the phase to return to an STFT")
        return (x[:, 0].clamp(min=0) / cfg.scale) ** (1.0 / cfg.compress) * phase
    c = torch.complex(x[:, 0], x[:, 1]) / cfg.scale
    return c * (c.abs() + 1e-8) ** (1.0 / cfg.compress - 1.0)


def _time_features(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of flow times t ∈ [0, 1] ([B] → [B, dim])."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device) / half)
    args = 1000.0 * t.float()[:, None] * freqs
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class _Block2d(nn.Module):
    """2-D ConvNeXt block on [B, C, bands, frames]: depthwise conv → LayerNorm over C →
    FiLM(t) → MLP → residual with a layer scale."""

    def __init__(self, cfg: RefinerConfig, dilation: int):
        super().__init__()
        c, kb, kf = cfg.channels, cfg.kernel_bands, cfg.kernel_frames
        self.dwconv = nn.Conv2d(c, c, (kb, kf), padding=(dilation * (kb // 2),
                                                         dilation * (kf // 2)),
                                dilation=dilation, groups=c)
        self.norm = nn.LayerNorm(c)
        self.film = nn.Linear(cfg.time_dim, 2 * c)
        self.pw1 = nn.Linear(c, 2 * c)
        self.pw2 = nn.Linear(2 * c, c)
        self.gamma = nn.Parameter(torch.full((c,), 0.1))

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.dwconv(x).permute(0, 2, 3, 1))               # [B, K, M, C]
        scale, shift = self.film(temb)[:, None, None, :].chunk(2, dim=-1)
        h = self.pw2(nn.functional.gelu(self.pw1(h * (1 + scale) + shift)))
        return x + (self.gamma * h).permute(0, 3, 1, 2)


class RefinerNetwork(nn.Module):
    """What every refiner network is: (x_t [B, d, F, M], t [B], ĉ [B, d, F, M]) → its raw
    output [B, d, F, M], read as a correction of ĉ or as a velocity
    (`RefinerConfig.prediction`); `endpoint` and `velocity` give either quantity whatever the
    reading. Its output layer starts at zero."""

    def __init__(self, cfg: RefinerConfig):
        super().__init__()
        self.cfg = cfg

    def _make_time_mlp(self) -> None:
        """The flow time's MLP, made by each subclass where its parameters belong in the
        order (the optimiser's state is matched by position: moving a parameter breaks
        `--resume` of older runs and the seeded draws of a fresh one)."""
        td = self.cfg.time_dim
        self.time_mlp = nn.Sequential(nn.Linear(td, 4 * td), nn.SiLU(), nn.Linear(4 * td, td))

    def time_embedding(self, t: torch.Tensor) -> torch.Tensor:
        return self.time_mlp(_time_features(t, self.cfg.time_dim))

    def endpoint(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x̂₁, the end point of the flow through x_t at time t.

        Why predict the end point as ĉ + Δ: the output layer starts at zero, so an untrained
        refiner *is* the first stage (every K lands on ĉ), and training only has to learn
        what the first stage gets wrong. A velocity network starts as "stay where the noise
        put you" and must first learn to undo the prior's noise in the loud bins, which
        dominate the mel distance: after 3,000 steps its one-step output (the conditional
        mean) was still 10 % further from the reference in mel distance than ĉ itself.
        """
        return end_point(self.cfg, self(x_t, t, cond), x_t, t, cond)

    def velocity(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """v(x_t, t, ĉ) = (x̂₁ − x_t)/(1 − t) for an end-point network (t < 1)."""
        if self.cfg.prediction == "velocity":
            return self(x_t, t, cond)
        return (self.endpoint(x_t, t, cond) - x_t) / (1 - t)[:, None, None, None]


class BandSplitRefiner(RefinerNetwork):
    """The band-split network (the module's docstring): per-band linear maps in and out, 2-D
    ConvNeXt blocks over (band × frame) between them."""

    def __init__(self, cfg: RefinerConfig):
        super().__init__(cfg)
        self.band_edges = cfg.bands()
        c, d = cfg.channels, cfg.domain_channels
        self.band_in = nn.ModuleList(nn.Linear(2 * d * w, c) for _, w in self.band_edges)
        self.band_out = nn.ModuleList(nn.Linear(c, d * w) for _, w in self.band_edges)
        for lin in self.band_out:   # starts as v = 0: the sample stays at the prior's mean
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)
        self.band_pos = nn.Parameter(torch.zeros(1, c, len(self.band_edges), 1))
        self._make_time_mlp()
        self.blocks = nn.ModuleList(_Block2d(cfg, cfg.dilations[i % len(cfg.dilations)])
                                    for i in range(cfg.blocks))
        self.norm = nn.LayerNorm(c)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        inp = torch.cat([x_t, cond], dim=1)                              # [B, 2d, F, M]
        b, ch, _, m = inp.shape
        d = ch // 2
        h = torch.stack([lin(inp[:, :, s:s + w].permute(0, 3, 1, 2).reshape(b, m, ch * w))
                         for lin, (s, w) in zip(self.band_in, self.band_edges)], dim=1)
        h = h.permute(0, 3, 1, 2) + self.band_pos                         # [B, C, K, M]
        temb = self.time_embedding(t)
        for block in self.blocks:
            h = block(h, temb)
        h = self.norm(h.permute(0, 2, 3, 1))                              # [B, K, M, C]
        out = [lin(h[:, k]).reshape(b, m, d, w)
               for k, (lin, (_, w)) in enumerate(zip(self.band_out, self.band_edges))]
        return torch.cat(out, dim=-1).permute(0, 2, 3, 1)                 # [B, d, F, M]


class _ChannelNorm(nn.Module):
    """LayerNorm over the channels at every (bin, frame) of [B, C, F, M]: local, so a
    refiner trained on short crops normalises a whole piece the same way (GroupNorm's
    statistics would span the clip, and a piece's pauses would change them)."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class _ResBlock2d(nn.Module):
    """norm → SiLU → 3 × 3 conv → FiLM(t) → norm → SiLU → 3 × 3 conv, plus the input (through
    a 1 × 1 conv where the channels change): the residual block of a diffusion U-Net."""

    def __init__(self, c_in: int, c_out: int, time_dim: int):
        super().__init__()
        self.norm1, self.norm2 = _ChannelNorm(c_in), _ChannelNorm(c_out)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.film = nn.Linear(time_dim, 2 * c_out)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(nn.functional.silu(self.norm1(x)))
        scale, shift = self.film(temb)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        return self.skip(x) + self.conv2(nn.functional.silu(h))


class UNetRefiner(RefinerNetwork):
    """A 2-D U-Net over (bin × frame): a residual block per level on the way down, one more at
    the bottom, and one per level on the way up after the skip is concatenated; a stride-2
    convolution between levels and a stride-2 transposed one back. The input is zero-padded
    at the high-bin and late-frame ends to a multiple of 2^(levels − 1) in both axes, and the
    output cropped back."""

    def __init__(self, cfg: RefinerConfig):
        super().__init__(cfg)
        self._make_time_mlp()
        ch, d, td = cfg.unet_channels, cfg.domain_channels, cfg.time_dim
        self.stem = nn.Conv2d(2 * d, ch[0], 3, padding=1)
        self.down = nn.ModuleList(_ResBlock2d(c, c, td) for c in ch)
        self.pool = nn.ModuleList(nn.Conv2d(a, b, 3, stride=2, padding=1)
                                  for a, b in zip(ch, ch[1:]))
        self.unpool = nn.ModuleList(nn.ConvTranspose2d(b, a, 2, stride=2)
                                    for a, b in zip(ch, ch[1:]))
        self.up = nn.ModuleList(_ResBlock2d(2 * c, c, td) for c in ch[:-1])
        self.mid = _ResBlock2d(ch[-1], ch[-1], td)
        self.norm = _ChannelNorm(ch[0])
        self.out = nn.Conv2d(ch[0], d, 1)
        nn.init.zeros_(self.out.weight)   # starts at zero, as the band-split network
        nn.init.zeros_(self.out.bias)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        n_f, n_m = x_t.shape[-2:]
        mult = 2 ** (len(self.cfg.unet_channels) - 1)
        inp = nn.functional.pad(torch.cat([x_t, cond], dim=1),
                                (0, -n_m % mult, 0, -n_f % mult))
        temb = self.time_embedding(t)
        h = self.stem(inp)
        skips = []
        for level, block in enumerate(self.down):
            h = block(h, temb)
            if level < len(self.pool):
                skips.append(h)
                h = self.pool[level](h)
        h = self.mid(h, temb)
        for level in reversed(range(len(self.up))):
            h = self.up[level](torch.cat([self.unpool[level](h), skips[level]], dim=1), temb)
        return self.out(nn.functional.silu(self.norm(h)))[..., :n_f, :n_m]


def build_network(cfg: RefinerConfig) -> RefinerNetwork:
    """The network `cfg.network` names, freshly initialised."""
    return UNetRefiner(cfg) if cfg.network == "unet" else BandSplitRefiner(cfg)


def end_point(cfg: RefinerConfig, out: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor,
              cond: torch.Tensor) -> torch.Tensor:
    """x̂₁ from the network's raw output `out` at (x_t, t, ĉ), in either reading: ĉ + out for
    an end-point network, x_t + (1 − t)·out for a velocity one. A function of the output, not
    a method, so that training can call the (possibly DDP-wrapped) network itself."""
    if cfg.prediction == "endpoint":
        return cond + out
    return x_t + (1 - t)[:, None, None, None] * out


def prior_spread(first: torch.Tensor, cfg: RefinerConfig) -> torch.Tensor:
    """σ(f, t) = σ_rel · m(f, t) + σ_0, [B, 1, F, M]: m is ĉ's magnitude averaged over 3 bins ×
    3 frames.

    Why not one σ everywhere (PriorGrad, Lee et al. 2022, for the same reason): the residual
    scales with the signal. A σ wide enough to let loud bins leave the conditional mean (their
    phase is the least predictable part) puts audible noise into pauses and into the floor
    between partials, which the network must then learn to remove exactly; one narrow enough
    for the pauses makes the flow deterministic, and a deterministic flow trained by MSE
    returns the conditional mean, whose magnitudes shrink where the phase is uncertain. A
    spread that follows the first stage's own level is wide where there is sound and narrow
    where there is none.
    """
    m = torch.hypot(first[:, 0:1], first[:, 1:2]) if first.shape[1] == 2 else first.abs()
    m = nn.functional.avg_pool2d(m, 3, stride=1, padding=1, count_include_pad=False)
    return cfg.sigma * m + cfg.sigma_floor


def flow_matching_loss(net: RefinerNetwork, first: torch.Tensor, target: torch.Tensor,
                       generator: torch.Generator | None = None,
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Conditional flow matching at t ~ U[0, 1), with x₀ = ĉ + σ(ĉ) ε (`prior_spread`): the
    MSE of x̂₁ to x₁ for an end-point network (the velocity MSE weighted by (1 − t)², which
    keeps t → 1 from dominating), of v to x₁ − x₀ for a velocity network.

    Args:
        first: ĉ, the first stage's spectrum in the refiner's domain [B, 2, F, M].
        target: c, the reference's [B, 2, F, M].
    Returns:
        (the MSE, x̂₁ (`end_point`) [B, d, F, M], on which the training loop adds its mel
        term; from t = 0 it is the one-step sample.)
    """
    cfg = getattr(net, "module", net).cfg   # net may be DDP-wrapped
    b = first.shape[0]
    t = torch.rand(b, device=first.device, generator=generator)
    x0 = first + prior_spread(first, cfg) * torch.randn(first.shape, device=first.device,
                                                        generator=generator)
    tt = t[:, None, None, None]
    x_t = (1 - tt) * x0 + tt * target
    out = net(x_t, t, first)
    x1_hat = end_point(cfg, out, x_t, t, first)
    if cfg.prediction == "endpoint":
        return torch.mean((x1_hat - target) ** 2), x1_hat
    return torch.mean((out - (target - x0)) ** 2), x1_hat


@torch.no_grad()
def sample(net: RefinerNetwork, first: torch.Tensor, steps: int,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Integrate dx/dt = v(x, t, ĉ) from x₀ = ĉ + σ(ĉ) ε at t = 0 to t = 1 in `steps` Euler
    steps (one network evaluation each); `steps` = 0 returns ĉ unchanged. [B, 2, F, M]."""
    if steps < 0:
        raise ValueError(f"steps must be ≥ 0, got {steps}")
    if steps == 0:
        return first
    x = first + prior_spread(first, net.cfg) * torch.randn(first.shape, device=first.device,
                                                           generator=generator)
    for k in range(steps):
        t = torch.full((first.shape[0],), k / steps, device=first.device)
        # The Euler step v/K = (x̂₁ − x)/(1 − t) · 1/K, in the form that lands on x̂₁ at the
        # last step (for a velocity network it is x + v/K again).
        x = x + (net.endpoint(x, t, first) - x) / (steps - k)
    return x


def analysis(x: torch.Tensor, cfg: RefinerConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Waveforms [B, L] → (their STFT in the refiner's domain, [B, d, F, L/hop + 1]; the unit
    phasors of that STFT, [B, F, L/hop + 1]) (centred Hann frames)."""
    window = torch.hann_window(cfg.n_fft, device=x.device)
    spec = torch.stft(x, cfg.n_fft, cfg.stft_hop, window=window, center=True,
                      return_complex=True)
    return to_domain(spec, cfg), spec / (spec.abs() + 1e-12)


def synthesis(y: torch.Tensor, cfg: RefinerConfig, n_samples: int,
              phase: torch.Tensor | None = None) -> torch.Tensor:
    """The inverse of `analysis`: [B, d, F, frames] (and, for the magnitude domain, the unit
    phasors to give it) → waveforms [B, n_samples]."""
    window = torch.hann_window(cfg.n_fft, device=y.device)
    return torch.istft(from_domain(y, cfg, phase), cfg.n_fft, cfg.stft_hop, window=window,
                       center=True, length=n_samples)


@torch.no_grad()
def refine_audio(net: RefinerNetwork, x: torch.Tensor, steps: int,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """The first stage's waveforms [B, L] → refined waveforms [B, L] (steps = 0: unchanged).

    The refiner reads the STFT *of the decoded waveform*, not the first stage's own STFT
    frames: the head's frames are not a consistent STFT (overlap-add cancels much of them; the
    STFT of their inverse is far from them), so only the decoded audio's spectrum says what
    the listener hears. It also makes the refiner a postfilter of any decoded audio. In the
    magnitude domain the decoded audio's phase is kept.
    """
    if steps == 0:
        return x
    y, phase = analysis(x, net.cfg)
    return synthesis(sample(net, y, steps, generator), net.cfg, x.shape[-1], phase)


@dataclass
class RefinerFile:
    """A refiner on disk: config, weights, training step and config, free-form `extra`
    (what it was trained on). Saved with `torch.save`, read with `weights_only=True`."""

    config: RefinerConfig
    state: dict
    step: int = 0
    train_config: dict | None = None
    optimizer: dict | None = None
    extra: dict | None = None

    def build(self) -> RefinerNetwork:
        net = build_network(self.config)
        net.load_state_dict(self.state)
        return net.eval()

    def save(self, path: str | os.PathLike) -> None:
        data = {"format": REFINER_FORMAT, "version": REFINER_VERSION,
                "config": self.config.to_dict(),
                "state": {k: v.detach().cpu() for k, v in self.state.items()},
                "step": self.step, "train_config": self.train_config,
                "optimizer": self.optimizer, "extra": self.extra or {}}
        with atomic_path(path) as tmp:
            torch.save(data, tmp)

    @classmethod
    def read(cls, path: str | os.PathLike) -> RefinerFile:
        """Raises: CheckpointError: not a readable refiner file, or one of another version."""
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:   # torch raises many types for foreign or corrupt files
            why = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise CheckpointError(f"{path} is not a readable refiner file ({why})") from None
        if not isinstance(data, dict) or data.get("format") != REFINER_FORMAT:
            raise CheckpointError(f"{path} is not a neuro-codec refiner file")
        if data.get("version") != REFINER_VERSION:
            raise CheckpointError(f"{path} is refiner version {data.get('version')}; this "
                                  f"release reads version {REFINER_VERSION}")
        try:
            config = RefinerConfig.from_dict(data["config"])
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{path} has an invalid refiner config: {e}") from None
        return cls(config, data["state"], int(data.get("step", 0)), data.get("train_config"),
                   data.get("optimizer"), data.get("extra"))
