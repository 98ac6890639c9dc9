"""One z everywhere: for a checkpoint fine-tuned in Loihi fixed point, `neuro-codec encode`
(the .snc), `python -m hardware.simulate --checkpoint` and `--nir` (Lava, default precision)
and the events `python -m hardware.energy` counts (Lava and snnTorch backends) are the same
spikes, each in the checkpoint's own arithmetic without a flag saying so."""

import json
import multiprocessing

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("lava", reason="needs Lava (the lava extra, Python 3.10)")

from conversion.export import main as export_main  # noqa: E402
from hardware import energy, simulate  # noqa: E402
from neuro_codec.cli import main as codec_main  # noqa: E402
from neuro_codec.coding.bitstream import read_snc  # noqa: E402
from neuro_codec.data.synthetic import SyntheticTones  # noqa: E402
from neuro_codec.model.arithmetic import Arithmetic, encode_events  # noqa: E402
from neuro_codec.model.checkpoint import Checkpoint  # noqa: E402
from neuro_codec.training import TrainConfig, train  # noqa: E402

pytestmark = pytest.mark.lava


@pytest.fixture(autouse=True)
def no_lava_workers_left():
    yield
    assert multiprocessing.active_children() == []


@pytest.fixture(scope="module")
def fixed_point_run(tmp_path_factory):
    """A tiny checkpoint whose last step was in the fixed-point phase, and ~1 s of audio."""
    d = tmp_path_factory.mktemp("same")
    cfg = TrainConfig(model="sparse", preset="tiny", data="synthetic", steps=2,
                      fixed_point_fraction=0.5, val_clips=0)
    train(cfg, d / "run", dataset=SyntheticTones(n_clips=2, clip_samples=2**13))
    rng = np.random.default_rng(0)
    t = np.arange(22_050) / 22_050
    x = (0.3 * np.sin(2 * np.pi * 330 * t) + 0.1 * rng.standard_normal(t.size)).astype(np.float32)
    sf.write(d / "in.wav", x, 22_050, subtype="FLOAT")
    return d / "run" / "last.pt", d / "in.wav", x, d


def test_encode_simulate_and_energy_count_the_same_z(fixed_point_run):
    ckpt_path, wav, x, d = fixed_point_run
    ckpt = Checkpoint.read(ckpt_path)
    assert ckpt.arithmetic is Arithmetic.FIXED
    encoder = ckpt.build_encoder()
    z_float = encode_events(encoder, x, Arithmetic.FLOAT)

    assert codec_main(["encode", str(wav), str(d / "x.snc"), "--checkpoint", str(ckpt_path)]) == 0
    header, z_snc = read_snc(d / "x.snc")
    assert header.model_id == ckpt.model_id and z_snc.shape == (80, 44)
    assert 0 < z_snc.sum() < z_snc.size
    assert not np.array_equal(z_snc, z_float)      # fixed point differs here: the test can tell

    assert simulate.main(["--checkpoint", str(ckpt_path), str(wav), "--quiet",
                          "--events-out", str(d / "z_ckpt.npy")]) == 0
    assert export_main(["--checkpoint", str(ckpt_path), str(d / "e.nir"), "--quiet"]) == 0
    assert simulate.main(["--nir", str(d / "e.nir"), str(wav), "--quiet",
                          "--events-out", str(d / "z_nir.npy")]) == 0
    for name in ("z_ckpt.npy", "z_nir.npy"):
        assert np.array_equal(np.load(d / name, allow_pickle=False), z_snc), name

    for backend in ("lava", "snntorch"):
        out = d / f"energy-{backend}"
        assert energy.main(["--checkpoint", str(ckpt_path), "--audio", str(wav), "--out",
                            str(out), "--backend", backend, "--save-events", "--quiet"]) == 0
        rep = json.loads((out / "report.json").read_text())["checkpoints"][ckpt.model_id]
        assert rep["precision"] == "fixed"
        z = np.load(out / "events" / ckpt.model_id / "in.npy", allow_pickle=False)
        assert np.array_equal(z, z_snc), backend
        assert rep["events_per_second"]["z"] * rep["seconds_of_audio"] == pytest.approx(
            int(z_snc.sum()), abs=1e-6)


def test_mu_sparse_level_is_the_same_everywhere(fixed_point_run):
    """μ-SPARSE at --mu 2: the .snc, Lava through the checkpoint and through the exported NIR
    file (which records the level), and the energy report count the same z."""
    _, wav, x, d = fixed_point_run
    cfg = TrainConfig(model="mu-sparse", preset="tiny", data="synthetic", steps=2, mu_levels=6,
                      fixed_point_fraction=0.5, val_clips=0)
    train(cfg, d / "mu", dataset=SyntheticTones(n_clips=2, clip_samples=2**13))
    ckpt_path = d / "mu" / "last.pt"
    model_id = Checkpoint.read(ckpt_path).model_id
    assert codec_main(["encode", str(wav), str(d / "mu.snc"), "--checkpoint", str(ckpt_path),
                       "--mu", "2"]) == 0
    header, z_snc = read_snc(d / "mu.snc")
    assert header.mu == (2,)
    assert simulate.main(["--checkpoint", str(ckpt_path), str(wav), "--mu", "2", "--quiet",
                          "--events-out", str(d / "mu_ckpt.npy")]) == 0
    assert export_main(["--checkpoint", str(ckpt_path), str(d / "mu.nir"), "--mu", "2",
                        "--quiet"]) == 0
    assert simulate.main(["--nir", str(d / "mu.nir"), str(wav), "--quiet",
                          "--events-out", str(d / "mu_nir.npy")]) == 0
    for name in ("mu_ckpt.npy", "mu_nir.npy"):
        assert np.array_equal(np.load(d / name, allow_pickle=False), z_snc), name
    out = d / "energy-mu"
    assert energy.main(["--checkpoint", str(ckpt_path), "--audio", str(wav), "--mu", "2",
                        "--out", str(out), "--save-events", "--quiet"]) == 0
    assert np.array_equal(np.load(out / "events" / model_id / "in.npy"), z_snc)
