from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from neuro_codec.cli import main
from neuro_codec.coding.bitstream import read_snc
from neuro_codec.data.synthetic import SyntheticTones
from neuro_codec.model.checkpoint import load_encoder
from neuro_codec.training import TrainConfig, train


@pytest.fixture(scope="module")
def tiny_checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    data = SyntheticTones(n_clips=2, clip_samples=2**13)
    paths = []
    for seed in (0, 1):
        cfg = TrainConfig(model="free", preset="tiny", data="synthetic", steps=2, seed=seed)
        train(cfg, root / f"run{seed}", dataset=data)
        paths.append(root / f"run{seed}" / "last.pt")
    return paths


@pytest.fixture
def wav(tmp_path):
    rng = np.random.default_rng(0)
    x = (0.2 * rng.standard_normal(10_000)).astype(np.float32)
    path = tmp_path / "in.wav"
    sf.write(path, x, 22_050, subtype="FLOAT")
    return path, x


def test_encode_decode_round_trip_keeps_length_and_model_id(tiny_checkpoints, wav, tmp_path):
    ckpt = tiny_checkpoints[0]
    path, x = wav
    snc, out = tmp_path / "x.snc", tmp_path / "out.wav"
    assert main(["encode", str(path), str(snc), "--checkpoint", str(ckpt)]) == 0
    header, z = read_snc(snc)
    loaded = load_encoder(ckpt)
    encoder, model_id = loaded.encoder, loaded.model_id
    assert header.model_id == model_id and header.n_audio_samples == x.size
    assert z.shape == (80, -(-x.size // 512))
    assert np.array_equal(z, encoder.run_float64(x)[-1])
    assert main(["decode", str(snc), str(out), "--checkpoint", str(ckpt), "--steps", "2"]) == 0
    y, rate = sf.read(out)
    assert rate == 22_050 and y.shape == (x.size,)


def test_stereo_and_other_rates_are_downmixed_and_resampled(tiny_checkpoints, tmp_path, capsys):
    t = np.arange(44_100) / 44_100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 220 * t)], 1) * 0.3
    path = tmp_path / "stereo44k.wav"
    sf.write(path, stereo, 44_100)
    snc = tmp_path / "s.snc"
    assert main(["encode", str(path), str(snc), "--checkpoint",
                 str(tiny_checkpoints[0])]) == 0
    err = capsys.readouterr().err
    assert "resampling 44100 Hz" in err and "note: downmixing 2 channels to mono" in err
    assert read_snc(snc)[0].n_audio_samples == 22_050


