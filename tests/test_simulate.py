"""`hardware.simulate`: the Lava run of an audio file writes the snnTorch encoder's z, its result
carries what the energy report needs, bad input gets one line and exit 1, and the runtime is
stopped even when the run fails."""

import multiprocessing

import numpy as np
import pytest
import soundfile as sf
import torch
from factories import tiny_encoder

import hardware.simulate as simulate
from conversion.nir_export import encoder_to_nir, lif_name
from neuro_codec.model.arithmetic import Arithmetic
from neuro_codec.model.checkpoint import Checkpoint
from neuro_codec.model.encoder import EncoderConfig
from neuro_codec.model.fixed_point import simulate_fixed_point


def _tiny(seed: int = 0):
    return tiny_encoder(CFG, seed)


pytestmark = pytest.mark.lava

CFG = EncoderConfig(frame_samples=16, hidden_sizes=(8, 6), recurrent=(False, True), n_units=5)



@pytest.fixture
def files(tmp_path):
    enc = _tiny()
    Checkpoint.of_encoder(enc).save(tmp_path / "enc.pt")
    rng = np.random.default_rng(0)
    audio = np.clip(rng.normal(0, 0.3, 16 * 230 + 7), -1, 1).astype(np.float32)
    sf.write(tmp_path / "in.wav", audio, 22050, subtype="FLOAT")
    return enc, tmp_path


@pytest.fixture(autouse=True)
def no_lava_workers_left():
    yield
    assert multiprocessing.active_children() == []


def test_cli_writes_the_snntorch_z(files):
    enc, d = files
    rc = simulate.main(["--checkpoint", str(d / "enc.pt"), str(d / "in.wav"), "--quiet",
                        "--events-out", str(d / "z.npy"), "--hidden-out", str(d / "h.npz"),
                        "--snc", str(d / "z.snc")])
    assert rc == 0
    audio, _ = sf.read(d / "in.wav", dtype="float32")
    _, trace = enc.double()(torch.from_numpy(audio.astype(np.float64)), return_trace=True)
    ref = [t[0].detach().numpy().astype(np.uint8) for t in trace.layers]
    z = np.load(d / "z.npy", allow_pickle=False)
    assert z.dtype == np.uint8 and z.shape == (5, 231)      # T = ⌈(16·230 + 7) / 16⌉
    assert 0 < z.sum() < 0.9 * z.size
    assert np.array_equal(z, ref[-1])
    hidden = np.load(d / "h.npz", allow_pickle=False)
    assert list(hidden.keys()) == [lif_name(i) for i in range(3)]
    for i, want in enumerate(ref):
        assert np.array_equal(hidden[lif_name(i)], want)
    from neuro_codec.coding.bitstream import read_snc

    header, z_snc = read_snc(d / "z.snc")
    assert np.array_equal(z_snc, z) and header.n_audio_samples == len(audio)


def test_simulate_audio_result(files):
    enc, _ = files
    audio = np.clip(np.random.default_rng(1).normal(0, 0.3, 16 * 200), -1, 1)
    result = simulate.simulate_audio(encoder_to_nir(enc), audio, arithmetic=Arithmetic.FIXED)
    assert result.arithmetic is Arithmetic.FIXED and result.sample_rate_hz == 22050
    assert result.n_audio_samples == audio.size
    assert result.layer_names == [lif_name(i) for i in range(3)]
    assert [a.shape for a in result.layers] == [(8, 200), (6, 200), (5, 200)]
    assert result.z is result.layers[-1]
    frames = audio.reshape(200, 16).T
    assert np.array_equal(result.inputs, np.clip(np.round(frames * 2048), -2047, 2047))
    _, trace = simulate_fixed_point(enc, audio)
    for got, want in zip(result.layers, trace.layers):
        assert np.array_equal(got, want[0].numpy().astype(np.uint8))


def test_runtime_stopped_when_the_run_fails(files, monkeypatch):
    enc, _ = files

    def broken(words, n_units):
        raise RuntimeError("readout failed")

    monkeypatch.setattr(simulate, "unpack_spikes", broken)
    with pytest.raises(RuntimeError, match="readout failed"):
        simulate.simulate_audio(encoder_to_nir(enc), np.zeros(16 * 10))
    # the autouse fixture checks that no Lava worker process is left


