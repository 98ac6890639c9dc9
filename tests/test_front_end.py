"""benchmarks/front_end.py: the entropy bound of a layer's spikes, and rows whose flags build
the encoders the table describes."""

import numpy as np
import pytest

from benchmarks.front_end import ROWS, unit_entropy_bits
from neuro_codec.commands.train import parse_overrides
from neuro_codec.model.encoder import gabor_bank
from neuro_codec.training import TrainConfig


def test_unit_entropy_is_the_sum_of_binary_entropies():
    raster = np.zeros((4, 8), dtype=np.uint8)
    raster[0, :4] = 1          # p = 1/2: 1 bit
    raster[1, :2] = 1          # p = 1/4: 0.8113 bits
    raster[2, :] = 1           # always on: 0 bits
    assert unit_entropy_bits(raster) == pytest.approx(1 + 0.811278, abs=1e-6)
    assert unit_entropy_bits(np.zeros((3, 5))) == 0.0


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.name)
def test_each_rows_flags_build_the_encoder_it_names(row):
    args = row.train_args
    overrides = [args[i + 1] for i in range(len(args)) if args[i] == "--set-encoder"]
    cfg = TrainConfig(model="free", encoder_overrides=parse_overrides(overrides))
    encoder = cfg.encoder_config()
    synapses = int(gabor_bank(encoder)[1].sum())
    units = {"recipe": (256, 256), "tiled-512": (512, 256),
             "tiled-512-rec-512": (512, 512)}[row.name]
    assert encoder.hidden_sizes == units
    assert synapses == (61_080 if row.name == "recipe" else 30_068)
