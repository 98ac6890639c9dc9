"""The flow-matching refiner: its domain, network, sampler, file, training loop, and decoding
with it through the codec's API and the CLI. `gpu`-marked tests run where CUDA is present."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from neuro_codec import compression
from neuro_codec.cli import main
from neuro_codec.data.synthetic import SyntheticTones
from neuro_codec.errors import CheckpointError
from neuro_codec.model.refiner import (
    BandSplitRefiner,
    RefinerConfig,
    RefinerFile,
    UNetRefiner,
    build_network,
    flow_matching_loss,
    from_domain,
    prior_spread,
    sample,
    to_domain,
)
from neuro_codec.training import TrainConfig, train
from neuro_codec.training.refiner_loop import RefinerTrainConfig, train_refiner

TINY = (("n_fft", 256), ("stft_hop", 128), ("channels", 8), ("blocks", 2), ("time_dim", 8),
        ("default_steps", 2))
TINY_UNET = (("network", "unet"), ("unet_channels", (4, 8, 8)))   # 3 levels: sizes padded to 4
NETWORKS = {"band-split": (), "unet": TINY_UNET}


def _tiny_refiner_config(**kw) -> RefinerConfig:
    return RefinerConfig(**{**dict(TINY), **kw})


@pytest.fixture(scope="module")
def tiny_codec(tmp_path_factory):
    """A tiny FREE codec (n_fft 256, hop 128) trained for 2 steps on synthetic tones."""
    path = tmp_path_factory.mktemp("codec")
    train(TrainConfig(model="free", preset="tiny", data="synthetic", steps=2, ckpt_every=2,
                      val_clips=0), path, dataset=SyntheticTones(n_clips=2, clip_samples=2**13))
    return path / "last.pt"


def _refiner_run(codec_path, out, steps=4, overrides=TINY, **kw):
    cfg = RefinerTrainConfig(first_stages=(str(codec_path),), refiner_overrides=overrides,
                             steps=steps, batch_size=2, clip_samples=2**13, warmup_steps=2,
                             log_every=1, ckpt_every=2, val_clips=0, **kw)
    return cfg, train_refiner(cfg, out, dataset=SyntheticTones(n_clips=4, clip_samples=2**13))


@pytest.mark.parametrize("n_fft", [256, 1024, 2048])
def test_bands_cover_every_bin_once_and_widen_with_frequency(n_fft):
    bands = RefinerConfig(n_fft=n_fft).bands()
    covered = [b for start, width in bands for b in range(start, start + width)]
    assert covered == list(range(n_fft // 2 + 1))
    widths = [w for _, w in bands]
    assert widths == sorted(widths) and len(bands) == 48


def test_domain_round_trip_and_compression():
    cfg = RefinerConfig(domain="complex")
    spec = torch.complex(torch.randn(2, 513, 7), torch.randn(2, 513, 7)) * 10
    x = to_domain(spec, cfg)
    assert x.shape == (2, 2, 513, 7)
    torch.testing.assert_close(from_domain(x, cfg), spec, rtol=1e-4, atol=1e-4)
    # |c| = scale · |S|^κ: a bin 1,000× louder is 1000^0.3 ≈ 7.9× larger in the domain.
    mag = torch.hypot(x[:, 0], x[:, 1])
    torch.testing.assert_close(mag, cfg.scale * spec.abs() ** cfg.compress, rtol=1e-4,
                               atol=1e-5)
    # The magnitude domain holds that magnitude alone and takes the phase it is given back.
    mcfg = RefinerConfig(domain="magnitude")
    y = to_domain(spec, mcfg)
    assert y.shape == (2, 1, 513, 7)
    torch.testing.assert_close(y[:, 0], mag)
    phase = spec / spec.abs()
    torch.testing.assert_close(from_domain(y, mcfg, phase), spec, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="needs the phase"):
        from_domain(y, mcfg)


@pytest.mark.parametrize("domain", ["complex", "magnitude"])
def test_an_untrained_velocity_refiner_samples_the_prior_and_zero_steps_is_the_first_stage(
        domain):
    cfg = _tiny_refiner_config(domain=domain, prediction="velocity")
    net = BandSplitRefiner(cfg).eval()
    first = torch.randn(1, cfg.domain_channels, 129, 10)
    assert sample(net, first, 0) is first
    # The output layer starts at zero: v = 0, so K Euler steps leave x₀ = ĉ + σ ε.
    noise = torch.randn(first.shape, generator=torch.Generator().manual_seed(3))
    got = sample(net, first, 3, torch.Generator().manual_seed(3))
    torch.testing.assert_close(got, first + prior_spread(first, cfg) * noise)


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("steps", [1, 2, 5])
def test_an_untrained_endpoint_refiner_is_the_first_stage_at_every_k(steps, network):
    """Δ = 0 at init, so every Euler path ends on x̂₁ = ĉ whatever the prior drew."""
    cfg = _tiny_refiner_config(**dict(NETWORKS[network]))
    assert cfg.prediction == "endpoint"
    net = build_network(cfg).eval()
    assert isinstance(net, UNetRefiner if network == "unet" else BandSplitRefiner)
    first = torch.randn(1, 1, 129, 10)
    got = sample(net, first, steps, torch.Generator().manual_seed(3))
    torch.testing.assert_close(got, first, rtol=0, atol=1e-6)


def test_endpoint_and_velocity_are_one_flow():
    """v = (x̂₁ − x_t)/(1 − t): one Euler step from t of length 1 − t lands on x̂₁, for either
    reading of the output."""
    torch.manual_seed(0)
    for prediction in ("endpoint", "velocity"):
        net = BandSplitRefiner(_tiny_refiner_config(prediction=prediction))
        for lin in net.band_out:
            torch.nn.init.normal_(lin.weight, 0, 0.1)
        x_t, cond = torch.randn(2, 1, 129, 6), torch.randn(2, 1, 129, 6)
        t = torch.tensor([0.0, 0.6])
        end, v = net.endpoint(x_t, t, cond), net.velocity(x_t, t, cond)
        torch.testing.assert_close(x_t + (1 - t)[:, None, None, None] * v, end)
        raw = net(x_t, t, cond)
        torch.testing.assert_close(end if prediction == "endpoint" else v,
                                   (cond + raw) if prediction == "endpoint" else raw)


def test_a_file_without_a_prediction_field_holds_a_velocity_network():
    old = {k: v for k, v in _tiny_refiner_config().to_dict().items() if k != "prediction"}
    assert RefinerConfig.from_dict(old).prediction == "velocity"
    with pytest.raises(ValueError, match="prediction must be one of"):
        _tiny_refiner_config(prediction="noise")


@pytest.mark.parametrize("frames", [1, 9, 12])
def test_the_unet_sees_every_bin_and_frame_and_returns_the_input_size(frames):
    """The U-Net pads to a multiple of 4 (three levels) and crops back; with a trained output
    layer, a change in one bin moves the output around it and not at the far end of the
    spectrum (its receptive field is local)."""
    torch.manual_seed(0)
    net = build_network(_tiny_refiner_config(**dict(TINY_UNET))).eval()
    torch.nn.init.normal_(net.out.weight, 0, 0.1)
    x = torch.randn(2, 1, 129, frames)
    t = torch.tensor([0.2, 0.7])
    base = net(x, t, x)
    assert base.shape == x.shape and bool(torch.isfinite(base).all())
    bumped = x.clone()
    bumped[:, 0, 3, 0] += 1.0
    moved = (net(bumped, t, x) - base).abs()[:, 0]
    assert float(moved[:, 3, 0].min()) > 0
    assert float(moved[:, 100:].max()) == 0.0
    # The flow time reaches the output (FiLM in every block).
    assert not torch.allclose(net(x, torch.tensor([0.9, 0.1]), x), base)
    # Padding goes after the last frame: cutting frames off the end leaves the output of the
    # frames well before the cut unchanged (the receptive field is about ±30 frames here).
    if frames == 12:
        long = torch.randn(2, 1, 129, 80)
        torch.testing.assert_close(net(long[..., :45], t, long[..., :45])[..., :10],
                                   net(long, t, long)[..., :10], rtol=0, atol=1e-5)


def test_the_default_unet_builds_for_a_full_stft():
    """Four levels (sizes padded to a multiple of 8) at n_fft 1024: 513 bins, 7 frames."""
    net = build_network(RefinerConfig(network="unet")).eval()
    x = torch.randn(1, 1, 513, 7)
    assert net(x, torch.zeros(1), x).shape == x.shape


def test_the_network_is_a_config_field_and_old_files_hold_band_split():
    old = {k: v for k, v in _tiny_refiner_config().to_dict().items()
           if k not in ("network", "unet_channels")}
    assert RefinerConfig.from_dict(old).network == "band-split"
    with pytest.raises(ValueError, match="network must be one of"):
        _tiny_refiner_config(network="transformer")
    with pytest.raises(ValueError, match="unet_channels"):
        _tiny_refiner_config(network="unet", unet_channels=())


def test_the_prior_is_wide_where_the_first_stage_is_loud_and_narrow_in_silence():
    cfg = RefinerConfig(domain="complex", sigma=0.5, sigma_floor=0.02)
    first = torch.zeros(1, 2, 513, 9)
    first[0, 0, 100, 4] = 3.0     # one loud bin (real part), silence elsewhere
    spread = prior_spread(first, cfg)[0, 0]
    # The 3 × 3 mean around it is 3/9; at the centre σ = 0.5 · 1/3 + 0.02.
    assert float(spread[100, 4]) == pytest.approx(0.5 / 3 + 0.02)
    assert float(spread[102, 4]) == pytest.approx(0.02, rel=1e-6)
    assert float(spread[0, 0]) == pytest.approx(0.02, rel=1e-6)
    # At the spectrum's edge the mean counts only the bins that exist (4 at a corner).
    first[0, 1, 0, 0] = 6.0
    assert float(prior_spread(first, cfg)[0, 0, 0, 0]) == pytest.approx(0.5 * 6 / 4 + 0.02)
    # The magnitude domain's one channel is its own level.
    mag = torch.zeros(1, 1, 513, 9)
    mag[0, 0, 100, 4] = 3.0
    assert float(prior_spread(mag, RefinerConfig(sigma=0.5, sigma_floor=0.02))[0, 0, 100, 4]
                 ) == pytest.approx(0.5 / 3 + 0.02)


@pytest.mark.parametrize("domain, prediction, network", [
    ("complex", "endpoint", "band-split"), ("complex", "velocity", "band-split"),
    ("magnitude", "endpoint", "band-split"), ("magnitude", "velocity", "band-split"),
    ("magnitude", "endpoint", "unet")])
def test_flow_matching_learns_a_fixed_correction(domain, prediction, network):
    """A refiner trained on one (ĉ, c) pair moves the sample from ĉ to c: the K-step Euler
    solution of a learnt straight flow."""
    torch.manual_seed(0)
    cfg = _tiny_refiner_config(sigma=0.01, sigma_floor=0.01, domain=domain,
                               prediction=prediction, **dict(NETWORKS[network]))
    net = build_network(cfg)
    first = torch.randn(1, cfg.domain_channels, 129, 8)
    target = first + 0.5 * torch.randn(first.shape)
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    # A random per-bin correction is a memorisation task: the band-split network's per-band
    # maps learn it faster than the U-Net's shared 3 × 3 kernels.
    for _ in range(100 if network == "band-split" else 250):
        loss, _ = flow_matching_loss(net, first, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    before = float((first - target).pow(2).mean())
    after = float((sample(net, first, 4, torch.Generator().manual_seed(0)) - target)
                  .pow(2).mean())
    assert after < 0.1 * before


@pytest.mark.parametrize("network", NETWORKS)
def test_refiner_file_round_trip_and_bad_files(tmp_path, network):
    cfg = _tiny_refiner_config(**dict(NETWORKS[network]))
    net = build_network(cfg)
    # A non-zero output layer, so the comparison below means something.
    for w in ([net.out.weight] if network == "unet" else [lin.weight for lin in net.band_out]):
        torch.nn.init.normal_(w, 0, 0.1)
    RefinerFile(cfg, net.state_dict(), step=7, extra={"trained_on": ["free-x"]}).save(
        tmp_path / "r.pt")
    back = RefinerFile.read(tmp_path / "r.pt")
    assert back.config == cfg and back.step == 7 and back.extra == {"trained_on": ["free-x"]}
    x = torch.randn(1, cfg.domain_channels, 129, 5)
    t = torch.zeros(1)
    torch.testing.assert_close(back.build()(x, t, x), net.eval()(x, t, x))
    (tmp_path / "junk.pt").write_bytes(b"not a refiner")
    with pytest.raises(CheckpointError, match="not a readable refiner file"):
        RefinerFile.read(tmp_path / "junk.pt")
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a neuro-codec refiner file"):
        RefinerFile.read(tmp_path / "other.pt")


def test_refiner_training_resumes_exactly(tiny_codec, tmp_path):
    cfg, _ = _refiner_run(tiny_codec, tmp_path / "full", steps=4)
    # Stopped after 2 steps by its time budget, then resumed: the same weights as one run.
    cut = tmp_path / "cut"
    train_refiner(cfg, cut, dataset=SyntheticTones(n_clips=4, clip_samples=2**13),
                  max_seconds=0.0)
    assert RefinerFile.read(cut / "last.pt").step == 1
    train_refiner(cfg, cut, resume=True, dataset=SyntheticTones(n_clips=4, clip_samples=2**13))
    full, resumed = RefinerFile.read(tmp_path / "full" / "last.pt"), RefinerFile.read(
        cut / "last.pt")
    assert resumed.step == 4
    for k, v in full.state.items():
        torch.testing.assert_close(resumed.state[k], v, rtol=0, atol=0)
    with open(cut / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    # Warm-up then cosine decay to 10 %, a pure function of the step.
    assert [round(cfg.lr_at(s), 9) for s in (0, 1, 3, 4)] == [2.5e-4, 5e-4, 2.75e-4, 5e-5]
    with pytest.raises(CheckpointError, match="another configuration"):
        train_refiner(RefinerTrainConfig(**{**cfg.to_dict(), "lr": 1e-3}), cut, resume=True,
                      dataset=SyntheticTones(n_clips=4, clip_samples=2**13))


def test_decoding_with_a_refiner(tiny_codec, tmp_path):
    _refiner_run(tiny_codec, tmp_path / "ref", steps=2)
    ref_path = tmp_path / "ref" / "last.pt"
    x = SyntheticTones(n_clips=1, clip_samples=2**13)[0]["audio"].numpy()
    plain = compression.load_model(tiny_codec)          # no refiner ships for a tiny model
    refined = compression.load_model(tiny_codec, refiner=ref_path)
    assert plain.refiner is None and refined.refiner is not None
    assert refined.default_steps == 2 and refined.effective_steps(None) == 2
    data = compression.encode(refined, x).data
    y0, _ = compression.decode(refined, data, steps=0)
    y_plain, _ = compression.decode(plain, data, steps=0)
    np.testing.assert_array_equal(y0, y_plain)           # 0 steps: the first stage
    # Without a refiner every K decodes the first stage.
    assert plain.default_steps == 0 and plain.effective_steps(2) == 0
    np.testing.assert_array_equal(compression.decode(plain, data, steps=2)[0], y0)
    y2, _ = compression.decode(refined, data)            # the file's K = 2
    y2b, _ = compression.decode(refined, data, steps=2)
    np.testing.assert_array_equal(y2, y2b)
    assert y2.shape == y0.shape and not np.array_equal(y2, y0)
    # Another seed draws another x₀.
    assert not np.array_equal(compression.decode(refined, data, seed=1)[0], y2)


def test_a_unet_refiner_trains_and_decodes(tiny_codec, tmp_path):
    """`--set-refiner network=unet` end to end: the loop builds the U-Net, the file says so,
    and decoding with it changes the first stage's output after two steps of training."""
    _refiner_run(tiny_codec, tmp_path / "unet", steps=2, overrides=TINY + TINY_UNET)
    path = tmp_path / "unet" / "last.pt"
    assert RefinerFile.read(path).config.network == "unet"
    refined = compression.load_model(tiny_codec, refiner=path)
    assert isinstance(refined.refiner, UNetRefiner)
    x = SyntheticTones(n_clips=1, clip_samples=2**13)[0]["audio"].numpy()
    data = compression.encode(refined, x).data
    y0, _ = compression.decode(refined, data, steps=0)
    y1, _ = compression.decode(refined, data, steps=1)
    assert y1.shape == y0.shape and np.isfinite(y1).all()
    # The STFT round trip alone moves samples by ~1e-7: a learnt correction moves them more.
    assert float(RefinerFile.read(path).state["out.weight"].abs().max()) > 0
    assert not np.allclose(y1, y0, atol=1e-4)


