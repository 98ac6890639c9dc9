import csv
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from neuro_codec.coding.costs import paper_costs
from neuro_codec.commands.train import main
from neuro_codec.data.synthetic import SyntheticTones
from neuro_codec.errors import CheckpointError
from neuro_codec.model.checkpoint import Checkpoint
from neuro_codec.model.codec import Codec
from neuro_codec.model.presets import get_preset
from neuro_codec.model.rvq import RVQConfig
from neuro_codec.training import TrainConfig, train
from neuro_codec.training.penalties import sparsity_weight, storage_penalty


def test_penalty_equals_the_formula_on_a_hand_made_z():
    z = torch.zeros(2, 80, 256)
    z[0, :10, :50] = 1.0     # S = 500
    z[1, 3, ::2] = 1.0       # S = 128
    # S=500: COO 500·(8+7)=7500; CU 500·8 + 81·9 = 4729; CT 500·7 + 257·9 = 5813 → 4729
    # S=128: COO 128·15=1920; CU 128·8 + 81·7 = 1591; CT 128·7 + 257·7 = 2695 → 1591
    expected = (4729 / (80 * 256) + 1591 / (80 * 256)) / 2 - 0.1
    assert float(storage_penalty(z, 0.1)) == pytest.approx(expected, rel=1e-6)
    assert float(storage_penalty(z, 0.9)) == 0.0
    c = paper_costs(500, 80, 256)
    assert int(c.cu) == 4729


def test_penalty_gradient_reaches_z():
    z = torch.zeros(1, 80, 256, requires_grad=True)
    with torch.no_grad():
        z[0, :10, :50] = 1.0
    storage_penalty(z, 0.0).backward()
    assert float(z.grad.abs().sum()) > 0


def test_schedule_gives_the_documented_beta():
    sched = ((0.2, 0.1), (0.5, 1.0))
    assert [sparsity_weight(s, 1000, sched) for s in (0, 199, 200, 499, 500, 999)] == [
        0.0, 0.0, 0.1, 0.1, 1.0, 1.0]


def test_tiny_config_overfits_one_clip():
    torch.manual_seed(0)
    preset = get_preset("tiny")
    model = Codec(preset.encoder, preset.decoder)
    clip = SyntheticTones(n_clips=1, clip_samples=2**13, seed=3)[0]["audio"].unsqueeze(0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)

    def loss() -> float:
        with torch.no_grad():
            return float(model(clip)[0]["loss"])

    before = loss()
    for _ in range(250):
        terms, _ = model(clip.expand(4, -1))
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
    assert loss() < 0.5 * before


def _tiny_cfg(**kw) -> TrainConfig:
    base = dict(model="free", preset="tiny", data="synthetic", steps=6, log_every=1,
                ckpt_every=3, sparsity_theta=0.01)
    return TrainConfig(**{**base, **kw})


def test_resume_after_a_kill_continues_with_the_same_steps(tmp_path):
    data = SyntheticTones(n_clips=4, clip_samples=2**13)
    full = train(_tiny_cfg(), tmp_path / "full", dataset=data)
    # A run killed after its step-3 checkpoint (FREE: nothing depends on the total steps).
    train(_tiny_cfg(steps=3), tmp_path / "cut", dataset=data)
    assert Checkpoint.read(tmp_path / "cut" / "last.pt").step == 3
    resumed = train(_tiny_cfg(), tmp_path / "cut", resume=True, dataset=data)
    assert Checkpoint.read(tmp_path / "cut" / "last.pt").step == 6
    with open(tmp_path / "cut" / "log.csv") as f:
        steps = [int(r["step"]) for r in csv.DictReader(f)]
    assert steps == [1, 2, 3, 4, 5, 6]
    # The same batches and the same updates: the resumed run ends where the full one did,
    # exactly (weights too).
    assert resumed["loss"] == full["loss"]
    a, b = (Checkpoint.read(tmp_path / d / "last.pt") for d in ("full", "cut"))
    assert all(torch.equal(a.codec_without_encoder[k], b.codec_without_encoder[k])
               for k in a.codec_without_encoder)
    assert all(torch.equal(a.encoder_state[k], b.encoder_state[k]) for k in a.encoder_state)


