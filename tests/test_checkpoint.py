"""Checkpoints (neuro_codec.model.checkpoint): the typed `Checkpoint` round-trips exactly, its
reader names what is wrong, version 1 is read only through `upgrade_checkpoint` (and
scripts/release_checkpoint.py), and `load_encoder` folds μ and takes an arithmetic override."""

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from factories import noise, tiny_encoder

from neuro_codec.errors import CheckpointError
from neuro_codec.model.arithmetic import Arithmetic
from neuro_codec.model.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    Checkpoint,
    load_encoder,
    upgrade_checkpoint,
)
from neuro_codec.model.codec import RVQCodec, build_codec
from neuro_codec.model.encoder import EncoderConfig
from neuro_codec.model.presets import ModelKind, get_preset
from neuro_codec.model.rvq import RVQConfig

CFG = EncoderConfig(frame_samples=16, hidden_sizes=(8, 6), recurrent=(False, True), n_units=5)
MU_CFG = dataclasses.replace(CFG, mu_levels=4)


def _same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _tiny_codec_checkpoint(kind: ModelKind) -> Checkpoint:
    torch.manual_seed(0)
    p = get_preset("tiny")
    rvq = RVQConfig(codebooks=2, codebook_size=4) if kind is ModelKind.RVQ else None
    codec = build_codec(kind, p.encoder, p.decoder, rvq_config=rvq)
    return Checkpoint.of_codec(kind, "tiny", codec, {"steps": 10, "seed": 0}, step=7,
                               extra={"last_log": {"step": 7}})


def _mu_encoder():
    enc = tiny_encoder(MU_CFG, 3)
    with torch.no_grad():           # levels that differ, so that folding one in is visible
        for emb in enc.mu_bias:
            emb.weight.normal_(0.0, 0.5)
    return enc


# ---------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("kind", [ModelKind.SPARSE, ModelKind.RVQ])
def test_codec_checkpoint_round_trips_exactly(tmp_path, kind):
    ckpt = _tiny_codec_checkpoint(kind)
    ckpt.save(tmp_path / "c.pt")
    back = Checkpoint.read(tmp_path / "c.pt")
    assert back.kind is kind and back.model_id == ckpt.model_id
    assert back.model_id.startswith(f"{kind.value}-") and len(back.model_id) == len(kind.value) + 13
    assert (back.preset, back.step, back.extra, back.train_config) == (
        "tiny", 7, {"last_log": {"step": 7}}, {"steps": 10, "seed": 0})
    assert back.encoder_config == ckpt.encoder_config
    assert back.decoder_config == ckpt.decoder_config and back.rvq_config == ckpt.rvq_config
    assert _same_state(back.encoder_state, ckpt.encoder_state)
    assert _same_state(back.codec_without_encoder, ckpt.codec_without_encoder)
    assert not any(k.startswith("encoder.") for k in back.codec_without_encoder)
    assert back.source == str(tmp_path / "c.pt") and back.has_codec
    codec = back.build_codec()
    assert isinstance(codec, RVQCodec) == (kind is ModelKind.RVQ)
    # The on-disk dict: format, version, the kind's value, the renamed codec state.
    raw = torch.load(tmp_path / "c.pt", weights_only=True)
    assert (raw["format"], raw["version"], raw["model"]) == (
        CHECKPOINT_FORMAT, CHECKPOINT_VERSION, kind.value)
    assert "decoder" not in raw and set(raw["config"]) == (
        {"encoder", "decoder", "train", "rvq"} if kind is ModelKind.RVQ
        else {"encoder", "decoder", "train"})


def test_bare_encoder_has_no_kind_and_no_codec(tmp_path):
    enc = tiny_encoder(CFG, 1)
    ckpt = Checkpoint.of_encoder(enc)
    assert ckpt.kind is None and ckpt.label == "random" and ckpt.model_id.startswith("random-")
    ckpt.save(tmp_path / "e.pt")
    back = Checkpoint.read(tmp_path / "e.pt")
    assert back.kind is None and not back.has_codec and back.decoder_config is None
    assert torch.load(tmp_path / "e.pt", weights_only=True)["model"] is None
    x = noise(16 * 40, 0)
    assert np.array_equal(back.build_encoder().run_float64(x)[-1], enc.run_float64(x)[-1])
    with pytest.raises(CheckpointError, match="e.pt holds no decoder"):
        back.build_codec()
    # Labelled with a kind (the energy report's tests): the id says so.
    assert Checkpoint.of_encoder(enc, ModelKind.SPARSE).model_id.startswith("sparse-")


