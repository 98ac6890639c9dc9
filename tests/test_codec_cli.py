import numpy as np
import pytest
import soundfile as sf

from neuro_codec.coding.bitstream import read_snc
from neuro_codec.model.checkpoint import load_encoder
from neuro_codec.cli import main
from neuro_codec.data.synthetic import SyntheticTones
from neuro_codec.training.loop import TrainConfig, train


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
    encoder, model_id = load_encoder(ckpt)
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
    assert "resampling 44100 Hz" in capsys.readouterr().err
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


@pytest.fixture(scope="module")
def level_checkpoints(tmp_path_factory):
    """A tiny μ-SPARSE model (random level embeddings, so that levels differ) and an RVQ one."""
    import torch

    from neuro_codec.model.checkpoint import load_checkpoint, save_checkpoint

    root = tmp_path_factory.mktemp("levels")
    data = SyntheticTones(n_clips=2, clip_samples=2**13)
    out = {}
    for model in ("mu-sparse", "rvq"):
        cfg = TrainConfig(model=model, preset="tiny", data="synthetic", steps=2, mu_levels=6)
        train(cfg, root / model, dataset=data)
        out[model] = root / model / "last.pt"
    ckpt = load_checkpoint(out["mu-sparse"])
    gen = torch.Generator().manual_seed(0)
    for key, value in ckpt["encoder"].items():
        if key.startswith("mu_bias."):   # level μ: a bias falling with μ, so rates fall with μ
            levels = torch.arange(value.shape[0], dtype=value.dtype)[:, None]
            ckpt["encoder"][key] = 0.5 - 0.25 * levels + 0.05 * torch.randn(value.shape,
                                                                             generator=gen)
    save_checkpoint(out["mu-sparse"], {k: v for k, v in ckpt.items()
                                       if k not in ("format", "version")})
    return out


def test_mu_sparse_encode_records_the_level_and_decodes_with_it(level_checkpoints, wav,
                                                                tmp_path):
    from neuro_codec.coding.pipeline import decode_events, events, load_model

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
    from neuro_codec.evaluation.metrics import si_snr_db
    from neuro_codec.coding.pipeline import QualityTarget, decode_events, events, load_model

    model = load_model(level_checkpoints["mu-sparse"])
    path, x = wav
    seg = 4096                      # 8 frames: 10,000 samples make 3 segments
    scores = [[si_snr_db(decode_events(model, events(model, x[s:s + seg], mu), len(x[s:s + seg]),
                                       mu, steps=0), x[s:s + seg]) for mu in range(6)]
              for s in range(0, x.size, seg)]
    # A target between the levels' scores of the first segment.
    target = float(np.median(scores[0]))
    want = [max([m for m in range(6) if row[m] >= target], default=0) for row in scores]
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
