"""The seeds of a training step (`neuro_codec.training.batches`) are pinned: checkpoints were
trained with them, and a resumed run repeats the uninterrupted one only if they never change.
The values are those of the formulas the loop used before `derive_seed` (commit 5a817c1):
batch ((seed·1000003 + step)·64 + rank), forward pass (… + rank + 1), μ levels (… + rank + 2),
each mod 2^63."""

import pytest
import torch

from neuro_codec.training import TrainConfig
from neuro_codec.training.batches import Stream, derive_seed, draw_batch, draw_levels


@pytest.mark.parametrize("seed, step, rank, batch, forward, levels", [
    (0, 0, 0, 0, 1, 2),
    (0, 7, 1, 449, 450, 451),
    (7, 3, 0, 448_001_536, 448_001_537, 448_001_538),
    (123, 17_999, 3, 7_873_175_555, 7_873_175_556, 7_873_175_557),
    (2**62, 5, 2, 322, 323, 324),   # wraps modulo 2^63
])
def test_derive_seed_gives_the_seeds_checkpoints_were_trained_with(seed, step, rank, batch,
                                                                    forward, levels):
    assert derive_seed(seed, Stream.BATCH, step, rank) == batch
    assert derive_seed(seed, Stream.STEP, step, rank) == forward
    assert derive_seed(seed, Stream.LEVELS, step, rank) == levels


def test_stream_offsets_are_fixed():
    assert [(s.name, int(s)) for s in Stream] == [("BATCH", 0), ("STEP", 1), ("LEVELS", 2)]


class _Probe:
    """10 "clips", each [index, an integer drawn from torch's global generator]: shows which
    clips a batch takes and what its random offsets would be."""

    def __len__(self) -> int:
        return 10

    def __getitem__(self, i: int) -> dict:
        return {"audio": torch.tensor([float(i), float(torch.randint(1000, ()))])}


def test_draws_are_those_of_the_original_loop():
    # Values drawn by the loop of commit 5a817c1 (torch's CPU generator).
    assert draw_batch(_Probe(), 4, 7, 3, 0).tolist() == [
        [6.0, 646.0], [9.0, 49.0], [2.0, 932.0], [1.0, 391.0]]
    assert draw_batch(_Probe(), 4, 7, 3, 1).tolist() == [
        [5.0, 905.0], [5.0, 835.0], [4.0, 594.0], [3.0, 543.0]]
    cfg = TrainConfig(model="mu-sparse", preset="tiny", data="synthetic", mu_levels=6, seed=7)
    assert draw_levels(cfg, 8, 3, 0).tolist() == [2, 3, 1, 5, 0, 4, 3, 2]
    assert draw_levels(cfg, 8, 3, 1).tolist() == [1, 1, 1, 3, 4, 1, 5, 1]