def test_resume_continues_the_learning_rate_schedule(tmp_path):
    """With warm-up and cosine decay on, a run stopped at step 3 of 6 and resumed sets the same
    rate at each step as the uninterrupted one, and ends with the same weights."""
    data = SyntheticTones(n_clips=4, clip_samples=2**13)
    cfg = _tiny_cfg(lr_schedule="cosine", warmup_steps=2, final_lr_fraction=0.25)
    full = train(cfg, tmp_path / "full", dataset=data)
    train(cfg, tmp_path / "cut", dataset=data, stop_at_step=3)
    resumed = train(cfg, tmp_path / "cut", resume=True, dataset=data)
    logs = {}
    for d in ("full", "cut"):
        with open(tmp_path / d / "log.csv") as f:
            logs[d] = [float(r["lr"]) for r in csv.DictReader(f)]
    # step 0, 1: warm-up lr/2, lr; then lr·(f + (1 − f)(1 + cos πp)/2), p = (s − 2)/4
    lr = cfg.lr
    expected = [lr / 2, lr] + [lr * (0.25 + 0.75 * 0.5 * (1 + math.cos(math.pi * (s - 2) / 4)))
                               for s in (2, 3, 4, 5)]
    assert logs["cut"] == logs["full"]
    assert logs["full"] == pytest.approx(expected, rel=1e-12)
    assert resumed["loss"] == full["loss"]
    a, b = (Checkpoint.read(tmp_path / d / "last.pt") for d in ("full", "cut"))
    assert all(torch.equal(a.encoder_state[k], b.encoder_state[k]) for k in a.encoder_state)
    assert all(torch.equal(a.codec_without_encoder[k], b.codec_without_encoder[k])
               for k in a.codec_without_encoder)


