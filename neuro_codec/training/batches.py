"""What a training step draws: its dataset, its batch of clips and μ-SPARSE's levels, each a
pure function of (seed, stream, step, rank) (`derive_seed`), so a resumed run repeats exactly
what the uninterrupted run would have done. The loop (`loop.py`) seeds its own draws here too.
"""

from __future__ import annotations

from enum import IntEnum

import torch

from neuro_codec.model.presets import ModelKind
from neuro_codec.training.config import TrainConfig


class Stream(IntEnum):
    """Which draws of a step a seed feeds. The value is added to the seed (`derive_seed`): these
    are the offsets checkpoints have been trained with, so they never change."""

    BATCH = 0    # which clips (a generator of its own) and their offsets (torch's global one)
    STEP = 1     # the forward pass's draws: RVQ's quantiser dropout (torch's global one)
    LEVELS = 2   # μ-SPARSE's level per clip (a generator of its own)


def derive_seed(seed: int, stream: Stream, step: int, rank: int) -> int:
    """The seed of one stream of draws at one step of one process.

    seed' = ((seed · 1 000 003 + step) · 64 + rank + stream) mod 2^63

    Distinct for distinct (seed, step, rank + stream) while step < 1 000 003 and
    rank + stream < 64. Rank r's stream s shares its seed with rank r + s's BATCH stream: a
    coincidence of the formula that trained the checkpoints, kept so that they resume
    bit-identically (`tests/test_train_seeds.py` pins the values).

    Args:
        seed: the run's seed (`TrainConfig.seed`).
        stream: which draws the seed is for.
        step: the 0-based optimiser step.
        rank: the process's rank (0 without DDP).
    Returns:
        A seed in [0, 2^63) for `torch.Generator.manual_seed` / `torch.manual_seed`.
    """
    return ((seed * 1_000_003 + step) * 64 + rank + int(stream)) % 2**63


def make_dataset(cfg: TrainConfig, split: str = "train", progress: bool = False):
    """The clip dataset named by the config (renders the built-in data if it is missing)."""
    clip = cfg.effective_clip_samples
    if cfg.data == "synthetic":
        from neuro_codec.data.synthetic import SyntheticTones

        return SyntheticTones(n_clips=16, clip_samples=clip, seed=cfg.seed + (split != "train"))
    from neuro_codec.data import dataset as ds  # rendering tools are only needed for real data

    root = cfg.data_root or ds.default_root()
    if cfg.data == "builtin":
        ds.ensure_builtin(root, progress=progress)
    return ds.ClipDataset(root, split, clip_samples=clip, data=cfg.data,
                          random_offset=split == "train")


def draw_batch(dataset, batch_size: int, seed: int, step: int, rank: int) -> torch.Tensor:
    """[B, L] clips chosen by a generator seeded from (seed, step, rank): resumable exactly."""
    derived = derive_seed(seed, Stream.BATCH, step, rank)
    gen = torch.Generator().manual_seed(derived)
    idx = torch.randint(len(dataset), (batch_size,), generator=gen).tolist()
    torch.manual_seed(derived)  # random clip offsets inside the dataset
    return torch.stack([dataset[i]["audio"] for i in idx])


def draw_levels(cfg: TrainConfig, batch_size: int, step: int, rank: int) -> torch.Tensor | None:
    """μ-SPARSE: [B] levels drawn uniformly, a pure function of (seed, step, rank); else None."""
    if cfg.kind is not ModelKind.MU_SPARSE:
        return None
    gen = torch.Generator().manual_seed(derive_seed(cfg.seed, Stream.LEVELS, step, rank))
    return torch.randint(cfg.mu_levels, (batch_size,), generator=gen)
