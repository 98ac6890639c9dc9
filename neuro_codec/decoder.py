"""The decoder's networks: context integration over the events, and a 1-D diffusion U-Net.

Context integration (the paper's `IntegrateContext`): a depthwise Conv1d over z (kernel 3,
"same"), a linear map to the model width with sinusoidal positions, a Transformer encoder with
a causal mask, and a linear map to the conditioning channels, one vector per frame.

The U-Net works on the waveform (Mousai-style): resolution falls by the given factors; at the
depth whose stride equals the hop (512 samples) the conditioning frames are concatenated to
the features. diffusers' `UNet1DModel` is built for Dance Diffusion (no channel conditioning
at a chosen depth), so the U-Net is written here from torch blocks; the noise schedule and the
samplers come from diffusers (see `diffusion.py`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class DecoderConfig:
    """Sizes of the context integrator and the U-Net.

    Fields:
        n_units: N, event channels (rows of z).
        hop_samples: samples per event frame; the U-Net injects the context at this stride.
        context_dim: width of the Transformer.
        context_layers, context_heads, context_ffn: Transformer depth, heads, feed-forward width.
        context_dropout: dropout in the Transformer (the paper's 0.1).
        cond_channels: conditioning channels handed to the U-Net.
        unet_channels: channels at each U-Net depth, stride 1 first (len = len(factors) + 1).
        unet_factors: downsampling factor between depths; a prefix must multiply to hop_samples.
        unet_blocks: residual blocks per depth on the way down (and up).
        time_dim: width of the diffusion-time embedding.
        signal_scale: waveform multiplier before diffusion (piano RMS ~0.1 → nearer unit scale).
    """

    n_units: int = 80
    hop_samples: int = 512
    context_dim: int = 128
    context_layers: int = 2
    context_heads: int = 4
    context_ffn: int = 256
    context_dropout: float = 0.1
    cond_channels: int = 64
    unet_channels: tuple[int, ...] = (16, 32, 64, 96, 128, 128)
    unet_factors: tuple[int, ...] = (4, 4, 4, 4, 2)
    unet_blocks: int = 1
    time_dim: int = 64
    signal_scale: float = 3.0

    def __post_init__(self):
        object.__setattr__(self, "unet_channels", tuple(int(c) for c in self.unet_channels))
        object.__setattr__(self, "unet_factors", tuple(int(f) for f in self.unet_factors))
        if len(self.unet_channels) != len(self.unet_factors) + 1:
            raise ValueError(f"unet_channels needs len(unet_factors) + 1 = "
                             f"{len(self.unet_factors) + 1} entries, got {len(self.unet_channels)}")
        if self.inject_depth is None:
            raise ValueError(f"no prefix of unet_factors {self.unet_factors} multiplies to "
                             f"hop_samples={self.hop_samples}")
        if self.context_dim % self.context_heads:
            raise ValueError(f"context_dim={self.context_dim} is not a multiple of "
                             f"context_heads={self.context_heads}")
        if self.signal_scale <= 0:
            raise ValueError(f"signal_scale must be > 0, got {self.signal_scale}")

    @property
    def inject_depth(self) -> int | None:
        """U-Net depth (1-based count of downsamplings) whose stride equals the hop."""
        stride = 1
        for depth, f in enumerate(self.unet_factors, start=1):
            stride *= f
            if stride == self.hop_samples:
                return depth
        return None

    @property
    def total_stride(self) -> int:
        return math.prod(self.unet_factors)

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


class ContextIntegrator(nn.Module):
    """z [B, N, T] → conditioning [B, cond_channels, T] (causal Transformer over frames)."""

    def __init__(self, cfg: DecoderConfig):
        super().__init__()
        self.cfg = cfg
        self.depthwise = nn.Conv1d(cfg.n_units, cfg.n_units, 3, padding=1, groups=cfg.n_units)
        self.proj_in = nn.Linear(cfg.n_units, cfg.context_dim)
        layer = nn.TransformerEncoderLayer(
            cfg.context_dim, cfg.context_heads, cfg.context_ffn, cfg.context_dropout,
            batch_first=True, norm_first=True,
        )
        self.transformer = nn.TransformerEncoder(layer, cfg.context_layers,
                                                 enable_nested_tensor=False)
        self.proj_out = nn.Linear(cfg.context_dim, cfg.cond_channels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        n_frames = z.shape[-1]
        h = self.depthwise(z).transpose(1, 2)                          # [B, T, N]
        h = self.proj_in(h) * math.sqrt(self.cfg.context_dim)
        h = h + sinusoidal(torch.arange(n_frames, device=z.device), self.cfg.context_dim)
        mask = nn.Transformer.generate_square_subsequent_mask(n_frames, device=z.device)
        h = self.transformer(h, mask=mask, is_causal=True)
        return self.proj_out(h).transpose(1, 2)                        # [B, C, T]


def _groups(channels: int) -> int:
    for g in (8, 4, 2):
        if channels % g == 0:
            return g
    return 1


class ResBlock1d(nn.Module):
    """GroupNorm–SiLU–Conv ×2 with a FiLM (scale, shift) from the diffusion time."""

    def __init__(self, c_in: int, c_out: int, time_dim: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(c_in), c_in)
        self.conv1 = nn.Conv1d(c_in, c_out, 3, padding=1)
        self.film = nn.Linear(time_dim, 2 * c_out)
        self.norm2 = nn.GroupNorm(_groups(c_out), c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(nn.functional.silu(self.norm1(x)))
        scale, shift = self.film(temb).unsqueeze(-1).chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(nn.functional.silu(h))
        return h + self.skip(x)


class UNet1d(nn.Module):
    """v-prediction network: (noisy waveform [B,1,L], timestep [B], cond [B,C,L/hop]) → [B,1,L].

    L must be a multiple of `total_stride`.
    """

    def __init__(self, cfg: DecoderConfig):
        super().__init__()
        self.cfg = cfg
        ch, td = cfg.unet_channels, cfg.time_dim
        self.time_mlp = nn.Sequential(nn.Linear(td, 4 * td), nn.SiLU(), nn.Linear(4 * td, td))
        self.conv_in = nn.Conv1d(1, ch[0], 7, padding=3)
        self.down_blocks = nn.ModuleList()
        self.downsample = nn.ModuleList()
        for i, f in enumerate(cfg.unet_factors):
            self.down_blocks.append(nn.ModuleList(
                ResBlock1d(ch[i], ch[i], td) for _ in range(cfg.unet_blocks)))
            self.downsample.append(nn.Conv1d(ch[i], ch[i + 1], 2 * f, stride=f, padding=f // 2))
        inj = cfg.inject_depth
        self.inject = ResBlock1d(ch[inj] + cfg.cond_channels, ch[inj], td)
        self.mid = nn.ModuleList([ResBlock1d(ch[-1], ch[-1], td), ResBlock1d(ch[-1], ch[-1], td)])
        self.upsample = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        for i in reversed(range(len(cfg.unet_factors))):
            f = cfg.unet_factors[i]
            self.upsample.append(nn.ConvTranspose1d(ch[i + 1], ch[i], f, stride=f))
            blocks = [ResBlock1d(2 * ch[i], ch[i], td)]
            blocks += [ResBlock1d(ch[i], ch[i], td) for _ in range(cfg.unet_blocks - 1)]
            self.up_blocks.append(nn.ModuleList(blocks))
        self.conv_out = nn.Conv1d(ch[0], 1, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor,
                cond: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % self.cfg.total_stride:
            raise ValueError(f"U-Net input length {x.shape[-1]} is not a multiple of "
                             f"{self.cfg.total_stride}")
        temb = self.time_mlp(sinusoidal(timesteps, self.cfg.time_dim))
        h = self.conv_in(x)
        skips = []
        for depth, (blocks, down) in enumerate(zip(self.down_blocks, self.downsample), start=1):
            for block in blocks:
                h = block(h, temb)
            skips.append(h)
            h = down(h)
            if depth == self.cfg.inject_depth:
                h = self.inject(torch.cat([h, cond], dim=1), temb)
        for block in self.mid:
            h = block(h, temb)
        for up, blocks in zip(self.upsample, self.up_blocks):
            h = up(h)
            h = torch.cat([h, skips.pop()], dim=1)
            for block in blocks:
                h = block(h, temb)
        return self.conv_out(h)
