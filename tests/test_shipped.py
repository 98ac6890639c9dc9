"""The shipped checkpoints: each loads, encodes a few seconds of built-in (rendered) piano
with its own arithmetic, fires at the rate the README states, and round-trips through `.snc`
exactly."""

from pathlib import Path

import numpy as np
import pytest
from factories import needs_fluidsynth

from neuro_codec.coding.bitstream import pack_snc, unpack_snc
from neuro_codec.data import render
from neuro_codec.data.midi_gen import generate_piece
from neuro_codec.model.arithmetic import Arithmetic, encode_events
from neuro_codec.model.checkpoint import CHECKPOINT_VERSION, Checkpoint
from neuro_codec.model.codec import RVQCodec
from neuro_codec.model.presets import ModelKind
from neuro_codec.model.shipped import REFINER_FILE

CHECKPOINTS = Path(__file__).resolve().parents[1] / "neuro_codec" / "checkpoints"
# Event rate of z (fraction of unit-frames), as README.md's "Where it stands" states it.
RATE_RANGE = {"free-small.pt": (0.30, 0.55), "sparse-small.pt": (0.015, 0.07)}
SECONDS = 4.0



@pytest.fixture(scope="module")
def piano(tmp_path_factory) -> np.ndarray:
    """The first seconds of a procedurally generated piece, rendered as the dataset is."""
    d = tmp_path_factory.mktemp("piano")
    generate_piece(7).write(str(d / "p.mid"))
    render.render_midi(d / "p.mid", d / "p.wav")
    import soundfile as sf

    x, rate = sf.read(d / "p.wav", dtype="float32")
    assert rate == 22_050
    return x[: int(SECONDS * rate)]


@needs_fluidsynth
@pytest.mark.parametrize("name", sorted(RATE_RANGE))
def test_shipped_checkpoint_encodes_piano(name, piano):
    ckpt = Checkpoint.read(CHECKPOINTS / name)
    assert ckpt.kind is ModelKind(name.split("-")[0]) and ckpt.has_codec
    assert ckpt.arithmetic is Arithmetic.FIXED, "shipped models are fine-tuned in fixed point"
    encoder = ckpt.build_encoder()
    z = encode_events(encoder, piano, Arithmetic.FIXED)
    assert z.dtype == np.uint8 and z.shape == (80, -(-piano.size // 512))
    lo, hi = RATE_RANGE[name]
    assert lo <= z.mean() <= hi, f"{name}: event rate {z.mean():.3f} outside [{lo}, {hi}]"
    data = pack_snc(z, n_audio_samples=piano.size, model_id=ckpt.model_id)
    header, z_back = unpack_snc(data)
    assert np.array_equal(z_back, z) and header.model_id == ckpt.model_id
    assert header.n_events == int(z.sum()) and header.n_audio_samples == piano.size


@pytest.mark.parametrize("name", sorted(p.name for p in CHECKPOINTS.glob("*.pt")
                                         if p.name != REFINER_FILE))
def test_every_shipped_checkpoint_builds_its_codec_at_the_hop(name):
    # Every shipped file is in the current version (the reader refuses older ones), named by
    # its kind, without optimiser state, and builds the codec class of that kind.
    import torch

    assert torch.load(CHECKPOINTS / name, weights_only=True)["version"] == CHECKPOINT_VERSION
    ckpt = Checkpoint.read(CHECKPOINTS / name)
    assert name == f"{ckpt.kind.value}-small.pt" and ckpt.model_id.startswith(ckpt.kind.value)
    assert ckpt.optimizer is None and ckpt.decoder_config.frame_samples == 512
    codec = ckpt.build_codec()
    assert isinstance(codec, RVQCodec) == (ckpt.kind is ModelKind.RVQ)
    assert codec.hop == codec.cfg.frame_samples == codec.encoder.config.frame_samples == 512


def test_the_shipped_refiner_decodes_the_shipped_spiking_models():
    """refiner.pt: no optimiser state, trained on the shipped FREE, SPARSE and μ-SPARSE (so
    `load_model` attaches it to them and to nothing else), off by default (K = 0: the
    benchmarks did not earn it the default), and an untrained-looking file would be the
    identity: its one-step output must differ from the first stage."""
    import torch

    from neuro_codec import compression
    from neuro_codec.model.refiner import RefinerFile

    saved = RefinerFile.read(CHECKPOINTS / REFINER_FILE)
    assert saved.optimizer is None and saved.config.prediction == "endpoint"
    assert saved.config.default_steps == 0
    ids = {Checkpoint.read(CHECKPOINTS / f"{k}-small.pt").model_id
           for k in ("free", "sparse", "mu-sparse")}
    assert set(saved.extra["trained_on"]) == ids
    assert compression.load_model(CHECKPOINTS / "rvq-small.pt").refiner is None
    model = compression.load_model(CHECKPOINTS / "free-small.pt")
    assert model.refiner is not None and model.default_steps == 0
    x = (0.1 * np.sin(np.arange(22_050) * 2 * np.pi * 440 / 22_050)).astype(np.float32)
    data = compression.encode(model, x).data
    first, _ = compression.decode(model, data)
    refined, _ = compression.decode(model, data, steps=1)
    assert first.shape == refined.shape and not np.allclose(first, refined, atol=1e-4)
    assert torch.equal(torch.as_tensor(first),
                       torch.as_tensor(compression.decode(model, data, steps=0)[0]))

