"""Energy model arithmetic, conventional MACs, report files and `python -m hardware.energy`."""

import csv
import importlib.util
import json

import numpy as np
import pytest
import soundfile as sf
import torch

from hardware import energy as energy_cli
from hardware.counts import GRADED_SOURCE, Connectivity, LayerCounts, NetworkCounts, Projection
from hardware.energy_model import (
    CONSTANTS,
    FP32_MAC_PJ,
    INT8_MAC_PJ,
    EnergyModel,
    SEANetConfig,
    conventional_references,
    dense_network_layers,
    seanet_lstm_layers,
)
from hardware.report import build_report, markdown, reports_to_json, write_outputs
from neuro_codec.model.checkpoint import Checkpoint
from neuro_codec.model.encoder import EncoderConfig, SpikingEncoder
from neuro_codec.model.presets import ModelKind

# The snnTorch backend and the report run without Lava (Python 3.12); the Lava tests need it.
HAVE_LAVA_PATH = (importlib.util.find_spec("lava") is not None
                  and importlib.util.find_spec("nir") is not None)
REQUIRED_KEYS = {"seconds_of_audio", "events_per_second", "synops_per_second",
                 "neuron_updates_per_second", "power_proxy_mops_per_second",
                 "energy_uj_per_second", "conventional_energy_uj_per_second", "layers"}


def hand_connectivity() -> Connectivity:
    # 3 graded inputs → a (2) → b (2, recurrent); 6 + 4 + 4 weights.
    return Connectivity(("a", "b"), (2, 2), 3,
                        (Projection(GRADED_SOURCE, "a", np.ones((2, 3), bool)),
                         Projection("a", "b", np.ones((2, 2), bool)),
                         Projection("b", "b", np.ones((2, 2), bool))), ("b",))


def hand_counts() -> NetworkCounts:
    a = LayerCounts("a", 2, 4, graded_inputs=3, spikes=3, synops=4, graded_synops=4,
                    neuron_updates=8, active_updates=4, inter_layer_messages=3)
    b = LayerCounts("b", 2, 4, input_spikes=3, recurrent_spikes=3, spikes=4, synops=7,
                    neuron_updates=8, active_updates=7, local_messages=3, host_messages=4)
    return NetworkCounts((a, b), graded_inputs=5)


def test_published_figures_and_their_sources():
    assert CONSTANTS["loihi_synop_pj"].value == 23.6
    assert CONSTANTS["loihi_neuron_update_active_pj"].value == 81.0
    assert CONSTANTS["loihi_neuron_update_inactive_pj"].value == 52.0
    assert CONSTANTS["loihi_spike_within_tile_pj"].value == 1.7
    assert (FP32_MAC_PJ, INT8_MAC_PJ) == (4.6, 0.23)
    assert all(c.source and c.unit for c in CONSTANTS.values())
    assert "Davies" in CONSTANTS["loihi_synop_pj"].source
    assert "Horowitz" in CONSTANTS["horowitz_fp32_add_pj"].source


def test_loihi_energy_arithmetic_by_hand():
    e = EnergyModel().loihi_energy(hand_counts(), seconds=0.5)
    assert e.synops_pj == pytest.approx(11 * 23.6)
    assert e.neuron_updates_pj == pytest.approx(11 * 81 + 5 * 52)      # 11 active, 5 inactive
    assert e.spike_messages_pj == pytest.approx(6 * 1.7)                # 3 local + 3 inter-layer
    assert e.hops_pj == pytest.approx(3 * 1 * 3.5)                      # one hop, mean of 3 and 4
    assert e.static_pj == 0.0
    assert e.total_pj == pytest.approx(1431.3)
    assert e.per_layer_pj == pytest.approx({"a": 642.0, "b": 789.3})
    two_hops = EnergyModel(hops_per_inter_layer_spike=2).loihi_energy(hand_counts(), 0.5)
    assert two_hops.hops_pj == pytest.approx(21.0)
    static = EnergyModel.with_static_power(cores=2).loihi_energy(hand_counts(), seconds=0.5)
    assert static.static_pj == pytest.approx(0.8e-3 * 2 * 0.5 * 1e12)  # 0.8 mW · 2 cores · 0.5 s


