"""The decoder's networks, all at the frame rate: a first stage from events to an STFT, and a
diffusion refiner of that STFT's residual.

First stage (Vocos-style): z [B, N, T] → Conv1d → ConvNeXt blocks at the event-frame rate →
LayerNorm → Linear to `stft_per_frame` STFT frames per event frame, each a log-magnitude and a
phase per bin → complex STFT Ŝ → `torch.istft` → waveform. It works on 43 frames per second
instead of 22,050 samples, which is why it trains on two CPU cores (docs/model.md, calibration
runs).

Refiner (a v-objective diffusion, docs/model.md): in the magnitude-compressed STFT domain
c(S) = |S|^κ · e^{i∠S}, it models the residual r = c(S) − c(Ŝ) given the first stage's
features and c(Ŝ). A few sampling steps add what a deterministic decoder averages away;
`steps = 0` is the first stage alone.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from neuro_codec.data.audio import HOP_SAMPLES
from neuro_codec.model.spectral import hann


@dataclass(frozen=True)
class DecoderConfig:
    """Sizes of the first stage and the refiner.

    Fields:
        n_units: N, event channels (rows of z).
        frame_samples: samples per event frame (the hop; the encoder's `frame_samples`).
        dim, hidden, blocks, kernel: ConvNeXt width, MLP width, depth, depthwise kernel
            (in event frames) of the first stage.
        n_fft, stft_hop: the STFT the head predicts (Hann window of n_fft samples).
        max_log_magnitude: the head's log-magnitude is clipped here (exp(4.6) ≈ 100, Vocos).
        refiner_dim, refiner_blocks: width and depth of the diffusion refiner (0 blocks: none).
        time_dim: width of the diffusion-time embedding.
        compress: κ, the magnitude exponent of the domain the refiner works in.
        residual_scale: the residual is divided by this before diffusion (unit-order data).
        mu_levels: μ-SPARSE's levels (0: none): the first stage adds a learned E_post[μ] to
            its input features, so that it knows how sparse the events it reads are.
    """

    n_units: int = 80
    frame_samples: int = HOP_SAMPLES
    dim: int = 256
    hidden: int = 768
    blocks: int = 6
    kernel: int = 7
    n_fft: int = 1024
    stft_hop: int = 256
    max_log_magnitude: float = 4.6
    refiner_dim: int = 256
    refiner_blocks: int = 3
    time_dim: int = 64
    compress: float = 0.5
    residual_scale: float = 1.0
    mu_levels: int = 0

    def __post_init__(self):
        if self.frame_samples % self.stft_hop:
            raise ValueError(f"frame_samples={self.frame_samples} must be a multiple of "
                             f"stft_hop={self.stft_hop}")
        if self.n_fft < self.stft_hop or self.n_fft % 2:
            raise ValueError(f"n_fft must be even and ≥ stft_hop, got {self.n_fft}")
        for name in ("dim", "hidden", "blocks", "kernel", "refiner_dim", "time_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if self.refiner_blocks < 0:
            raise ValueError(f"refiner_blocks must be ≥ 0, got {self.refiner_blocks}")
        if not 0 < self.compress <= 1:
            raise ValueError(f"compress must be in (0, 1], got {self.compress}")
        if self.residual_scale <= 0:
            raise ValueError(f"residual_scale must be > 0, got {self.residual_scale}")
        if self.mu_levels < 0:
            raise ValueError(f"mu_levels must be ≥ 0, got {self.mu_levels}")

    @property
    def stft_per_frame(self) -> int:
        return self.frame_samples // self.stft_hop

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DecoderConfig:
        return cls(**d)


def sinusoidal(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer-style sinusoidal features of `positions` ([...]) → [..., dim]."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=positions.device) / half)
    args = positions.float().unsqueeze(-1) * freqs
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class ConvNeXtBlock(nn.Module):
    """Depthwise conv → LayerNorm → MLP, residual with a layer scale (ConvNeXt, as Vocos).

    With `cond_dim`, a FiLM (scale, shift) of the normalised features from a vector (the
    diffusion time).
    """

    def __init__(self, dim: int, hidden: int, kernel: int, cond_dim: int = 0):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.film = nn.Linear(cond_dim, 2 * dim) if cond_dim else None
        self.pw1 = nn.Linear(dim, hidden)
        self.pw2 = nn.Linear(hidden, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1.0 / 8))

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm(self.dwconv(x).transpose(1, 2))                 # [B, T, C]
        if self.film is not None:
            scale, shift = self.film(cond).unsqueeze(1).chunk(2, dim=-1)
            h = h * (1 + scale) + shift
        h = self.pw2(nn.functional.gelu(self.pw1(h)))
        return x + (self.gamma * h).transpose(1, 2)


def hann_window(cfg: DecoderConfig, device=None) -> torch.Tensor:
    """The head's Hann window, cached per device (`spectral.hann`): not rebuilt every step."""
    return hann(cfg.n_fft, str(torch.device(device or "cpu")))


def stft(x: torch.Tensor, cfg: DecoderConfig) -> torch.Tensor:
    """[B, L] → complex [B, F, L/stft_hop] (centred frames; the last, half-outside, dropped so
    that the frame count equals the head's)."""
    spec = torch.stft(x, cfg.n_fft, cfg.stft_hop, window=hann_window(cfg, x.device),
                      center=True, return_complex=True)
    return spec[..., : x.shape[-1] // cfg.stft_hop]


def istft(spec: torch.Tensor, cfg: DecoderConfig, n_samples: int) -> torch.Tensor:
    """complex [B, F, frames] → [B, n_samples]."""
    return torch.istft(spec, cfg.n_fft, cfg.stft_hop, window=hann_window(cfg, spec.device),
                       center=True, length=n_samples)


def compress(spec: torch.Tensor, kappa: float) -> torch.Tensor:
    """c(S) = |S|^κ e^{i∠S} as real [B, 2F, frames] (real parts, then imaginary parts)."""
    c = spec * (spec.abs() + 1e-8) ** (kappa - 1.0)
    return torch.cat([c.real, c.imag], dim=1)


def decompress(y: torch.Tensor, kappa: float) -> torch.Tensor:
    """The inverse of `compress`: real [B, 2F, frames] → complex [B, F, frames]."""
    c = torch.complex(*y.chunk(2, dim=1))
    return c * (c.abs() + 1e-8) ** (1.0 / kappa - 1.0)


class FirstStage(nn.Module):
    """z [B, N, T] (and μ) → (features [B, dim, T], complex STFT [B, F, T·stft_per_frame])."""

    def __init__(self, cfg: DecoderConfig):
        super().__init__()
        self.cfg = cfg
        self.conv_in = nn.Conv1d(cfg.n_units, cfg.dim, cfg.kernel, padding=cfg.kernel // 2)
        if cfg.mu_levels:
            self.mu_embed = nn.Embedding(cfg.mu_levels, cfg.dim)
            nn.init.zeros_(self.mu_embed.weight)
        self.blocks = nn.ModuleList(ConvNeXtBlock(cfg.dim, cfg.hidden, cfg.kernel)
                                    for _ in range(cfg.blocks))
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.stft_per_frame * 2 * cfg.n_bins)

    def forward(self, z: torch.Tensor,
                mu: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """mu: μ-SPARSE levels, [B] (one per clip) or [B, T] (one per frame: a file whose
        segments were coded at different levels); required iff the config has levels."""
        cfg = self.cfg
        h = self.conv_in(z)
        if cfg.mu_levels:
            if mu is None:
                raise ValueError("a mu-sparse decoder needs the level μ of its events")
            e = self.mu_embed(mu.to(device=z.device, dtype=torch.long))
            h = h + (e[:, :, None] if e.dim() == 2 else e.transpose(1, 2))
        elif mu is not None:
            raise ValueError("this decoder has no compression level μ (not a mu-sparse model)")
        for block in self.blocks:
            h = block(h)
        out = self.head(self.norm(h.transpose(1, 2)))                  # [B, T, per·2F]
        b, t, _ = out.shape
        out = out.reshape(b, t * cfg.stft_per_frame, 2, cfg.n_bins)
        log_mag = out[:, :, 0].clamp(max=cfg.max_log_magnitude)
        phase = out[:, :, 1]
        spec = torch.polar(torch.exp(log_mag), phase).transpose(1, 2)  # [B, F, frames]
        return h, spec


class Refiner(nn.Module):
    """v-prediction network of the STFT residual: (r_t [B, 2F, M], t [B], features
    [B, dim, T], c(Ŝ) [B, 2F, M]) → v̂ [B, 2F, M], with M = T·stft_per_frame."""

    def __init__(self, cfg: DecoderConfig):
        super().__init__()
        self.cfg = cfg
        td = cfg.time_dim
        self.time_mlp = nn.Sequential(nn.Linear(td, 4 * td), nn.SiLU(), nn.Linear(4 * td, td))
        self.proj_in = nn.Conv1d(4 * cfg.n_bins + cfg.dim, cfg.refiner_dim, 1)
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(cfg.refiner_dim, 3 * cfg.refiner_dim, cfg.kernel, cond_dim=td)
            for _ in range(cfg.refiner_blocks))
        self.norm = nn.LayerNorm(cfg.refiner_dim)
        self.proj_out = nn.Linear(cfg.refiner_dim, 2 * cfg.n_bins)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, r_t: torch.Tensor, timesteps: torch.Tensor, features: torch.Tensor,
                first: torch.Tensor) -> torch.Tensor:
        temb = self.time_mlp(sinusoidal(timesteps, self.cfg.time_dim))
        feats = features.repeat_interleave(self.cfg.stft_per_frame, dim=-1)
        h = self.proj_in(torch.cat([r_t, first, feats], dim=1))
        for block in self.blocks:
            h = block(h, temb)
        return self.proj_out(self.norm(h.transpose(1, 2))).transpose(1, 2)
