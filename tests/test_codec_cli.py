import numpy as np
import pytest
import soundfile as sf

from neuro_codec.bitstream import read_snc
from neuro_codec.checkpoint import load_encoder
from neuro_codec.cli import main
from neuro_codec.synthetic import SyntheticTones
from neuro_codec.train import TrainConfig, train


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
    assert "does not match its weights" in capsys.readouterr().err


@pytest.mark.parametrize("payload", [b"", b"RIFF garbage that is not a wave file"])
def test_non_audio_input_gives_one_line(tiny_checkpoints, tmp_path, capsys, payload):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(payload)
    assert main(["encode", str(bad), str(tmp_path / "x.snc"), "--checkpoint",
                 str(tiny_checkpoints[0])]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
