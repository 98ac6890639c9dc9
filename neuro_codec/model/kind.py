"""What a checkpoint is (`ModelKind`): the kinds the `--model` flags offer.

Apart from the presets (`neuro_codec.model.presets`, which hold torch modules' configs) so
that the shipped-checkpoint lookup and `neuro-codec encode --help` name the kinds without
importing torch.
"""

from __future__ import annotations

from enum import Enum


class ModelKind(str, Enum):
    """What a checkpoint is, as its `"model"` key and `--model` flags spell it.

    FREE: spiking encoder, no sparsity pressure. SPARSE: with the storage-cost penalty.
    MU_SPARSE: a compression level μ per clip and the event-rate hinge of that level. RVQ: the
    baseline, the same layers without spikes and a residual vector quantiser.
    Checkpoints and configs store the plain `.value` (a str), never the member.
    """

    FREE = "free"
    SPARSE = "sparse"
    MU_SPARSE = "mu-sparse"
    RVQ = "rvq"


MODEL_KINDS: tuple[str, ...] = tuple(k.value for k in ModelKind)   # for argparse `choices`
