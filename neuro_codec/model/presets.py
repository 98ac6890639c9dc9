"""Model sizes: `tiny` (tests, seconds on a CPU), `small` (CPU or one GPU), `large` (GPU); and
the model kinds (`ModelKind`, defined in `neuro_codec.model.kind`, re-exported here).

Each preset holds only what differs from the dataclass defaults (DAC's base + ablation style).
"""

from __future__ import annotations

from dataclasses import dataclass

from neuro_codec.model.decoder import DecoderConfig
from neuro_codec.model.encoder import EncoderConfig
from neuro_codec.model.kind import MODEL_KINDS, ModelKind  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class Preset:
    encoder: EncoderConfig
    decoder: DecoderConfig
    clip_samples: int      # training clip length (2^17 = 5.94 s in the paper)
    batch_size: int


# The recipe (docs/model.md): a wide first layer initialised as a Gabor bank with constant-Q
# (banded) support, a recurrent second layer, the frame-rate first stage; 2^14-sample clips.
PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        encoder=EncoderConfig(hidden_sizes=(32,), recurrent=(False,), input_init="gabor",
                              input_support="banded"),
        decoder=DecoderConfig(dim=32, hidden=64, blocks=1, n_fft=256, stft_hop=128),
        clip_samples=2**13, batch_size=4,
    ),
    "small": Preset(
        encoder=EncoderConfig(hidden_sizes=(256, 256), recurrent=(False, True),
                              input_init="gabor", input_support="banded"),
        decoder=DecoderConfig(),
        clip_samples=2**14, batch_size=8,
    ),
    "large": Preset(
        encoder=EncoderConfig(hidden_sizes=(512, 512), recurrent=(False, True),
                              input_init="gabor", input_support="banded"),
        decoder=DecoderConfig(dim=512, hidden=1536, blocks=8),
        clip_samples=2**16, batch_size=32,
    ),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