def test_resume_weights_continues_the_schedule_with_a_ramp(tmp_path):
    """A run continued from its released weights (no optimiser state) starts at the saved step,
    sets the schedule's rate times a ramp over the rewarm steps, and a later --resume of it
    keeps that ramp exactly. The copied log's rows past the saved step (the original run went
    on after it) are dropped, so every step is logged once; without a log, the clock
    continues from the checkpoint's."""
    import dataclasses
    import shutil

    data = SyntheticTones(n_clips=4, clip_samples=2**13)
    cfg = _tiny_cfg(steps=8, lr_schedule="cosine", warmup_steps=2, final_lr_fraction=0.25)
    train(cfg, tmp_path / "a", dataset=data, stop_at_step=3)
    released = dataclasses.replace(Checkpoint.read(tmp_path / "a" / "last.pt"), optimizer=None)
    released.save(tmp_path / "w.pt")     # what scripts/release_checkpoint.py writes
    assert released.optimizer is None and released.step == 3
    train(cfg, tmp_path / "a", resume=True, dataset=data, stop_at_step=5)   # logs steps 4, 5
    (tmp_path / "b").mkdir()
    shutil.copy(tmp_path / "a" / "log.csv", tmp_path / "b" / "log.csv")
    train(cfg, tmp_path / "b", dataset=data, resume_weights=tmp_path / "w.pt", rewarm_steps=4,
          stop_at_step=5)
    ckpt = Checkpoint.read(tmp_path / "b" / "last.pt")
    assert ckpt.step == 5 and ckpt.extra["rewarm"] == [3, 4]
    train(cfg, tmp_path / "b", resume=True, dataset=data)
    with open(tmp_path / "b" / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == list(range(1, 9))
    ramp = [1 / 4, 2 / 4, 3 / 4, 1.0, 1.0]          # steps 3…7 (0-based)
    assert [float(r["lr"]) for r in rows[3:]] == pytest.approx(
        [cfg.lr_at(s) * f for s, f in zip(range(3, 8), ramp)], rel=1e-12)
    assert [float(r["lr"]) for r in rows[:3]] == pytest.approx(
        [cfg.lr_at(s) for s in range(3)], rel=1e-12)
    # No log kept: the clock starts at the checkpoint's seconds.
    saved = float(released.extra["last_log"]["seconds"])
    first = train(cfg, tmp_path / "c", dataset=data, resume_weights=tmp_path / "w.pt",
                  stop_at_step=4)
    assert first["step"] == 4 and first["seconds"] >= saved > 0
    # A weights file is not a checkpoint to --resume.
    (tmp_path / "d").mkdir()
    shutil.copy(tmp_path / "w.pt", tmp_path / "d" / "last.pt")
    with pytest.raises(CheckpointError, match="no optimiser state"):
        train(cfg, tmp_path / "d", resume=True, dataset=data)


def test_resume_and_resume_weights_exclude_each_other(capsys):
    from neuro_codec.commands.train import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["--resume", "--resume-weights", "w.pt"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_stop_at_step_keeps_the_schedule_of_the_whole_run(tmp_path):
    """An equal-step ablation row (stop at 3 of 6) that --resume continues ends exactly where the
    uninterrupted run does, with SPARSE's β following the 6-step schedule throughout."""
    data = SyntheticTones(n_clips=4, clip_samples=2**13)
    cfg = _tiny_cfg(model="sparse", sparsity_schedule=((0.0, 0.5), (0.5, 2.0)))
    full = train(cfg, tmp_path / "full", dataset=data)
    cut = train(cfg, tmp_path / "cut", dataset=data, stop_at_step=3)
    assert cut["step"] == 3 and cut["beta"] == 0.5
    assert Checkpoint.read(tmp_path / "cut" / "last.pt").step == 3
    resumed = train(cfg, tmp_path / "cut", resume=True, dataset=data)
    assert resumed["step"] == 6 and resumed["beta"] == 2.0 and resumed["loss"] == full["loss"]
    a, b = (Checkpoint.read(tmp_path / d / "last.pt") for d in ("full", "cut"))
    assert all(torch.equal(a.encoder_state[k], b.encoder_state[k]) for k in a.encoder_state)


def test_schedule_flags(capsys):
    from neuro_codec.commands.train import build_parser, config_from_args

    args = build_parser().parse_args(["--model", "sparse", "--sparsity-schedule", "0:1,0.5:3"])
    assert config_from_args(args).sparsity_schedule == ((0.0, 1.0), (0.5, 3.0))
    for bad, why in (("0:1,x", "is not F:B"), ("0.5:1,0.2:3", "must rise"), ("2:1", "[0, 1]")):
        with pytest.raises(SystemExit) as e:
            build_parser().parse_args(["--mu-schedule", bad])
        assert e.value.code == 2 and why in capsys.readouterr().err


def test_resume_refuses_another_configuration(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["--config", "tiny", "--data", "synthetic", "--steps", "2", "--val-clips", "0",
                 "--out", str(out)]) == 0
    assert main(["--config", "tiny", "--data", "synthetic", "--steps", "4", "--lr", "0.01",
                 "--out", str(out), "--resume"]) == 1
    assert "another configuration" in capsys.readouterr().err


def test_torchrun_two_cpu_processes_with_gloo(tmp_path):
    out = tmp_path / "ddp"
    # --standalone: a local rendezvous on a free port (a fixed port collides with other runs).
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                        "--nproc_per_node=2", "-m", "neuro_codec.train", "--config", "tiny",
                        "--data", "synthetic", "--steps", "3", "--val-clips", "0",
                        "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert Checkpoint.read(out / "last.pt").step == 3


def test_loihi_fixed_fine_tuning_starts_from_a_checkpoint(tmp_path):
    from neuro_codec.model.fixed_point import simulate_fixed_point

    data = SyntheticTones(n_clips=2, clip_samples=2**13)
    train(_tiny_cfg(steps=2), tmp_path / "float", dataset=data)
    row = train(_tiny_cfg(steps=2, loihi_fixed=True, init_from=str(tmp_path / "float/last.pt")),
                tmp_path / "qat", dataset=data)
    assert row["step"] == 2
    ckpt = Checkpoint.read(tmp_path / "qat" / "last.pt")
    assert ckpt.train_config["loihi_fixed"] is True
    # The QAT forward's spikes are the fixed-point replica's (what Lava fixed_pt computes).
    from neuro_codec.model.fixed_point import fixed_point_forward

    enc = ckpt.build_encoder()
    x = data[0]["audio"]
    with torch.no_grad():
        z_qat = fixed_point_forward(enc, x)[0].numpy()
    z_ref = simulate_fixed_point(enc, x)[0][0].numpy()
    assert z_ref.sum() > 0 and np.array_equal(z_qat, z_ref)


def test_fixed_point_phase_covers_the_last_fraction_of_the_steps(tmp_path):
    import dataclasses

    from neuro_codec.model.arithmetic import Arithmetic

    data = SyntheticTones(n_clips=2, clip_samples=2**13)
    cfg = _tiny_cfg(steps=8, ckpt_every=4, fixed_point_fraction=0.25)
    assert [cfg.fixed_point_at(s) for s in range(8)] == [False] * 6 + [True] * 2
    train(cfg, tmp_path / "run", dataset=data)
    with open(tmp_path / "run" / "log.csv") as f:
        assert [int(r["fixed_point"]) for r in csv.DictReader(f)] == [0] * 6 + [1] * 2
    ckpt = Checkpoint.read(tmp_path / "run" / "last.pt")
    assert ckpt.arithmetic is Arithmetic.FIXED
    # Saved before the fixed-point phase:
    assert dataclasses.replace(ckpt, step=4).arithmetic is Arithmetic.FLOAT


def test_time_budget_stops_with_a_checkpoint(tmp_path):
    # A budget already spent: the first step is the last, whatever the machine's speed, and
    # it is checkpointed although ckpt_every is far away.
    data = SyntheticTones(n_clips=2, clip_samples=2**13)
    row = train(_tiny_cfg(steps=10_000, ckpt_every=5_000, log_every=5_000), tmp_path / "run",
                dataset=data, max_seconds=0.0)
    ckpt = Checkpoint.read(tmp_path / "run" / "last.pt")
    assert ckpt.step == 1 and row["step"] == 1
    with open(tmp_path / "run" / "log.csv") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == [1]


def test_overrides_change_the_model_and_are_stored(tmp_path):
    data = SyntheticTones(n_clips=2, clip_samples=2**13)
    cfg = _tiny_cfg(steps=1, encoder_overrides=(("input_support", "dense"),),
                    decoder_overrides=(("blocks", 2),))
    train(cfg, tmp_path / "run", dataset=data)
    codec = Checkpoint.read(tmp_path / "run" / "last.pt").build_codec()
    assert len(codec.first_stage.blocks) == 2 and codec.encoder.config.input_support == "dense"
    assert int((codec.encoder.fc[0].weight == 0).sum()) == 0
    with pytest.raises(ValueError, match="no field 'bogus'"):
        _tiny_cfg(decoder_overrides=(("bogus", 1),))


def test_validation_rows_at_every_checkpoint(tmp_path):
    cfg = _tiny_cfg(steps=4, ckpt_every=2, val_clips=2, val_clip_samples=2**15)
    train(cfg, tmp_path / "run")
    with open(tmp_path / "run" / "val.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [2, 4]
    for r in rows:
        assert float(r["val_mel_distance"]) > 0 and 1.0 <= float(r["val_visqol"]) <= 5.0
    assert (tmp_path / "run" / "curves.png").stat().st_size > 10_000


def test_mu_sparse_trains_from_a_free_model_and_its_levels_set_the_rate(tmp_path):
    """μ-SPARSE starts from a FREE checkpoint (its level embeddings start at zero), draws a
    level per clip, and the hinge of each level is what the log's penalty shows."""
    from neuro_codec.model.presets import ModelKind
    from neuro_codec.training.batches import draw_levels

    data = SyntheticTones(n_clips=2, clip_samples=2**13)
    train(_tiny_cfg(steps=2), tmp_path / "free", dataset=data)
    cfg = _tiny_cfg(model="mu-sparse", steps=4, mu_levels=6, fixed_point_fraction=0.5,
                    init_from=str(tmp_path / "free" / "last.pt"))
    row = train(cfg, tmp_path / "mu", dataset=data)
    assert row["step"] == 4 and row["fixed_point"] == 1 and row["beta"] == 10.0
    ckpt = Checkpoint.read(tmp_path / "mu" / "last.pt")
    assert ckpt.kind is ModelKind.MU_SPARSE and ckpt.model_id.startswith("mu-sparse-")
    codec = ckpt.build_codec()
    assert codec.encoder.config.mu_levels == codec.cfg.mu_levels == 6
    assert float(codec.encoder.mu_bias[0].weight.detach().abs().sum()) > 0   # levels trained
    # Levels are a pure function of (seed, step, rank), in range, and differ between steps.
    a, b = draw_levels(cfg, 64, 7, 0), draw_levels(cfg, 64, 7, 0)
    assert torch.equal(a, b) and not torch.equal(a, draw_levels(cfg, 64, 8, 0))
    assert int(a.min()) >= 0 and int(a.max()) <= 5
    assert draw_levels(_tiny_cfg(), 4, 0, 0) is None
    with pytest.raises(ValueError, match="val_mu"):
        _tiny_cfg(model="mu-sparse", mu_levels=6, val_mu=6)


def test_rvq_baseline_trains_and_bills_80_bits_per_frame(tmp_path):
    from neuro_codec.model.codec import RVQCodec

    data = SyntheticTones(n_clips=2, clip_samples=2**13)
    row = train(_tiny_cfg(model="rvq", steps=2), tmp_path / "rvq", dataset=data)
    assert row["kbps"] == 80 * 22050 / 512 / 1e3 and row["commit"] >= 0.0
    assert math.isnan(row["event_rate"])
    ckpt = Checkpoint.read(tmp_path / "rvq" / "last.pt")
    assert ckpt.rvq_config.codebooks == 8
    codec = ckpt.build_codec()
    assert isinstance(codec, RVQCodec)
    codes = codec.encode_codes(data[0]["audio"])
    assert codes.shape == (1, 8, 2**13 // 512) and codes.dtype == torch.int64
    # `encode` gives what `decode` takes, as for the spiking models: the quantised latent.
    latent = codec.encode(data[0]["audio"])
    assert latent.shape == (1, 80, 2**13 // 512) and latent.is_floating_point()
    assert torch.allclose(latent, codec.encoder.dequantize(codes), atol=1e-5)
    with pytest.raises(ValueError, match="no spiking encoder"):
        _tiny_cfg(model="rvq", fixed_point_fraction=0.1)
    from neuro_codec.errors import CheckpointError

    with pytest.raises(CheckpointError, match="RVQ baseline"):
        ckpt.build_encoder()


def test_rvq_quantiser_dropout_draws_k_per_step_and_resumes_exactly(tmp_path, monkeypatch):
    """With --set-rvq quantize_dropout=true each step codes its batch with the first K of the 8
    codebooks, K the first draw of the step's seeded RNG: in 1..8, and the same K, batches and
    weights when a run is cut and resumed."""
    import random

    from neuro_codec.model.rvq import RVQEncoder
    from neuro_codec.training.batches import Stream, derive_seed

    drawn = []
    forward = RVQEncoder.forward

    def spy(self, x):
        out = forward(self, x)
        if self.training:
            drawn.append(int((out[1][0, :, 0] >= 0).sum()))
        return out

    monkeypatch.setattr(RVQEncoder, "forward", spy)
    data = SyntheticTones(n_clips=4, clip_samples=2**13)
    cfg = _tiny_cfg(model="rvq", rvq_overrides=(("quantize_dropout", True),))
    full = train(cfg, tmp_path / "full", dataset=data)
    full_k, drawn[:] = list(drawn), []
    train(cfg, tmp_path / "cut", dataset=data, stop_at_step=3)
    resumed = train(cfg, tmp_path / "cut", resume=True, dataset=data)
    assert drawn == full_k and len(full_k) == 6

    def library_k(step):   # ResidualVQ's draw: a seed from torch's global RNG, then K − 1
        torch.manual_seed(derive_seed(cfg.seed, Stream.STEP, step, 0))
        return random.Random(int(torch.randint(0, 10_000, ()))).randrange(0, 8) + 1

    assert full_k == [library_k(s) for s in range(6)]
    assert all(1 <= k <= 8 for k in full_k) and len(set(full_k)) > 1
    assert resumed["loss"] == full["loss"]
    a, b = (Checkpoint.read(tmp_path / d / "last.pt") for d in ("full", "cut"))
    assert all(torch.equal(a.encoder_state[k], b.encoder_state[k]) for k in a.encoder_state)
    assert all(torch.equal(a.codec_without_encoder[k], b.codec_without_encoder[k])
               for k in a.codec_without_encoder)
    assert a.rvq_config.quantize_dropout and a.rvq_config.codebooks == 8
    # Without the override nothing is dropped (the shipped baseline's recipe).
    drawn[:] = []
    train(_tiny_cfg(model="rvq", steps=2), tmp_path / "plain", dataset=data)
    assert drawn == [8, 8]
    with pytest.raises(ValueError, match="rvq_overrides apply to the RVQ baseline only"):
        _tiny_cfg(rvq_overrides=(("quantize_dropout", True),))


# ---------------------------------------------------------------------------- the command line


def test_flags_are_derived_from_train_config():
    """Every documented flag exists, and each TrainConfig field's flag has the field's default
    and the field's help metadata as help: one source of truth."""
    from dataclasses import fields

    from neuro_codec.commands.train import NOT_FLAGS, build_parser, field_help

    parser = build_parser()
    by_flag = {s: a for a in parser._actions for s in a.option_strings}
    documented = ("--model --config --preset --data --root --steps --batch-size --clip-samples "
                  "--lr --grad-clip --fixed-point-fraction --val-clips --theta --mu-levels "
                  "--ckpt-every --log-every --seed --loihi-fixed --init --set-encoder "
                  "--set-decoder --set-rvq --threads --out --resume --max-minutes").split()
    assert [f for f in documented if f not in by_flag] == []
    helps = field_help()
    assert helps["steps"] == "total optimiser steps."
    assert helps["eps"] == "AdamW's epsilon."
    assert sorted(helps) == sorted(f.name for f in fields(TrainConfig))   # every field has help
    dests = {a.dest: a for a in parser._actions}
    for f in fields(TrainConfig):
        if f.name in NOT_FLAGS:
            assert f.name not in dests
            continue
        action = dests[f.name]
        assert helps[f.name].rstrip(".") in action.help.replace("%%", "%"), f.name
        if f.name.endswith("_overrides"):
            assert action.default == []
        else:
            assert action.default == f.default, f.name
    assert by_flag["--theta"].dest == "sparsity_theta" and by_flag["--root"].dest == "data_root"
    assert by_flag["--config"] is by_flag["--preset"]
    assert by_flag["--model"].choices == ("free", "sparse", "mu-sparse", "rvq")


def test_flags_make_the_config():
    from neuro_codec.commands.train import build_parser, config_from_args

    args = build_parser().parse_args([
        "--model", "sparse", "--preset", "tiny", "--data", "synthetic", "--theta", "0.3",
        "--steps", "7", "--loihi-fixed", "--set-encoder", "input_support=dense",
        "--set-decoder", "blocks=2", "--root", "/data", "--val-mu", "2"])
    assert config_from_args(args) == TrainConfig(
        model="sparse", preset="tiny", data="synthetic", sparsity_theta=0.3, steps=7,
        loihi_fixed=True, data_root="/data", val_mu=2,
        encoder_overrides=(("input_support", "dense"),),
        decoder_overrides=(("blocks", 2),))
    args = build_parser().parse_args(["--model", "rvq", "--set-rvq", "quantize_dropout=true",
                                      "--set-rvq", "dropout_min_codebooks=2"])
    cfg = config_from_args(args)
    assert cfg.rvq_overrides == (("quantize_dropout", True), ("dropout_min_codebooks", 2))
    assert cfg.rvq_config() == RVQConfig(quantize_dropout=True, dropout_min_codebooks=2)
    assert config_from_args(build_parser().parse_args([])) == TrainConfig()


@pytest.mark.parametrize("argv", [["--bogus"], ["--model", "dense"], ["--steps", "two"],
                                  ["--max-minutes", "-1"], ["--config"]])
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.startswith("usage: python -m neuro_codec.train")


@pytest.mark.parametrize("argv, message", [
    (["--steps", "0"], "steps must be ≥ 1, got 0"),
    (["--fixed-point-fraction", "1.5"], "fixed_point_fraction must be in [0, 1]"),
    (["--clip-samples", "1000"], "clip_samples must be a multiple of the hop (512)"),
    (["--set-encoder", "bogus=1"], "EncoderConfig has no field 'bogus'"),
    (["--set-encoder", "dense"], "override 'dense' is not FIELD=VALUE"),
    (["--model", "rvq", "--loihi-fixed"], "no spiking encoder"),
    (["--set-rvq", "quantize_dropout=true"], "rvq_overrides apply to the RVQ baseline only"),
    (["--model", "rvq", "--set-rvq", "dropout_min_codebooks=9"],
     "dropout_min_codebooks must be in [1, 8], got 9"),
    (["--model", "rvq", "--set-rvq", "bogus=1"], "RVQConfig has no field 'bogus'"),
    (["--init", "missing.pt"], "checkpoint not found: missing.pt"),
])
def test_input_errors_exit_1_with_one_line(argv, message, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["--config", "tiny", "--data", "synthetic", "--val-clips", "0", "--steps", "1",
                 "--out", str(out), *argv]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert not (out / "last.pt").exists()


def test_an_output_folder_that_cannot_be_made_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    assert main(["--config", "tiny", "--data", "synthetic", "--val-clips", "0", "--steps", "1",
                 "--out", str(tmp_path / "file" / "run")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write {tmp_path / 'file' / 'run'}") and err.count(
        "\n") == 1


def test_frozen_encoder_keeps_its_weights_and_the_silence_term_is_logged(tmp_path):
    data = SyntheticTones(n_clips=2, clip_samples=2**13)
    train(_tiny_cfg(steps=2), tmp_path / "first", dataset=data)
    init = str(tmp_path / "first" / "last.pt")
    with pytest.raises(ValueError, match="needs init_from"):
        _tiny_cfg(freeze_encoder=True)
    cfg = _tiny_cfg(steps=3, freeze_encoder=True, init_from=init,
                    loss_overrides=(("silence_weight", 0.5),))
    train(cfg, tmp_path / "decoder", dataset=data)
    before, after = Checkpoint.read(init), Checkpoint.read(tmp_path / "decoder" / "last.pt")
    for k, v in before.encoder_state.items():
        assert torch.equal(v, after.encoder_state[k]), k
    changed = [k for k, v in before.codec_without_encoder.items()
               if not torch.equal(v, after.codec_without_encoder[k])]
    assert any(k.startswith("first_stage.") for k in changed)
    with open(tmp_path / "decoder" / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert "silence" in rows[0] and all(float(r["silence"]) >= 0 for r in rows)


def test_resume_upgrades_a_log_of_an_older_release(tmp_path):
    data = SyntheticTones(n_clips=2, clip_samples=2**13)
    cfg = _tiny_cfg(steps=4, ckpt_every=2, log_every=1)
    train(cfg, tmp_path / "run", dataset=data, stop_at_step=2)
    log = tmp_path / "run" / "log.csv"
    with open(log) as f:   # the log as a release without the silence column wrote it
        rows = list(csv.DictReader(f))
    old = [c for c in rows[0] if c != "silence"]
    with open(log, "w", newline="") as f:
        w = csv.DictWriter(f, old, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    train(cfg, tmp_path / "run", dataset=data, resume=True)
    with open(log) as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert [r["silence"] for r in rows[:2]] == ["", ""] and rows[2]["silence"] != ""


def test_resume_drops_the_joint_refiners_retired_columns(tmp_path):
    # Releases with the joint diffusion refiner logged its loss ("diffusion", "val_diffusion";
    # 0 in every run without one): a resumed run drops those columns and keeps the rows.
    from neuro_codec.training.logs import VAL_FIELDS, upgrade_log

    data = SyntheticTones(n_clips=2, clip_samples=2**13)
    cfg = _tiny_cfg(steps=4, ckpt_every=2, log_every=1)
    train(cfg, tmp_path / "run", dataset=data, stop_at_step=2)
    log, val = tmp_path / "run" / "log.csv", tmp_path / "run" / "val.csv"
    with open(log) as f:
        rows = list(csv.DictReader(f))
    with open(log, "w", newline="") as f:   # the log as such a release wrote it
        w = csv.DictWriter(f, [*rows[0], "diffusion"])
        w.writeheader()
        w.writerows({**r, "diffusion": 0.0} for r in rows)
    old_val = {**{k: "1.5" for k in VAL_FIELDS}, "step": "2", "val_diffusion": "0.0"}
    with open(val, "w", newline="") as f:
        w = csv.DictWriter(f, [*VAL_FIELDS[:3], "val_diffusion", *VAL_FIELDS[3:]])
        w.writeheader()
        w.writerow(old_val)
    train(cfg, tmp_path / "run", dataset=data, resume=True)
    with open(log) as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4] and "diffusion" not in rows[0]
    with open(val) as f:
        assert list(csv.DictReader(f)) == [{k: old_val[k] for k in VAL_FIELDS}]
    # Any other column a release does not write still stops the resume.
    with open(log, "w", newline="") as f:
        f.write("step,bogus\n1,2\n")
    with pytest.raises(ValueError, match=r"columns this release does not write: \['bogus'\]"):
        upgrade_log(log, ("step",))


def test_the_operations_budget_adds_its_hinge_to_the_loss(tmp_path):
    """With a budget far below what the encoder spends, each logged loss is the reconstruction
    plus β × (ops/budget − 1), with β from `ops_schedule` (0 before its first point); the
    logged synops are the encoder's (`spiking_synops`) per second of audio; no budget, no
    term. The RVQ baseline has no spiking encoder to budget."""
    data = SyntheticTones(n_clips=4, clip_samples=2**13)
    cfg = _tiny_cfg(steps=4, ops_budget_mops=1e-4, ops_schedule=((0.5, 2.0),))
    train(cfg, tmp_path / "ops", dataset=data)
    train(_tiny_cfg(steps=4), tmp_path / "plain", dataset=data)
    rows = {d: list(csv.DictReader(open(tmp_path / d / "log.csv"))) for d in ("ops", "plain")}
    for r in rows["plain"]:
        assert float(r["ops_penalty"]) == 0.0 and float(r["synops_mops"]) > 0
    for beta, r in zip((0.0, 0.0, 2.0, 2.0), rows["ops"]):   # β = 2 from step 3 (of 4)
        hinge = float(r["synops_mops"]) / 1e-4 - 1.0          # logged whatever β, as SPARSE's
        assert hinge > 0 and float(r["ops_penalty"]) == pytest.approx(hinge, rel=1e-5)
        assert float(r["loss"]) == pytest.approx(float(r["recon"]) + beta * hinge, rel=1e-5)
    # The same steps until β turns on.
    assert rows["ops"][0]["loss"] == rows["plain"][0]["loss"]
    with pytest.raises(ValueError, match="ops_budget_mops"):
        TrainConfig(model="rvq", preset="tiny", data="synthetic", ops_budget_mops=1.0)
