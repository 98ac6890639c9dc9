"""neuro-codec: an event-based (spiking) audio codec for piano music.

The packages follow the pipeline, and import only down it (tests/test_imports.py checks):
`data` (audio, datasets) → `model` (spiking encoder, its fixed point, the RVQ baseline,
decoder, codec, checkpoints, the shared spectral transforms) → `coding` (bit costs, exact
formats, entropy coding, `.snc` / `.rvq`) → `compression` (the codec's API: waveform → file →
waveform) → `evaluation` → `training` → `commands` (the CLI). Never imports Lava.

The public API below is imported on first use (PEP 562): `from neuro_codec import Codec` works
as usual, but `import neuro_codec` alone imports no torch, so that the commands that need only
numpy (`neuro-codec info`, `pack`, `unpack`, `--help`) start in a fraction of a second.
"""

from __future__ import annotations

import importlib
from typing import Any

# name → the module that defines it
_PUBLIC = {
    "SncHeader": "neuro_codec.coding.bitstream",
    "pack_snc": "neuro_codec.coding.bitstream",
    "read_snc": "neuro_codec.coding.bitstream",
    "unpack_snc": "neuro_codec.coding.bitstream",
    "write_snc": "neuro_codec.coding.bitstream",
    "EventFormat": "neuro_codec.coding.costs",
    "paper_costs": "neuro_codec.coding.costs",
    "payload_bits": "neuro_codec.coding.costs",
    "mel_distance": "neuro_codec.model.spectral",
    "si_snr_db": "neuro_codec.model.spectral",
    "visqol_score": "neuro_codec.evaluation.metrics",
    "Codec": "neuro_codec.model.codec",
    "build_codec": "neuro_codec.model.codec",
    "DecoderConfig": "neuro_codec.model.decoder",
    "EncoderConfig": "neuro_codec.model.encoder",
    "SpikingEncoder": "neuro_codec.model.encoder",
}

__all__ = sorted(_PUBLIC)

def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'neuro_codec' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value   # imported once: later lookups do not come back here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
