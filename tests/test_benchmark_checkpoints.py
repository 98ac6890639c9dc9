"""The benchmarks' shared checkpoint flags (benchmarks/checkpoints.py)."""

import argparse

import pytest

from benchmarks.checkpoints import add_checkpoint_flags, chosen_checkpoints, shipped_flags
from neuro_codec.model.presets import ModelKind
from neuro_codec.model.shipped import CHECKPOINT_DIR


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    add_checkpoint_flags(p)
    return p


def test_defaults_are_the_shipped_checkpoints_and_none_leaves_a_kind_out():
    args = _parser().parse_args([])
    assert chosen_checkpoints(args) == {
        ModelKind.FREE: str(CHECKPOINT_DIR / "free-small.pt"),
        ModelKind.SPARSE: str(CHECKPOINT_DIR / "sparse-small.pt"),
        ModelKind.MU_SPARSE: str(CHECKPOINT_DIR / "mu-sparse-small.pt"),
        ModelKind.RVQ: str(CHECKPOINT_DIR / "rvq-small.pt"),
    }
    args = _parser().parse_args(["--rvq", "r.pt", "--free", "none", "--mu-sparse", "none",
                                 "--sparse", "s.pt"])
    assert list(chosen_checkpoints(args).items()) == [(ModelKind.SPARSE, "s.pt"),
                                                      (ModelKind.RVQ, "r.pt")]


def test_shipped_flags_parse_back_to_the_shipped_files():
    flags = shipped_flags()
    assert flags[::2] == ["--free", "--sparse", "--mu-sparse", "--rvq"]
    chosen = chosen_checkpoints(_parser().parse_args(flags))
    assert {kind.value for kind in chosen} == {
        p.name.removesuffix("-small.pt") for p in CHECKPOINT_DIR.glob("*-small.pt")}


def test_opus_rows_can_be_left_out_as_models_are():
    from benchmarks.checkpoints import opus_bitrate

    assert [opus_bitrate(t) for t in ("6", "12.5", "none")] == [6.0, 12.5, None]
    with pytest.raises(argparse.ArgumentTypeError, match="'six' is not a bitrate"):
        opus_bitrate("six")