def test_decode_refuses_a_file_from_another_model(tiny_checkpoints, wav, tmp_path, capsys):
    path, _ = wav
    snc = tmp_path / "x.snc"
    assert main(["encode", str(path), str(snc), "--checkpoint", str(tiny_checkpoints[0])]) == 0
    capsys.readouterr()
    out = tmp_path / "out.wav"
    assert main(["decode", str(snc), str(out), "--checkpoint", str(tiny_checkpoints[1])]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "was made by model" in err and err.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize("content,expected", [
    (None, "checkpoint not found"),
    (b"not a checkpoint at all", "not a readable checkpoint"),
])
def test_bad_checkpoints_give_one_line(wav, tmp_path, capsys, content, expected):
    ckpt = tmp_path / "bad.pt"
    if content is not None:
        ckpt.write_bytes(content)
    snc = tmp_path / "x.snc"
    assert main(["encode", str(wav[0]), str(snc), "--checkpoint", str(ckpt)]) == 1
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1
    assert not snc.exists()


def test_checkpoint_whose_config_does_not_match_its_weights(tiny_checkpoints, wav, tmp_path,
                                                            capsys):
    import torch

    ckpt = torch.load(tiny_checkpoints[0], weights_only=True)
    ckpt["config"]["encoder"]["hidden_sizes"] = [7]
    bad = tmp_path / "mismatch.pt"
    torch.save(ckpt, bad)
    assert main(["encode", str(wav[0]), str(tmp_path / "x.snc"), "--checkpoint", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "mismatch.pt" in err and "does not match" in err and err.count("\n") == 1


@pytest.mark.parametrize("payload", [b"", b"RIFF garbage that is not a wave file"])
def test_non_audio_input_gives_one_line(tiny_checkpoints, tmp_path, capsys, payload):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(payload)
    assert main(["encode", str(bad), str(tmp_path / "x.snc"), "--checkpoint",
                 str(tiny_checkpoints[0])]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


@pytest.mark.parametrize("bad, counts", [(np.nan, "3 NaN and 0 infinite"),
                                         (np.inf, "0 NaN and 3 infinite"),
                                         (-np.inf, "0 NaN and 3 infinite")])
def test_audio_that_is_not_finite_is_refused_and_nothing_is_written(
        tiny_checkpoints, wav, tmp_path, capsys, bad, counts):
    path, x = wav
    x = x.copy()
    x[[4410, 4411, 9000]] = bad   # the first at 0.200 s
    sf.write(path, x, 22_050, subtype="FLOAT")
    snc = tmp_path / "out" / "x.snc"
    snc.parent.mkdir()
    assert main(["encode", str(path), str(snc), "--checkpoint", str(tiny_checkpoints[0])]) == 1
    err = capsys.readouterr().err
    assert err == f"error: {path} holds {counts} samples (the first at 0.200 s); audio must " \
                  f"be finite\n"
    assert list(snc.parent.iterdir()) == []


def test_audio_beyond_full_scale_is_noted_once_and_coded_as_it_is(tiny_checkpoints, wav,
                                                                  tmp_path, capsys):
    path, x = wav
    loud = x.copy()
    loud[100] = 40.0
    loud[200] = -12.5
    sf.write(path, loud, 22_050, subtype="FLOAT")
    ckpt = tiny_checkpoints[0]
    snc = tmp_path / "loud.snc"
    assert main(["encode", str(path), str(snc), "--checkpoint", str(ckpt)]) == 0
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert notes == [f"note: {path} peaks at 40 (+32.0 dBFS), beyond full scale ±1; "
                     f"coded as it is"]
    assert "error" not in err
    # Coded as it is: the events of the loud samples, not of clipped or rescaled ones.
    encoder = load_encoder(ckpt).encoder
    z = read_snc(snc)[1]
    assert np.array_equal(z, encoder.run_float64(loud)[-1])
    assert not np.array_equal(z, encoder.run_float64(np.clip(loud, -1, 1))[-1])

@pytest.fixture(scope="module")
def level_checkpoints(tmp_path_factory):
    """A tiny μ-SPARSE model (random level embeddings, so that levels differ) and an RVQ one."""
    import torch

    from neuro_codec.model.checkpoint import Checkpoint

    root = tmp_path_factory.mktemp("levels")
    data = SyntheticTones(n_clips=2, clip_samples=2**13)
    out = {}
    for model in ("mu-sparse", "rvq"):
        cfg = TrainConfig(model=model, preset="tiny", data="synthetic", steps=2, mu_levels=6)
        train(cfg, root / model, dataset=data)
        out[model] = root / model / "last.pt"
    ckpt = Checkpoint.read(out["mu-sparse"])
    gen = torch.Generator().manual_seed(0)
    for key, value in ckpt.encoder_state.items():
        if key.startswith("mu_bias."):   # level μ: a bias falling with μ, so rates fall with μ
            levels = torch.arange(value.shape[0], dtype=value.dtype)[:, None]
            ckpt.encoder_state[key] = 0.5 - 0.25 * levels + 0.05 * torch.randn(value.shape,
                                                                               generator=gen)
    ckpt.save(out["mu-sparse"])
    return out


def test_mu_sparse_encode_records_the_level_and_decodes_with_it(level_checkpoints, wav,
                                                                tmp_path):
    from neuro_codec.compression import decode_events, events, load_model

    ckpt = level_checkpoints["mu-sparse"]
    path, x = wav
    model = load_model(ckpt)
    counts = []
    for mu in (0, 5):
        snc, out = tmp_path / f"m{mu}.snc", tmp_path / f"m{mu}.wav"
        assert main(["encode", str(path), str(snc), "--checkpoint", str(ckpt),
                     "--mu", str(mu)]) == 0
        header, z = read_snc(snc)
        assert header.version == 2 and header.mu == (mu,)
        assert np.array_equal(z, events(model, x, mu))
        counts.append(header.n_events)
        assert main(["decode", str(snc), str(out), "--checkpoint", str(ckpt),
                     "--steps", "0"]) == 0
        y, _ = sf.read(out, dtype="float32")
        want = decode_events(model, z, x.size, mu, steps=0)
        assert np.allclose(y, want, atol=1 / 2**15)     # 16-bit PCM
    assert counts[1] < counts[0]
    assert main(["encode", str(path), str(tmp_path / "bad.snc"), "--checkpoint", str(ckpt),
                 "--mu", "6"]) == 1
    assert not (tmp_path / "bad.snc").exists()


def test_quality_controlled_mu_takes_the_largest_level_that_meets_the_target(
        level_checkpoints, wav, tmp_path):
    from neuro_codec.compression import decode_events, events, load_model
    from neuro_codec.evaluation.metrics import si_snr_db

    model = load_model(level_checkpoints["mu-sparse"])
    path, x = wav
    seg = 4096                      # 8 frames: 10,000 samples make 3 segments
    scores = [[si_snr_db(decode_events(model, events(model, x[s:s + seg], mu), len(x[s:s + seg]),
                                       mu, steps=0), x[s:s + seg]) for mu in range(6)]
              for s in range(0, x.size, seg)]
    # A target between the levels' scores of the first segment.
    target = float(np.median(scores[0]))
    # The largest passing level; where none passes, the best-scoring one.
    want = [max([m for m in range(6) if row[m] >= target], default=int(np.argmax(row)))
            for row in scores]
    snc = tmp_path / "qc.snc"
    assert main(["encode", str(path), str(snc), "--checkpoint", str(level_checkpoints[
        "mu-sparse"]), "--target-sisnr", str(target), "--segment-seconds",
        str(seg / 22050)]) == 0
    header, z = read_snc(snc)
    assert header.mu_segment_frames == 8 and list(header.mu) == want
    parts = [events(model, x[s:s + seg], mu) for s, mu in zip(range(0, x.size, seg), want)]
    assert np.array_equal(z, np.concatenate(parts, axis=1))


def test_rvq_codes_go_in_their_own_container(level_checkpoints, wav, tmp_path, capsys):
    from neuro_codec.coding.rvq_file import read_rvq

    ckpt = level_checkpoints["rvq"]
    path, x = wav
    rvq, out = tmp_path / "x.rvq", tmp_path / "x.wav"
    assert main(["encode", str(path), str(rvq), "--checkpoint", str(ckpt)]) == 0
    header, codes = read_rvq(rvq)
    assert codes.shape == (8, -(-x.size // 512)) and header.payload_bits == 80 * codes.shape[1]
    assert main(["decode", str(rvq), str(out), "--checkpoint", str(ckpt), "--steps", "0"]) == 0
    assert sf.read(out)[0].shape == (x.size,)
    capsys.readouterr()
    assert main(["decode", str(rvq), str(out), "--checkpoint",
                 str(level_checkpoints["mu-sparse"])]) == 1
    assert "was made by model 'rvq-" in capsys.readouterr().err
    assert main(["encode", str(path), str(tmp_path / "y.rvq"), "--checkpoint", str(ckpt),
                 "--mu", "1"]) == 1
    assert "no compression level" in capsys.readouterr().err


def test_rvq_codes_with_the_first_k_codebooks_at_k_tenths_of_the_rate(level_checkpoints, wav,
                                                                      tmp_path, capsys):
    """--codebooks K writes exactly K·10·T payload bits and a header with K; decode reads a file
    of any K and decodes the sum of the model's first K codebooks."""
    import torch

    from neuro_codec import compression
    from neuro_codec.coding.rvq_file import read_rvq

    ckpt = level_checkpoints["rvq"]
    path, x = wav
    model = compression.load_model(ckpt, refiner=None)
    t = -(-x.size // 512)
    every = model.codec.encode_codes(torch.from_numpy(x)[None])[0].numpy()
    for k in (1, 3, 8):
        rvq, out = tmp_path / f"k{k}.rvq", tmp_path / f"k{k}.wav"
        assert main(["encode", str(path), str(rvq), "--checkpoint", str(ckpt),
                     "--codebooks", str(k)]) == 0
        assert f"{k} of 8 codebooks" in capsys.readouterr().out
        header, codes = read_rvq(rvq)
        assert header.n_codebooks == k and header.payload_bits == k * 10 * t
        assert rvq.stat().st_size == 26 + len(header.model_id) + -(-k * 10 * t // 8)
        assert np.array_equal(codes, every[:k])
        first_k = torch.from_numpy(every[:k])[None]
        want = model.codec.decode(model.codec.encoder.dequantize(first_k), x.size, steps=0)
        y, _ = compression.decode(model, rvq.read_bytes(), steps=0)
        assert np.array_equal(y, want[0].numpy())
        assert main(["decode", str(rvq), str(out), "--checkpoint", str(ckpt), "--steps",
                     "0"]) == 0
        assert np.allclose(sf.read(out, dtype="float32")[0], y, atol=1 / 2**15)   # 16-bit PCM
    assert main(["encode", str(path), str(tmp_path / "all.rvq"), "--checkpoint", str(ckpt)]) == 0
    assert (tmp_path / "all.rvq").read_bytes() == (tmp_path / "k8.rvq").read_bytes()
    capsys.readouterr()
    # One dequantisation per K: fewer codebooks decode to a different waveform.
    one = compression.decode(model, (tmp_path / "k1.rvq").read_bytes(), steps=0)[0]
    assert not np.allclose(one, compression.decode(model, (tmp_path / "k8.rvq").read_bytes(),
                                                   steps=0)[0], atol=1e-4)


def test_codebooks_errors_are_one_line_and_write_nothing(level_checkpoints, tiny_checkpoints,
                                                         wav, tmp_path, capsys):
    from neuro_codec.coding.rvq_file import pack_rvq
    from neuro_codec.compression import load_model

    path, _ = wav
    rvq = level_checkpoints["rvq"]
    too_many = tmp_path / "nine.rvq"
    too_many.write_bytes(pack_rvq(np.zeros((9, 20), dtype=np.int64), 10, n_audio_samples=10_000,
                                  model_id=load_model(rvq).model_id))
    wrong_bits = tmp_path / "bits.rvq"
    wrong_bits.write_bytes(pack_rvq(np.zeros((2, 20), dtype=np.int64), 9,
                                    n_audio_samples=10_000, model_id=load_model(rvq).model_id))
    cases = [
        (["encode", str(path), str(tmp_path / "x.snc"), "--checkpoint",
          str(tiny_checkpoints[0]), "--codebooks", "2"], "is a free model: it has no codebooks "
         "(--codebooks needs an RVQ checkpoint)"),
        (["encode", str(path), str(tmp_path / "x.rvq"), "--checkpoint", str(rvq),
          "--codebooks", "9"], "codebooks must be in [1, 8]"),
        (["decode", str(too_many), str(tmp_path / "x.wav"), "--checkpoint", str(rvq)],
         "nine.rvq holds 9 codebooks; rvq-"),
        (["decode", str(wrong_bits), str(tmp_path / "x.wav"), "--checkpoint", str(rvq)],
         "bits.rvq has codes of 9 bits"),
    ]
    for argv, message in cases:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bits.rvq", "in.wav", "nine.rvq"]
    with pytest.raises(SystemExit) as exit_:
        main(["encode", str(path), str(tmp_path / "x.rvq"), "--codebooks", "0"])
    assert exit_.value.code == 2


# ------------------------------------------------- eval, shipped checkpoints, the two policies


def _fake_dataset(root, seconds=(0.7, 0.9)):
    """A built-in dataset root with two short test pieces (FLOAT WAVs: exact samples)."""
    from neuro_codec.data.dataset import write_manifest
    from neuro_codec.data.pieces import Piece

    pieces = []
    for i, s in enumerate(seconds):
        wav, mid = root / "wav" / f"p{i}.wav", root / "midi" / f"p{i}.mid"
        wav.parent.mkdir(parents=True, exist_ok=True)
        mid.parent.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(10 + i)
        sf.write(wav, (0.2 * rng.standard_normal(int(s * 22_050))).astype(np.float32), 22_050,
                 subtype="FLOAT")
        mid.write_bytes(b"")
        pieces.append(Piece(f"p{i}", "generated", "test", s, wav, mid))
    write_manifest(root, pieces)
    return pieces


def test_eval_rows_and_payload_rate_equal_the_encode_command(tiny_checkpoints, tmp_path):
    import csv
    import math

    from neuro_codec import compression
    from neuro_codec.coding.bitstream import parse_header
    from neuro_codec.data.audio import load_audio
    from neuro_codec.evaluation.metrics import mel_distance, si_snr_db

    ckpt = tiny_checkpoints[0]
    root = tmp_path / "data"
    pieces = _fake_dataset(root)
    out, table = tmp_path / "eval", tmp_path / "table"
    assert main(["eval", "--checkpoint", str(ckpt), "--root", str(root), "--clips", "5",
                 "--seconds", "0.5", "--steps", "0", "--no-visqol", "--out", str(out),
                 "--table", str(table)]) == 0
    model = compression.load_model(ckpt)
    with open(out / f"eval-{model.model_id}.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["clip"] for r in rows] == ["p0@0s", "p1@0s"]     # one 0.5 s clip per piece
    n = round(0.5 * 22_050)
    for row, piece in zip(rows, pieces):
        clip = load_audio(piece.wav_path, quiet=True)[:n]
        wav, snc = tmp_path / f"{piece.id}.wav", tmp_path / f"{piece.id}.snc"
        sf.write(wav, clip, 22_050, subtype="FLOAT")
        assert main(["encode", str(wav), str(snc), "--checkpoint", str(ckpt)]) == 0
        data = snc.read_bytes()
        header = parse_header(data)
        assert float(row["payload_kbps"]) == header.payload_bits / (n / 22_050) / 1e3
        assert float(row["file_kbps"]) == len(data) * 8 / (n / 22_050) / 1e3
        assert row["format"] == header.format.value
        assert float(row["event_rate"]) == header.n_events / (header.n_units * header.n_frames)
        x_hat, _ = compression.decode(model, data, steps=0)
        assert float(row["si_snr_db"]) == pytest.approx(si_snr_db(x_hat, clip), rel=1e-9)
        assert float(row["mel_distance"]) == pytest.approx(mel_distance(x_hat, clip), rel=1e-9)
        assert math.isnan(float(row["visqol"])) and math.isnan(float(row["mu"]))
    assert (out / f"eval-{model.model_id}.png").stat().st_size > 0
    with open(table / "baselines.csv") as f:
        shared = [r for r in csv.DictReader(f) if r["codec"] == "spiking-free"]
    assert len(shared) == 1 and float(shared[0]["clips"]) == 2
    assert float(shared[0]["kbps"]) == round(np.mean([float(r["payload_kbps"]) for r in rows]),
                                             3)


SHIPPED = Path(__file__).resolve().parents[1] / "neuro_codec" / "checkpoints"


@pytest.fixture
def one_second(tmp_path):
    t = np.arange(22_050) / 22_050
    x = (0.3 * np.sin(2 * np.pi * 440 * t) * np.exp(-3 * t)
         + 0.1 * np.sin(2 * np.pi * 1320 * t)).astype(np.float32)
    path = tmp_path / "one.wav"
    sf.write(path, x, 22_050, subtype="FLOAT")
    return path, x


def test_encode_and_decode_without_flags_use_the_shipped_checkpoints(one_second, tmp_path):
    from neuro_codec.model.arithmetic import encode_events
    from neuro_codec.model.checkpoint import Checkpoint

    path, x = one_second
    snc, out = tmp_path / "one.snc", tmp_path / "back.wav"
    assert main(["encode", str(path), str(snc)]) == 0
    ckpt = Checkpoint.read(SHIPPED / "sparse-small.pt")
    header, z = read_snc(snc)
    assert header.model_id == ckpt.model_id and header.model_id.startswith("sparse-")
    assert np.array_equal(z, encode_events(ckpt.build_encoder(), x, ckpt.arithmetic))
    assert main(["decode", str(snc), str(out), "--steps", "0"]) == 0
    y, rate = sf.read(out)
    assert rate == 22_050 and y.shape == x.shape
    # --model picks the shipped checkpoint of another kind; decode finds it by the file's id.
    free = Checkpoint.read(SHIPPED / "free-small.pt")
    assert main(["encode", str(path), str(snc), "--model", "free"]) == 0
    assert read_snc(snc)[0].model_id == free.model_id
    assert main(["decode", str(snc), str(out), "--steps", "0"]) == 0
    assert sf.read(out)[0].shape == x.shape


def test_decode_of_a_file_no_shipped_model_made_names_its_id(tmp_path, capsys):
    from neuro_codec.coding.bitstream import write_snc

    snc, out = tmp_path / "other.snc", tmp_path / "out.wav"
    write_snc(snc, np.zeros((80, 5), np.uint8), model_id="sparse-000000000000")
    assert main(["decode", str(snc), str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no shipped checkpoint has model id "
                                               "'sparse-000000000000'"), err
    from neuro_codec.model.checkpoint import Checkpoint

    shipped = [Checkpoint.read(SHIPPED / f"{k}-small.pt").model_id for k in ("free", "sparse")]
    assert all(i in err[0] for i in shipped) and "give --checkpoint" in err[0]
    assert not out.exists()


def test_a_kind_that_is_not_shipped_is_refused_by_name(one_second, tmp_path, capsys,
                                                       monkeypatch):
    from neuro_codec.model import shipped

    folder = tmp_path / "shipped"              # a package that ships only SPARSE
    folder.mkdir()
    (folder / "sparse-small.pt").symlink_to(SHIPPED / "sparse-small.pt")
    monkeypatch.setattr(shipped, "CHECKPOINT_DIR", folder)
    path, _ = one_second
    snc = tmp_path / "x.snc"
    assert main(["encode", str(path), str(snc), "--model", "rvq"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no shipped rvq checkpoint" in err[0] and "sparse-small" in err[0]
    assert not snc.exists()


def test_shipped_lookup_reads_the_folder_and_notices_a_changed_file(tiny_checkpoints, tmp_path):
    import shutil

    from neuro_codec.errors import CheckpointError
    from neuro_codec.model.checkpoint import Checkpoint
    from neuro_codec.model.shipped import find_shipped, shipped_model_ids, shipped_path

    folder = tmp_path / "shipped"
    folder.mkdir()
    shutil.copy(tiny_checkpoints[0], folder / "free-small.pt")
    (folder / "junk.pt").write_bytes(b"not a checkpoint")
    ids = [Checkpoint.read(p).model_id for p in tiny_checkpoints]
    assert shipped_model_ids(folder) == {ids[0]: folder / "free-small.pt"}
    assert find_shipped(ids[0], folder) == folder / "free-small.pt"
    assert shipped_path("free", folder) == folder / "free-small.pt"
    with pytest.raises(CheckpointError, match=f"model id '{ids[1]}'.*shipped: {ids[0]}"):
        find_shipped(ids[1], folder)
    with pytest.raises(CheckpointError, match="no shipped sparse checkpoint.*shipped: free-small"):
        shipped_path("sparse", folder)
    shutil.copy(tiny_checkpoints[1], folder / "free-small.pt")    # replaced: read again
    assert find_shipped(ids[1], folder) == folder / "free-small.pt"


@pytest.mark.parametrize("argv", [
    [],                                                     # no command
    ["data"],                                               # no action
    ["encode", "IN.wav"],                                   # no output
    ["encode", "IN.wav", "OUT.snc", "--model", "dense"],
    ["encode", "IN.wav", "OUT.snc", "--model", "free", "--checkpoint", "x.pt"],
    ["encode", "IN.wav", "OUT.snc", "--segment-seconds", "0"],
    ["decode", "IN.snc", "OUT.wav", "--steps", "-1"],
    ["eval", "--clips", "0"],
    ["pack", "z.npy", "OUT.snc", "--hop", "70000"],
    ["encode", "IN.wav", "OUT.snc", "--bogus"],
])
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: neuro-codec") and "error:" in err.splitlines()[-1]


def test_input_errors_exit_1_with_one_line(tiny_checkpoints, wav, tmp_path, capsys):
    path, _ = wav
    (tmp_path / "file").write_text("a file where a folder should be")
    cases = [
        (["encode", str(tmp_path / "none.wav"), str(tmp_path / "x.snc"), "--checkpoint",
          str(tiny_checkpoints[0])], "audio file not found"),
        (["decode", str(tmp_path / "none.snc"), str(tmp_path / "x.wav")], "cannot read"),
        (["decode", str(path), str(tmp_path / "x.wav")], str(path)),          # not a .snc
        (["encode", str(path), str(tmp_path / "file" / "x.snc"), "--checkpoint",
          str(tiny_checkpoints[0])], f"cannot write {tmp_path / 'file' / 'x.snc'}"),
        (["eval", "--checkpoint", str(tiny_checkpoints[0]), "--root", str(tmp_path / "nodata"),
          "--no-visqol"], "no built-in dataset"),
    ]
    for argv, message in cases:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "in.wav"]


def test_decode_finds_the_rvq_model_by_the_files_id(level_checkpoints, wav, tmp_path,
                                                    monkeypatch):
    import shutil

    from neuro_codec.coding.rvq_file import read_rvq
    from neuro_codec.model import shipped

    folder = tmp_path / "shipped"
    folder.mkdir()
    for kind, ckpt in level_checkpoints.items():
        shutil.copy(ckpt, folder / f"{kind}-small.pt")
    monkeypatch.setattr(shipped, "CHECKPOINT_DIR", folder)
    path, x = wav
    rvq, out = tmp_path / "x.rvq", tmp_path / "x.wav"
    assert main(["encode", str(path), str(rvq), "--model", "rvq"]) == 0
    assert read_rvq(rvq)[0].model_id.startswith("rvq-")
    assert main(["decode", str(rvq), str(out), "--steps", "0"]) == 0
    assert sf.read(out)[0].shape == (x.size,)
