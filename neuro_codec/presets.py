"""Model sizes: `tiny` (tests, seconds on a CPU), `small` (CPU or one GPU), `large` (GPU).

Each preset holds only what differs from the dataclass defaults (DAC's base + ablation style).
"""

from __future__ import annotations

from dataclasses import dataclass

from neuro_codec.decoder import DecoderConfig
from neuro_codec.encoder import EncoderConfig


@dataclass(frozen=True)
class Preset:
    encoder: EncoderConfig
    decoder: DecoderConfig
    clip_samples: int      # training clip length (2^17 = 5.94 s in the paper)
    batch_size: int


PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        encoder=EncoderConfig(hidden_sizes=(32,), recurrent=(False,)),
        decoder=DecoderConfig(context_dim=32, context_layers=1, context_heads=2, context_ffn=64,
                              context_dropout=0.0, cond_channels=16,
                              unet_channels=(8, 16, 32, 32), unet_factors=(8, 8, 8),
                              time_dim=32),
        clip_samples=2**13, batch_size=4,
    ),
    "small": Preset(
        encoder=EncoderConfig(hidden_sizes=(64, 128), recurrent=(False, True)),
        decoder=DecoderConfig(),
        clip_samples=2**15, batch_size=8,
    ),
    "large": Preset(
        encoder=EncoderConfig(hidden_sizes=(128, 256), recurrent=(False, True)),
        decoder=DecoderConfig(context_dim=256, context_layers=3, context_ffn=1024,
                              cond_channels=128, unet_channels=(32, 64, 128, 256, 512, 512),
                              unet_blocks=2, time_dim=128),
        clip_samples=2**17, batch_size=32,
    ),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