@pytest.mark.parametrize("case", ["missing checkpoint", "not audio", "missing audio"])
def test_cli_bad_input_one_line(files, capsys, case):
    _, d = files
    (d / "notes.txt").write_text("not audio")
    ckpt = d / ("none.pt" if case == "missing checkpoint" else "enc.pt")
    audio = {"not audio": d / "notes.txt", "missing audio": d / "none.wav"}.get(case,
                                                                                d / "in.wav")
    rc = simulate.main(["--checkpoint", str(ckpt), str(audio), "--events-out", str(d / "z.npy")])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("error: ") and err.count("\n") == 1
    assert not (d / "z.npy").exists()


def test_cli_from_nir_file_in_fixed_point(files):
    from conversion.export import main as export_main

    enc, d = files
    assert export_main(["--checkpoint", str(d / "enc.pt"), str(d / "e.nir"), "--quiet"]) == 0
    rc = simulate.main(["--nir", str(d / "e.nir"), str(d / "in.wav"), "--precision", "fixed",
                        "--quiet", "--events-out", str(d / "zf.npy")])
    assert rc == 0
    audio, _ = sf.read(d / "in.wav", dtype="float32")
    z_ref, _ = simulate_fixed_point(enc, audio)
    assert np.array_equal(np.load(d / "zf.npy"), z_ref[0].numpy().astype(np.uint8))


def _fixed_checkpoint(enc, path):
    """The encoder as a checkpoint trained for Loihi fixed point (arithmetic: FIXED)."""
    Checkpoint.of_encoder(enc, train_config={"loihi_fixed": True}).save(path)


def test_default_precision_is_the_checkpoints_arithmetic(files, capsys):
    """No --precision: a fixed-point checkpoint runs fixed_pt, directly and through its
    exported NIR file (whose metadata says "fixed"); a float one runs float; a NIR graph
    without the field runs float; --precision overrides."""
    import nir

    from conversion.export import main as export_main

    enc, d = files
    _fixed_checkpoint(enc, d / "fixed.pt")
    audio, _ = sf.read(d / "in.wav", dtype="float32")
    z_fixed = simulate_fixed_point(enc, audio)[0][0].numpy().astype(np.uint8)
    z_float = enc.run_float64(audio)[-1]
    assert not np.array_equal(z_fixed, z_float)       # the test can tell them apart
    assert export_main(["--checkpoint", str(d / "fixed.pt"), str(d / "fixed.nir"),
                        "--quiet"]) == 0
    assert export_main(["--checkpoint", str(d / "enc.pt"), str(d / "float.nir"),
                        "--quiet"]) == 0
    meta = {k: (v.decode() if isinstance(v, bytes) else v)
            for k, v in nir.read(d / "fixed.nir").metadata.items()}
    assert meta["arithmetic"] == "fixed"
    bare = nir.read(d / "float.nir")
    bare.metadata.pop("arithmetic")
    nir.write(d / "bare.nir", bare)
    cases = [(["--checkpoint", str(d / "fixed.pt")], z_fixed),
             (["--nir", str(d / "fixed.nir")], z_fixed),
             (["--checkpoint", str(d / "enc.pt")], z_float),
             (["--nir", str(d / "float.nir")], z_float),
             (["--nir", str(d / "bare.nir")], z_float),
             (["--checkpoint", str(d / "fixed.pt"), "--precision", "float"], z_float),
             (["--nir", str(d / "float.nir"), "--precision", "fixed"], z_fixed)]
    for i, (source, want) in enumerate(cases):
        out = d / f"z{i}.npy"
        assert simulate.main([*source, str(d / "in.wav"), "--events-out", str(out)]) == 0, i
        assert np.array_equal(np.load(out), want), source
    err = capsys.readouterr().err
    assert "fixed (the checkpoint's)" in err and "float (the default: the graph names none)" in err


def test_usage_errors_exit_2(files, capsys):
    _, d = files
    for argv in ([str(d / "in.wav"), "--events-out", str(d / "z.npy")],          # no source
                 ["--checkpoint", str(d / "enc.pt"), "--nir", str(d / "e.nir"), str(d / "in.wav"),
                  "--events-out", str(d / "z.npy")],
                 ["--checkpoint", str(d / "enc.pt"), str(d / "in.wav"), "--precision", "half",
                  "--events-out", str(d / "z.npy")]):
        with pytest.raises(SystemExit) as exit_:
            simulate.main(argv)
        assert exit_.value.code == 2
        assert capsys.readouterr().err.startswith("usage: python -m hardware.simulate")
    assert not (d / "z.npy").exists()
