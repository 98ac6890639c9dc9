"""The decoder's first stage, at the frame rate: from events to an STFT to a waveform.

Vocos-style: z [B, N, T] → Conv1d → ConvNeXt blocks at the event-frame rate → LayerNorm →
Linear to `stft_per_frame` STFT frames per event frame, each a log-magnitude and a phase per
bin → complex STFT Ŝ → `torch.istft` → waveform. It works on 43 frames per second instead of
22,050 samples, which is why it trains on two CPU cores (docs/model.md, calibration runs).
The flow-matching postfilter that may refine its waveform is `model.refiner`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from neuro_codec.data.audio import HOP_SAMPLES
from neuro_codec.model.spectral import hann

# Fields of the joint diffusion refiner, removed (docs/model.md): every checkpoint saved
# before stores them, the shipped ones with refiner_blocks = 0, which `from_dict` reads.
RETIRED_FIELDS = ("refiner_dim", "refiner_blocks", "time_dim", "compress", "residual_scale")


@dataclass(frozen=True)
class DecoderConfig:
    """Sizes of the first stage.

    Fields:
        n_units: N, event channels (rows of z).
        frame_samples: samples per event frame (the hop; the encoder's `frame_samples`).
        dim, hidden, blocks, kernel: ConvNeXt width, MLP width, depth, depthwise kernel
            (in event frames) of the first stage.
        n_fft, stft_hop: the STFT the head predicts (Hann window of n_fft samples).
        max_log_magnitude: the head's log-magnitude is clipped here (exp(4.6) ≈ 100, Vocos).
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
    mu_levels: int = 0

    def __post_init__(self):
        if self.frame_samples % self.stft_hop:
            raise ValueError(f"frame_samples={self.frame_samples} must be a multiple of "
                             f"stft_hop={self.stft_hop}")
        if self.n_fft < self.stft_hop or self.n_fft % 2:
            raise ValueError(f"n_fft must be even and ≥ stft_hop, got {self.n_fft}")
        for name in ("dim", "hidden", "blocks", "kernel"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")
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
        """The config of a stored dict; the joint refiner's retired fields are dropped.

        Raises:
            ValueError: a dict of a decoder with joint refiner blocks (its weights do not fit).
        """
        if d.get("refiner_blocks", 0):
            raise ValueError(f"refiner_blocks={d['refiner_blocks']}: a decoder with the joint "
                             f"diffusion refiner, which was removed (its weights do not fit)")
        return cls(**{k: v for k, v in d.items() if k not in RETIRED_FIELDS})


class ConvNeXtBlock(nn.Module):
    """Depthwise conv → LayerNorm → MLP, residual with a layer scale (ConvNeXt, as Vocos)."""

    def __init__(self, dim: int, hidden: int, kernel: int):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pw1 = nn.Linear(dim, hidden)
        self.pw2 = nn.Linear(hidden, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1.0 / 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.dwconv(x).transpose(1, 2))                 # [B, T, C]
        h = self.pw2(nn.functional.gelu(self.pw1(h)))
        return x + (self.gamma * h).transpose(1, 2)


def hann_window(cfg: DecoderConfig, device=None) -> torch.Tensor:
    """The head's Hann window, cached per device (`spectral.hann`): not rebuilt every step."""
    return hann(cfg.n_fft, str(torch.device(device or "cpu")))


def istft(spec: torch.Tensor, cfg: DecoderConfig, n_samples: int) -> torch.Tensor:
    """complex [B, F, frames] → [B, n_samples]."""
    return torch.istft(spec, cfg.n_fft, cfg.stft_hop, window=hann_window(cfg, spec.device),
                       center=True, length=n_samples)


class FirstStage(nn.Module):
    """z [B, N, T] (and μ) → complex STFT [B, F, T·stft_per_frame]."""

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

    def forward(self, z: torch.Tensor, mu: torch.Tensor | None = None) -> torch.Tensor:
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
        return torch.polar(torch.exp(log_mag), phase).transpose(1, 2)  # [B, F, frames]