def test_energy_model_refuses_nonsense():
    with pytest.raises(ValueError, match="synop_pj"):
        EnergyModel(synop_pj=-1.0)
    with pytest.raises(ValueError, match="cores"):
        EnergyModel(cores=0)
    with pytest.raises(ValueError, match="fp32"):
        EnergyModel().mac_pj("fp16")


def test_seanet_lstm_macs_from_the_layer_shapes():
    s = 22_050
    want = s * 32 * 1 * 7                                   # conv_in, k7
    rate, d = s, 32
    for stride in (2, 4, 8, 8):
        want += rate * (d * (d // 2) * 3 + (d // 2) * d + d * d)   # residual k3, k1, 1×1 skip
        rate /= stride
        want += rate * (2 * d) * d * (2 * stride)           # downsampling conv, kernel 2·stride
        d *= 2
    want += 2 * rate * 4 * (512 * 512 + 512 * 512)          # two LSTM layers at 43.07 steps/s
    want += rate * 128 * 512 * 7                            # conv_out, k7
    layers = seanet_lstm_layers()
    total = sum(layer.macs_per_second for layer in layers)
    assert total == pytest.approx(want, rel=1e-12)
    assert total == 1_153_656_000
    assert len(layers) == 1 + 4 * 4 + 2 + 1
    # With identity skips (true_skip=True) the count is the target's "about 1.0 GMAC/s"
    # (docs/energy.md, docs/paper.md §9 "Energy").
    identity = seanet_lstm_layers(SEANetConfig(true_skip=True))
    no_skip = sum(layer.macs_per_second for layer in identity)
    assert no_skip == 1_018_180_800
    assert no_skip * 4.6e-12 == pytest.approx(4.68e-3, rel=1e-3)


def test_conventional_references():
    refs = conventional_references(hand_connectivity(), frame_rate_hz=10.0)
    dense = refs["same_network_dense_fp32"]
    assert dense.macs_per_second == 140.0                    # (6 + 4 + 4) weights · 10 steps/s
    assert dense.energy_uj_per_second == pytest.approx(140 * 4.6e-6)
    assert refs["same_network_dense_int8"].energy_uj_per_second == pytest.approx(140 * 0.23e-6)
    assert refs["seanet_lstm_fp32"].energy_uj_per_second == pytest.approx(1_153_656_000 * 4.6e-6)
    default = Connectivity.from_encoder(SpikingEncoder(EncoderConfig()))
    dense = conventional_references(default, frame_rate_hz=43.07)["same_network_dense_fp32"]
    assert dense.macs_per_second == pytest.approx(
        (512 * 64 + 64 * 128 + 128 * 128 + 128 * 80) * 43.07, rel=1e-12)


def test_a_banded_first_layer_has_synapses_in_its_band_and_dense_macs_everywhere():
    torch.manual_seed(0)
    enc = SpikingEncoder(EncoderConfig(frame_samples=64, hidden_sizes=(16,), recurrent=(False,),
                                       n_units=5, input_init="random", input_support="banded",
                                       gabor_f_min_hz=200.0, min_window_samples=8))
    weight = enc.fc[0].weight.detach()
    in_band = int(torch.count_nonzero(weight))
    assert 0 < in_band < weight.numel()
    conn = Connectivity.from_encoder(enc)
    (graded,) = conn.into("lif0")
    # Loihi counts a synaptic op per non-zero weight; the dense reference pays for every one.
    assert graded.source == GRADED_SOURCE and int(graded.mask.sum()) == in_band
    assert int(graded.fan_out.sum()) == in_band
    assert dense_network_layers(conn, frame_rate_hz=1.0)[0].macs_per_step == weight.numel()


def hand_report(model="sparse", model_id="sparse-0123456789ab"):
    return build_report(model_id, model, hand_counts(), hand_connectivity(), seconds_of_audio=0.5,
                        frame_rate_hz=10.0, backend="test", wall_time_s=0.25)


def test_report_per_second_figures():
    r = hand_report()
    assert r.events_per_second == {"z": 8.0, "all_layers": 14.0}
    assert r.synops_per_second == 22.0 and r.neuron_updates_per_second == 32.0
    assert r.power_proxy_mops_per_second == pytest.approx(54e-6)
    assert r.energy_uj_per_second == pytest.approx(1431.3e-6 / 0.5)
    assert r.conventional_over_loihi["same_network_dense_fp32"] == pytest.approx(
        140 * 4.6e-6 / (1431.3e-6 / 0.5))
    assert r.layers[0].firing_rate_hz == 3.0 and r.realtime_factor == 2.0
    d = r.to_json()
    assert REQUIRED_KEYS <= set(d) and d["estimate"] is True
    json.dumps(d, allow_nan=False)


def test_report_files(tmp_path):
    free, sparse = hand_report("free", "free-aaaaaaaaaaaa"), hand_report()
    paths = write_outputs([sparse, free], tmp_path)
    doc = json.loads(paths["json"].read_text())
    assert list(doc["checkpoints"]) == ["free-aaaaaaaaaaaa", "sparse-0123456789ab"]
    assert doc["estimate"] is True and "Davies" in doc["note"]
    assert len(doc["seanet_lstm_layers"]) == 20
    for rep in doc["checkpoints"].values():
        assert REQUIRED_KEYS <= set(rep)
    md = paths["markdown"].read_text()
    header = next(line for line in md.splitlines() if line.startswith("| per second"))
    assert header.index("FREE") < header.index("SPARSE")
    assert "power proxy (M-ops/s)" in md and "estimate" in md
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["energy.png", "report.json", "report.md"]
    assert markdown([free]) != markdown([free, sparse])
    assert reports_to_json([free])["version"] == 1


# ---------------------------------------------------------------------------- the command


def tiny_checkpoint(path, model, seed, loihi_fixed=False):
    torch.manual_seed(seed)
    cfg = EncoderConfig(frame_samples=16, hidden_sizes=(8, 6), recurrent=(False, True),
                        n_units=5, input_gain=8.0)
    # trained for Loihi fixed point: its arithmetic is FIXED
    ckpt = Checkpoint.of_encoder(SpikingEncoder(cfg), ModelKind(model),
                                 train_config={"loihi_fixed": True} if loihi_fixed else None)
    ckpt.save(path)
    return ckpt.model_id


@pytest.fixture
def cli_inputs(tmp_path):
    free = tiny_checkpoint(tmp_path / "free.pt", "free", 0)
    sparse = tiny_checkpoint(tmp_path / "sparse.pt", "sparse", 1)
    wav = tmp_path / "in.wav"
    rng = np.random.default_rng(0)
    sf.write(wav, (0.2 * rng.standard_normal(2205)).astype(np.float32), 22_050, subtype="FLOAT")
    return tmp_path, free, sparse, wav


def test_cli_snntorch_backend_end_to_end(cli_inputs, capsys):
    tmp, free, sparse, wav = cli_inputs
    out = tmp / "out"
    rc = energy_cli.main(["--checkpoint", str(tmp / "sparse.pt"), str(tmp / "free.pt"),
                          "--audio", str(wav), "--out", str(out), "--backend", "snntorch",
                          "--quiet"])
    assert rc == 0
    doc = json.loads((out / "report.json").read_text())
    assert list(doc["checkpoints"]) == [free, sparse]
    rep = doc["checkpoints"][free]
    assert rep["seconds_of_audio"] == pytest.approx(0.1) and rep["backend"] == "snntorch"
    assert rep["graded_inputs_per_second"] == pytest.approx(22_050)   # float noise: no zeros
    assert "| per second of audio |" in capsys.readouterr().out


def test_cli_split_and_max_seconds(cli_inputs):
    tmp, free, _, wav = cli_inputs
    root = tmp / "data"
    (root / "audio").mkdir(parents=True)
    rows = []
    for i, split in enumerate(("test", "train", "test")):
        sf.write(root / "audio" / f"p{i}.wav", np.full(22_050 // 4, 0.1 * (i + 1), np.float32),
                 22_050, subtype="FLOAT")
        rows.append([f"p{i}", "generated", split, "0.25", f"audio/p{i}.wav", f"audio/p{i}.mid",
                     "fluidr3-grand", "{}"])
    with open(root / "manifest.csv", "w", newline="") as f:
        csv.writer(f).writerows([["piece_id", "source", "split", "duration_s", "wav_path",
                                  "midi_path", "piano", "acoustics"], *rows])
    out = tmp / "out"
    rc = energy_cli.main(["--checkpoint", str(tmp / "free.pt"), "--split", "test", "--root",
                          str(root), "--max-seconds", "0.4", "--out", str(out),
                          "--backend", "snntorch", "--quiet"])
    assert rc == 0
    rep = json.loads((out / "report.json").read_text())["checkpoints"][free]
    assert rep["seconds_of_audio"] == pytest.approx(0.4, abs=1 / 22_050)


def test_each_checkpoint_runs_in_its_own_arithmetic(tmp_path):
    """No --precision: a checkpoint trained for Loihi fixed point is counted in fixed point, a
    float one in float64, in one report; the counted z is what `neuro-codec encode` stores
    (`encode_events` in the checkpoint's arithmetic). --precision overrides both."""
    from neuro_codec.model.arithmetic import Arithmetic, encode_events

    ids = {"fixed": tiny_checkpoint(tmp_path / "fixed.pt", "sparse", 2, loihi_fixed=True),
           "float": tiny_checkpoint(tmp_path / "float.pt", "free", 3)}
    wav = tmp_path / "in.wav"
    audio = (0.3 * np.random.default_rng(1).standard_normal(16 * 300)).astype(np.float32)
    sf.write(wav, audio, 22_050, subtype="FLOAT")
    z_encode, z_other = {}, {}
    for name in ids:
        ckpt = Checkpoint.read(tmp_path / f"{name}.pt")
        assert ckpt.arithmetic is Arithmetic(name)
        enc = ckpt.build_encoder()
        z_encode[name] = encode_events(enc, audio, Arithmetic(name))
        z_other[name] = encode_events(enc, audio, "float" if name == "fixed" else "fixed")
        assert not np.array_equal(z_encode[name], z_other[name])   # the arithmetic matters here
    for precision in (None, "fixed", "float"):
        out = tmp_path / f"out-{precision}"
        argv = ["--checkpoint", str(tmp_path / "fixed.pt"), str(tmp_path / "float.pt"),
                "--audio", str(wav), "--out", str(out), "--backend", "snntorch", "--quiet",
                "--save-events"] + ([] if precision is None else ["--precision", precision])
        assert energy_cli.main(argv) == 0
        doc = json.loads((out / "report.json").read_text())["checkpoints"]
        for name, model_id in ids.items():
            want_arith = precision or name
            want = z_encode[name] if want_arith == name else z_other[name]
            rep = doc[model_id]
            assert rep["precision"] == want_arith
            z = np.load(out / "events" / model_id / "in.npy", allow_pickle=False)
            assert z.dtype == np.uint8 and np.array_equal(z, want)
            assert rep["events_per_second"]["z"] * rep["seconds_of_audio"] == pytest.approx(
                int(want.sum()), abs=1e-6)


def test_snntorch_fixed_point_counts_the_12_bit_inputs(cli_inputs, tmp_path):
    """Fixed point: the graded inputs counted are the non-zero 12-bit payloads (samples below
    half an LSB round to 0, as in Lava's fixed_pt run), not the non-zero float samples."""
    tmp, free, _, _ = cli_inputs
    wav = tmp_path / "quiet.wav"
    x = np.zeros(16 * 20, np.float32)
    x[::2] = 0.2
    x[1::4] = 1e-4                       # round(1e-4 · 2^11) = 0
    sf.write(wav, x, 22_050, subtype="FLOAT")
    per_s = {}
    for precision in ("float", "fixed"):
        out = tmp_path / precision
        assert energy_cli.main(["--checkpoint", str(tmp / "free.pt"), "--audio", str(wav),
                                "--out", str(out), "--backend", "snntorch", "--quiet",
                                "--precision", precision]) == 0
        rep = json.loads((out / "report.json").read_text())["checkpoints"][free]
        per_s[precision] = rep["graded_inputs_per_second"] * rep["seconds_of_audio"]
    assert per_s == {"float": pytest.approx(240), "fixed": pytest.approx(160)}


@pytest.mark.parametrize("args, message", [
    (["--checkpoint", "missing.pt", "--audio", "IN", "--backend", "snntorch"],
     "checkpoint not found"),
    (["--checkpoint", "CKPT", "--audio", "missing.wav", "--backend", "snntorch"],
     "audio file not found"),
    (["--checkpoint", "CKPT", "CKPT", "--audio", "IN", "--backend", "snntorch"], "given twice"),
    (["--checkpoint", "IN", "--audio", "IN", "--backend", "snntorch"],
     "not a readable checkpoint"),
])
def test_cli_bad_input_is_one_line_and_exit_1(cli_inputs, capsys, args, message):
    tmp, _, _, wav = cli_inputs
    subst = {"CKPT": str(tmp / "free.pt"), "IN": str(wav)}
    argv = [subst.get(a, a) for a in args] + ["--out", str(tmp / "out"), "--quiet"]
    assert energy_cli.main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert not (tmp / "out").exists()


@pytest.mark.parametrize("args, message", [
    (["--checkpoint", "CKPT"], "one of the arguments --audio --split is required"),
    (["--checkpoint", "CKPT", "--audio", "IN", "--split", "test"], "not allowed with"),
    (["--audio", "IN"], "the following arguments are required: --checkpoint"),
    (["--checkpoint", "CKPT", "--audio", "IN", "--max-seconds", "0"], "must be > 0"),
    (["--checkpoint", "CKPT", "--audio", "IN", "--hops", "-1"], "must be ≥ 0"),
    (["--checkpoint", "CKPT", "--audio", "IN", "--precision", "double"], "invalid choice"),
    # The old form (audio among the checkpoints) is refused before any checkpoint is read.
    (["--checkpoint", "CKPT", "IN"], "one of the arguments --audio --split is required"),
])
def test_cli_usage_errors_exit_2(cli_inputs, capsys, args, message):
    tmp, _, _, wav = cli_inputs
    subst = {"CKPT": str(tmp / "free.pt"), "IN": str(wav)}
    argv = [subst.get(a, a) for a in args] + ["--out", str(tmp / "out"), "--quiet"]
    with pytest.raises(SystemExit) as exit_:
        energy_cli.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m hardware.energy") and message in err
    assert not (tmp / "out").exists()


@pytest.mark.skipif(HAVE_LAVA_PATH, reason="the Lava path exists")
def test_cli_says_when_lava_is_missing(cli_inputs, capsys):
    tmp, _, _, wav = cli_inputs
    assert energy_cli.main(["--checkpoint", str(tmp / "free.pt"), "--audio", str(wav),
                            "--out", str(tmp / "out")]) == 1
    assert "Lava simulation is not available" in capsys.readouterr().err


@pytest.mark.lava
@pytest.mark.skipif(not HAVE_LAVA_PATH, reason="needs Lava and NIR (the lava extra)")
def test_cli_lava_end_to_end_equals_snntorch(cli_inputs):
    tmp, free, sparse, wav = cli_inputs
    docs = {}
    for backend in ("lava", "snntorch"):
        out = tmp / backend
        argv = ["--checkpoint", str(tmp / "free.pt"), str(tmp / "sparse.pt"), "--audio",
                str(wav), "--out", str(out), "--backend", backend, "--quiet"]
        assert energy_cli.main(argv) == 0
        docs[backend] = json.loads((out / "report.json").read_text())["checkpoints"]
    for model_id in (free, sparse):
        lava, ref = docs["lava"][model_id], docs["snntorch"][model_id]
        assert lava["backend"] == "lava-loihi2sim"
        for key in ("events_per_second", "synops_per_second", "neuron_updates_per_second",
                    "power_proxy_mops_per_second", "energy_uj_per_second"):
            assert lava[key] == ref[key], key
