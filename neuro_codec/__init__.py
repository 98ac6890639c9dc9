"""neuro-codec: an event-based (spiking) audio codec for piano music.

The packages follow the pipeline: `data` (audio, datasets) → `model` (spiking encoder, its
fixed point, the RVQ baseline, decoder, codec, checkpoints) → `coding` (exact formats, entropy
coding, `.snc` / `.rvq`, the file pipeline) → `training`, `evaluation` → `commands` (the CLI).
Never imports Lava.
"""

from neuro_codec.coding.bitstream import SncHeader, pack_snc, read_snc, unpack_snc, write_snc
from neuro_codec.coding.formats import EventFormat, paper_costs, payload_bits
from neuro_codec.evaluation.metrics import mel_distance, si_snr_db, visqol_score
from neuro_codec.model.codec import Codec, build_codec
from neuro_codec.model.decoder import DecoderConfig
from neuro_codec.model.encoder import EncoderConfig, SpikingEncoder

__all__ = [
    "Codec", "DecoderConfig", "EncoderConfig", "EventFormat", "SncHeader", "SpikingEncoder",
    "build_codec", "mel_distance", "pack_snc", "paper_costs", "payload_bits", "read_snc",
    "si_snr_db", "unpack_snc", "visqol_score", "write_snc",
]