def test_cli_decode_with_a_refiner_file_and_a_bad_one(tiny_codec, tmp_path, capsys):
    import soundfile as sf

    _refiner_run(tiny_codec, tmp_path / "ref", steps=2)
    x = SyntheticTones(n_clips=1, clip_samples=2**13)[0]["audio"].numpy()
    sf.write(tmp_path / "in.wav", x, 22_050)
    assert main(["encode", str(tmp_path / "in.wav"), str(tmp_path / "a.snc"),
                 "--checkpoint", str(tiny_codec)]) == 0
    assert main(["decode", str(tmp_path / "a.snc"), str(tmp_path / "out.wav"), "--checkpoint",
                 str(tiny_codec), "--refiner", str(tmp_path / "ref" / "last.pt")]) == 0
    assert "2 flow-matching refiner steps" in capsys.readouterr().out
    (tmp_path / "bad.pt").write_bytes(b"junk")
    assert main(["decode", str(tmp_path / "a.snc"), str(tmp_path / "out2.wav"), "--checkpoint",
                 str(tiny_codec), "--refiner", str(tmp_path / "bad.pt")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a readable refiner file" in err[0]
    assert not (tmp_path / "out2.wav").exists()


gpu = pytest.mark.gpu
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@gpu
@needs_cuda
def test_gpu_refiner_training_step(tiny_codec, tmp_path):
    _, row = _refiner_run(tiny_codec, tmp_path / "ref", steps=2)
    assert row["step"] == 2 and np.isfinite(row["loss"])


@gpu
@needs_cuda
def test_gpu_decode_equals_cpu_within_float_tolerance(tiny_codec, tmp_path):
    _refiner_run(tiny_codec, tmp_path / "ref", steps=2)
    x = SyntheticTones(n_clips=1, clip_samples=2**13)[0]["audio"].numpy()
    cpu = compression.load_model(tiny_codec, "cpu", refiner=tmp_path / "ref" / "last.pt")
    cuda = compression.load_model(tiny_codec, "cuda", refiner=tmp_path / "ref" / "last.pt")
    data = compression.encode(cpu, x).data
    # The prior's noise is drawn on each device: compare the first stage, and the refined
    # output with σ's noise made equal (the same x₀) by a 0-noise refiner.
    for model in (cpu, cuda):
        model.refiner.cfg = RefinerConfig(**{**model.refiner.cfg.to_dict(), "sigma": 1e-12,
                                             "sigma_floor": 1e-12})
    for steps in (0, 2):
        a, _ = compression.decode(cpu, data, steps=steps)
        b, _ = compression.decode(cuda, data, steps=steps)
        np.testing.assert_allclose(a, b, atol=1e-4)


@gpu
@needs_cuda
def test_gpu_torchrun_one_process_with_nccl(tmp_path):
    # Under torchrun the loop joins a process group (NCCL on a GPU) even with one process.
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                        "--nproc_per_node=1", "-m", "neuro_codec.train", "--config", "tiny",
                        "--data", "synthetic", "--steps", "3", "--val-clips", "0",
                        "--out", str(tmp_path / "ddp")], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "process group: nccl" in r.stdout + r.stderr


def test_release_drops_the_optimiser_and_sets_the_default_steps(tiny_codec, tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from release_refiner import release

    _refiner_run(tiny_codec, tmp_path / "ref", steps=2)
    src = tmp_path / "ref" / "last.pt"
    assert RefinerFile.read(src).optimizer is not None
    out = release(str(src), str(tmp_path / "refiner.pt"), default_steps=4)
    back = RefinerFile.read(tmp_path / "refiner.pt")
    assert back.optimizer is None and back.config.default_steps == 4 and out.step == 2
    assert (tmp_path / "refiner.pt").stat().st_size < 0.6 * src.stat().st_size
    for k, v in RefinerFile.read(src).state.items():
        assert torch.equal(back.state[k], v)


def test_the_log_mel_term_adds_to_the_flow_loss(tiny_codec, tmp_path):
    _, plain = _refiner_run(tiny_codec, tmp_path / "plain", steps=2)
    _, mel = _refiner_run(tiny_codec, tmp_path / "mel", steps=2, mel_weight=1.0)
    assert plain["loss"] == plain["flow"]
    # The same draws: the same flow term at step 1, plus a positive log-mel term.
    with open(tmp_path / "mel" / "log.csv") as f:
        first_mel = next(csv.DictReader(f))
    with open(tmp_path / "plain" / "log.csv") as f:
        first_plain = next(csv.DictReader(f))
    assert float(first_mel["flow"]) == float(first_plain["flow"])
    assert float(first_mel["loss"]) > float(first_mel["flow"]) + 0.01


def test_the_silence_term_prices_the_refined_pauses(tiny_codec, tmp_path):
    """Clips whose second half is silent: the logged silence term is `losses.silence_loss` of
    the refined end point (positive: an untrained refiner's output is not silent there), and
    the loss is the flow term plus its weight times it; without the weight it is 0."""
    tones = SyntheticTones(n_clips=4, clip_samples=2**13)
    clips = []
    for i in range(4):
        audio = tones[i]["audio"].clone()
        audio[2**12:] = 0.0
        clips.append({"audio": audio})

    def run(out, **kw):
        cfg = RefinerTrainConfig(first_stages=(str(tiny_codec),), refiner_overrides=TINY,
                                 steps=1, batch_size=2, clip_samples=2**13, warmup_steps=1,
                                 log_every=1, ckpt_every=1, val_clips=0, **kw)
        return train_refiner(cfg, out, dataset=clips)

    plain = run(tmp_path / "plain")
    quiet = run(tmp_path / "quiet", silence_weight=0.5, silence_floor_dbfs=-120.0)
    assert plain["silence"] == 0.0 and plain["loss"] == plain["flow"]
    assert quiet["flow"] == plain["flow"]            # the same draws
    assert quiet["silence"] > 1.0                   # ln(1 + P/P_floor): well above −120 dBFS
    assert quiet["loss"] == pytest.approx(quiet["flow"] + 0.5 * quiet["silence"], rel=1e-6)