def test_arithmetic_is_the_training_recipes():
    enc = tiny_encoder(CFG, 1)

    def arithmetic(train, step=0):
        return dataclasses.replace(Checkpoint.of_encoder(enc, ModelKind.FREE, train),
                                   step=step).arithmetic

    assert arithmetic({}) is Arithmetic.FLOAT
    assert arithmetic({"loihi_fixed": True}) is Arithmetic.FIXED
    # --fixed-point-fraction 0.25 of 8 steps: steps 7 and 8 are fixed point.
    fraction = {"steps": 8, "fixed_point_fraction": 0.25}
    assert [arithmetic(fraction, s) for s in (6, 7, 8)] == [
        Arithmetic.FLOAT, Arithmetic.FIXED, Arithmetic.FIXED]
    assert _tiny_codec_checkpoint(ModelKind.RVQ).arithmetic is Arithmetic.FLOAT


def test_rvq_checkpoint_has_no_spiking_encoder():
    with pytest.raises(CheckpointError, match="is the RVQ baseline: it has no spiking encoder"):
        _tiny_codec_checkpoint(ModelKind.RVQ).build_encoder()


# ---------------------------------------------------------------------------- reader errors


def test_read_names_what_is_wrong(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found: .*missing.pt"):
        Checkpoint.read(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt is not a readable checkpoint"):
        Checkpoint.read(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="other.pt is not a neuro-codec checkpoint"):
        Checkpoint.read(tmp_path / "other.pt")
    good = Checkpoint.of_encoder(tiny_encoder(CFG, 1), ModelKind.FREE).to_dict()
    torch.save({**good, "version": 3}, tmp_path / "v3.pt")
    with pytest.raises(CheckpointError, match=r"v3.pt: unsupported checkpoint version 3 "
                                              r"\(this build reads 2\)$"):
        Checkpoint.read(tmp_path / "v3.pt")
    torch.save({k: v for k, v in good.items() if k != "model_id"}, tmp_path / "noid.pt")
    with pytest.raises(CheckpointError, match="noid.pt: checkpoint has no 'model_id'"):
        Checkpoint.read(tmp_path / "noid.pt")
    torch.save({**good, "model": "dense"}, tmp_path / "kind.pt")
    with pytest.raises(CheckpointError, match="kind.pt: unknown model kind 'dense' .*rvq"):
        Checkpoint.read(tmp_path / "kind.pt")
    torch.save({**good, "config": {"encoder": {"bogus": 1}}}, tmp_path / "cfg.pt")
    with pytest.raises(CheckpointError, match="cfg.pt: invalid encoder config"):
        Checkpoint.read(tmp_path / "cfg.pt")


def test_a_checkpoint_with_the_joint_refiners_fields_reads_only_without_its_blocks(tmp_path):
    # Checkpoints saved before the joint diffusion refiner was removed store its config
    # fields; the shipped ones have no refiner blocks and load, one with blocks names why not.
    ckpt = _tiny_codec_checkpoint(ModelKind.FREE)
    d = ckpt.to_dict()
    retired = {"refiner_dim": 32, "refiner_blocks": 0, "time_dim": 16, "compress": 0.5,
               "residual_scale": 1.0}
    d["config"]["decoder"] = {**d["config"]["decoder"], **retired}
    torch.save(d, tmp_path / "old.pt")
    back = Checkpoint.read(tmp_path / "old.pt")
    assert back.decoder_config == ckpt.decoder_config and back.model_id == ckpt.model_id
    back.build_codec()
    d["config"]["decoder"]["refiner_blocks"] = 1
    torch.save(d, tmp_path / "joint.pt")
    with pytest.raises(CheckpointError, match="joint.pt: invalid decoder config "
                                              r"\(refiner_blocks=1: .*was removed"):
        Checkpoint.read(tmp_path / "joint.pt")


def _as_v1(ckpt: Checkpoint, label: str | None = None) -> dict:
    """The dict an older build wrote for `ckpt` (version 1: "decoder", a label for a bare
    encoder)."""
    d = ckpt.to_dict()
    d["version"] = 1
    d["decoder"] = d.pop("codec_without_encoder")
    if label is not None:
        d["model"] = label
    return d


def test_version_1_is_read_only_through_the_upgrade(tmp_path):
    ckpt = _tiny_codec_checkpoint(ModelKind.FREE)
    torch.save(_as_v1(ckpt), tmp_path / "v1.pt")
    with pytest.raises(CheckpointError, match="unsupported checkpoint version 1 .*"
                                              "release_checkpoint.py"):
        Checkpoint.read(tmp_path / "v1.pt")
    up = upgrade_checkpoint(tmp_path / "v1.pt")
    assert up.kind is ModelKind.FREE and up.model_id == ckpt.model_id and up.step == 7
    assert _same_state(up.encoder_state, ckpt.encoder_state)
    assert _same_state(up.codec_without_encoder, ckpt.codec_without_encoder)
    # The current version passes through; a bare encoder labelled "random" has no kind.
    ckpt.save(tmp_path / "v2.pt")
    assert upgrade_checkpoint(tmp_path / "v2.pt").model_id == ckpt.model_id
    bare = Checkpoint.of_encoder(tiny_encoder(CFG, 1))
    torch.save(_as_v1(bare, "random"), tmp_path / "bare1.pt")
    up = upgrade_checkpoint(tmp_path / "bare1.pt")
    assert up.kind is None and up.model_id == bare.model_id and not up.has_codec
    torch.save({**_as_v1(ckpt), "version": 0}, tmp_path / "v0.pt")
    with pytest.raises(CheckpointError, match="unsupported checkpoint version 0"):
        upgrade_checkpoint(tmp_path / "v0.pt")


def _release_script():
    path = Path(__file__).resolve().parents[1] / "scripts" / "release_checkpoint.py"
    spec = importlib.util.spec_from_file_location("release_checkpoint", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_release_upgrades_a_version_1_training_checkpoint(tmp_path):
    ckpt = dataclasses.replace(_tiny_codec_checkpoint(ModelKind.SPARSE),
                               optimizer={"state": {}, "param_groups": []})
    torch.save(_as_v1(ckpt), tmp_path / "last.pt")
    assert _release_script().main([str(tmp_path / "last.pt"), str(tmp_path / "rel.pt")]) == 0
    raw = torch.load(tmp_path / "rel.pt", weights_only=True)
    assert raw["version"] == CHECKPOINT_VERSION and raw["optimizer"] is None
    rel = Checkpoint.read(tmp_path / "rel.pt")
    assert rel.model_id == ckpt.model_id and rel.kind is ModelKind.SPARSE
    assert _same_state(rel.codec_without_encoder, ckpt.codec_without_encoder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "rel.pt"]


# ---------------------------------------------------------------------------- load_encoder


def test_load_encoder_folds_the_level_in(tmp_path):
    enc = _mu_encoder()
    Checkpoint.of_encoder(enc, ModelKind.MU_SPARSE).save(tmp_path / "mu.pt")
    x = noise(16 * 60, 1)
    loaded = load_encoder(tmp_path / "mu.pt", mu=1)
    assert loaded.mu == 1 and loaded.kind is ModelKind.MU_SPARSE and loaded.label == "mu-sparse"
    assert loaded.encoder.config.mu_levels == 0          # level-free: μ is in the biases
    assert np.array_equal(loaded.encoder.run_float64(x)[-1], enc.run_float64(x, mu=1)[-1])
    assert not np.array_equal(loaded.encoder.run_float64(x)[-1], enc.run_float64(x, mu=3)[-1])
    middle = load_encoder(tmp_path / "mu.pt")
    assert middle.mu == 2
    assert np.array_equal(middle.encoder.run_float64(x)[-1], enc.run_float64(x, mu=2)[-1])
    with pytest.raises(CheckpointError, match=r"mu.pt: μ must be in \[0, 3\], got 4"):
        load_encoder(tmp_path / "mu.pt", mu=4)


def test_load_encoder_levels_and_arithmetic_of_a_level_free_model(tmp_path):
    enc = tiny_encoder(CFG, 2)
    ckpt = Checkpoint.of_encoder(enc, ModelKind.SPARSE, {"loihi_fixed": True})
    ckpt.save(tmp_path / "s.pt")
    loaded = load_encoder(tmp_path / "s.pt")
    assert (loaded.model_id, loaded.kind, loaded.mu) == (ckpt.model_id, ModelKind.SPARSE, None)
    assert loaded.arithmetic is Arithmetic.FIXED                      # the checkpoint's own
    assert load_encoder(tmp_path / "s.pt", arithmetic="float").arithmetic is Arithmetic.FLOAT
    with pytest.raises(CheckpointError, match="s.pt has no compression levels μ .*drop --mu"):
        load_encoder(tmp_path / "s.pt", mu=1)
    assert load_encoder(tmp_path / "s.pt", mu=1, mu_only_where_levels=True).mu is None
    x = noise(16 * 30, 2)
    assert np.array_equal(loaded.encoder.run_float64(x)[-1], enc.run_float64(x)[-1])
