"""The training loop (`train`) for FREE, SPARSE, μ-SPARSE and RVQ; `python -m neuro_codec.train`
(`neuro_codec.commands.train`) runs it.

A step reads top to bottom: draw a batch (a pure function of seed, step and rank; `batches.py`),
encode to events, the first stage's reconstruction loss (multi-scale mel + complex STFT +
waveform, with an optional silence term), plus β(step)·storage penalty for SPARSE, or, for
μ-SPARSE, a level μ drawn per clip and β(step)·the event-rate hinge of that level (for RVQ, the
quantiser's commitment loss, and with quantiser dropout a number of codebooks K drawn per
batch); AdamW with gradient clipping, its rate a function of the step (`schedule.py`). The last
`fixed_point_fraction` of
the steps encode in Loihi fixed point, so that the shipped model's events are the Lava fixed_pt
run's. Every checkpoint (`DIR/last.pt`, atomic; everything needed to resume) also scores the
validation clips (`validation.py`) into `val.csv` (`logs.py`). Several processes:
`torchrun --nproc_per_node=K -m neuro_codec.train ...` (PyTorch DDP, NCCL on GPUs, gloo on CPUs).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from neuro_codec.errors import CheckpointError
from neuro_codec.model.checkpoint import Checkpoint
from neuro_codec.model.codec import Codec, build_codec
from neuro_codec.model.presets import ModelKind
from neuro_codec.training.batches import Stream, derive_seed, draw_batch, draw_levels, make_dataset
from neuro_codec.training.config import TrainConfig
from neuro_codec.training.distributed import setup_distributed, teardown_distributed
from neuro_codec.training.logs import (
    LOG_FIELDS,
    VAL_FIELDS,
    append_row,
    logged_seconds,
    save_curves,
    start_log,
    train_row,
    upgrade_log,
)
from neuro_codec.training.penalties import (
    ops_penalty,
    rate_penalty,
    sparsity_weight,
    storage_penalty,
)
from neuro_codec.training.validation import make_validation, validate


def train(cfg: TrainConfig, out_dir: str | os.PathLike, resume: bool = False, dataset=None,
          progress: bool = False, max_seconds: float | None = None,
          stop_at_step: int | None = None, resume_weights: str | os.PathLike | None = None,
          rewarm_steps: int = 500) -> dict:
    """Train, checkpointing to `out_dir/last.pt`; returns the last logged row (`LOG_FIELDS`).

    Args:
        dataset: overrides the config's dataset (tests pass a tiny one); then no validation.
        resume: continue from `out_dir/last.pt` if it exists (same config required).
        resume_weights: continue the same run from a checkpoint of it without optimiser state
            (what a session commits: `scripts/release_checkpoint.py` of its `last.pt`, which is
            too large to commit whole). Its weights and step are loaded and every schedule
            continues at that step, as `resume` would; AdamW's moments start again, so the
            rate is ramped up again over `rewarm_steps` (fresh moments make the first updates
            as large as the rate, whatever the gradient's scale). Close to, not bit-equal with,
            an uninterrupted run; a later `resume` of this one is exact again (the ramp is
            stored in the checkpoint).
        max_seconds: stop (with a checkpoint) once this much training time is logged: the
            equal-time budget of an ablation row, or the share of a session.
        stop_at_step: stop (with a checkpoint) after this step, the schedules staying those
            of `cfg.steps`: the equal-step rows of an ablation that a longer run continues.
    Raises:
        CheckpointError: `resume` with a checkpoint of another configuration, or an
            `init_from` checkpoint of another preset or kind.
    """
    rank, world, device = setup_distributed()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model, opt = _model_and_optimizer(cfg, device)
    last = out / "last.pt"
    rewarm: tuple[int, int] | None = None     # (first step, steps) of a ramp after new moments
    start, saved_seconds = 0, 0.0
    if resume and last.exists():
        start, rewarm, saved_seconds = _resume(cfg, model, opt, last, "--resume")
    elif resume_weights:
        start, _, saved_seconds = _resume(cfg, model, None, Path(resume_weights),
                                          "--resume-weights")
        rewarm = (start, rewarm_steps) if rewarm_steps else None
    given = dataset is not None
    dataset = dataset if given else make_dataset(cfg, progress=rank == 0)
    net = DistributedDataParallel(model) if world > 1 else model
    log_path, val_path = out / "log.csv", out / "val.csv"
    if rank == 0 and start == 0:
        start_log(log_path, LOG_FIELDS)
        start_log(val_path, VAL_FIELDS)
    elif rank == 0:   # the logs continue at the checkpoint's step (started if missing)
        upgrade_log(log_path, LOG_FIELDS, keep_up_to=start)
        upgrade_log(val_path, VAL_FIELDS, keep_up_to=start)
    val_clips = make_validation(cfg) if rank == 0 and not given else None
    val_mu = cfg.validation_mu if cfg.kind is ModelKind.MU_SPARSE else None
    row: dict = {}
    # The clock continues from the log, or from the checkpoint where the log was not kept.
    t0 = time.time() - ((logged_seconds(log_path) or saved_seconds) if start else 0.0)
    model.train()
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, disable=not progress
               or rank != 0, desc=f"train {cfg.model}/{cfg.preset}")
    for step in bar:
        audio = draw_batch(dataset, cfg.effective_batch_size, cfg.seed, step, rank).to(device)
        # The forward pass's draws (RVQ's quantiser dropout: its K) are a pure function of
        # (seed, step, rank) too, so a resumed run repeats exactly what the uninterrupted one
        # would have done.
        torch.manual_seed(derive_seed(cfg.seed, Stream.STEP, step, rank))
        model.loihi_fixed = cfg.fixed_point_at(step)
        mu = draw_levels(cfg, len(audio), step, rank)
        terms, z = net(audio, mu=mu)
        beta, penalty = _sparsity(cfg, step, z, mu)
        ops_beta, ops = _ops(cfg, step, terms["synops_mops"])
        loss = terms["loss"] + beta * penalty + ops_beta * ops
        opt.zero_grad(set_to_none=True)
        loss.backward()
        lr = cfg.lr_at(step) * _ramp(step, rewarm)
        for group in opt.param_groups:   # a function of the step: a resumed run sets the same
            group["lr"] = lr
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(
                [p for p in model.parameters() if p.requires_grad], cfg.grad_clip)
        opt.step()

        done = step + 1
        stop = _stop_now(done, time.time() - t0, max_seconds, stop_at_step, world, device)
        if rank == 0 and (done % cfg.log_every == 0 or done == cfg.steps or stop):
            row = train_row(done, loss, terms, penalty, beta, lr, z, model, time.time() - t0,
                            ops_penalty=ops)
            append_row(log_path, LOG_FIELDS, row)
            bar.set_postfix(loss=f"{row['loss']:.4f}", rate=f"{row['event_rate']:.3f}",
                            kbps=f"{row['kbps']:.2f}")
        if rank == 0 and (done % cfg.ckpt_every == 0 or done == cfg.steps or stop):
            extra = {"last_log": row, **({"rewarm": list(rewarm)} if rewarm else {})}
            if val_clips is not None:
                val = validate(model, val_clips.to(device), cfg.fixed_point_at(step), val_mu)
                extra["last_val"] = {"step": done, **val, "seconds": round(time.time() - t0, 2)}
                append_row(val_path, VAL_FIELDS, extra["last_val"])
            _checkpoint(cfg, model, opt, done, extra).save(last)
            save_curves(out)
        if stop:
            break
    teardown_distributed()
    return row


def _model_and_optimizer(cfg: TrainConfig, device: torch.device):
    """The codec, its initial weights seeded by `cfg.seed` (or `cfg.init_from`'s), and AdamW."""
    torch.manual_seed(cfg.seed)
    model = build_codec(cfg.kind, cfg.encoder_config(), cfg.decoder_config(),
                        rvq_config=cfg.rvq_config(), loss_config=cfg.loss_config()).to(device)
    if cfg.init_from:
        init = Checkpoint.read(cfg.init_from)
        if init.preset != cfg.preset:
            raise CheckpointError(f"{cfg.init_from} is preset {init.preset!r}, "
                                  f"not {cfg.preset!r}")
        if (init.kind is ModelKind.RVQ) != (cfg.kind is ModelKind.RVQ):
            raise CheckpointError(f"{cfg.init_from} is a {init.label} model; "
                                  f"{cfg.model} cannot start from it")
        _load_weights(model, init, new_levels=cfg.kind is ModelKind.MU_SPARSE)
    if cfg.freeze_encoder:
        model.encoder.requires_grad_(False)
    trained = [p for p in model.parameters() if p.requires_grad]
    # The fused kernel: one pass over each parameter instead of a dozen (a tenth of a small
    # CPU step); the same update up to float rounding.
    opt = torch.optim.AdamW(trained, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps,
                            weight_decay=cfg.weight_decay,
                            fused=device.type in ("cpu", "cuda"))
    return model, opt


def _resume(cfg: TrainConfig, model: Codec, opt: torch.optim.Optimizer | None, last: Path,
            flag: str) -> tuple[int, tuple[int, int] | None, float]:
    """Load `last`'s weights (and, given `opt`, its optimiser state) into `model`; returns its
    step, the rate ramp it was trained under (None: none) and its training seconds.

    Raises:
        CheckpointError: `last` was trained with another configuration (but `steps`), or
            holds no optimiser state where `opt` needs one; the message names `flag`.
    """
    ckpt = Checkpoint.read(last)
    if TrainConfig.from_dict(dict(ckpt.train_config, steps=cfg.steps)) != cfg:
        raise CheckpointError(f"{last} was trained with another configuration; "
                              f"give the flags it was trained with, or drop {flag}")
    if opt is not None and ckpt.optimizer is None:
        raise CheckpointError(f"{last} holds no optimiser state (a released checkpoint); "
                              f"continue it with --resume-weights")
    _load_weights(model, ckpt)
    if opt is not None:
        opt.load_state_dict(ckpt.optimizer)
    rewarm = ckpt.extra.get("rewarm")
    seconds = float((ckpt.extra.get("last_log") or {}).get("seconds", 0.0))
    return ckpt.step, (int(rewarm[0]), int(rewarm[1])) if rewarm else None, seconds


def _ramp(step: int, rewarm: tuple[int, int] | None) -> float:
    """The factor on the rate at `step` after AdamW's moments restarted at `rewarm[0]`: linear
    from 1/rewarm[1] to 1 over rewarm[1] steps, then 1."""
    if rewarm is None:
        return 1.0
    first, steps = rewarm
    return min(1.0, (step - first + 1) / steps)


def _load_weights(model: Codec, ckpt: Checkpoint, new_levels: bool = False) -> None:
    """Load a checkpoint's weights; with `new_levels`, the μ embeddings may be missing from it
    (a μ-SPARSE run that starts from a FREE or SPARSE model: its levels start at zero)."""
    missing, unexpected = model.load_state_dict(
        {**(ckpt.codec_without_encoder or {}),
         **{f"encoder.{k}": v for k, v in ckpt.encoder_state.items()}},
        strict=not new_levels)
    allowed = ("encoder.mu_bias.", "first_stage.mu_embed.")
    bad = unexpected + [k for k in missing if not k.startswith(allowed)]
    if bad:
        raise CheckpointError(f"weights do not match the model: {', '.join(bad[:4])}")


def _sparsity(cfg: TrainConfig, step: int, z: torch.Tensor,
              mu: torch.Tensor | None) -> tuple[float, torch.Tensor]:
    """β(step) and the sparsity penalty on `z` ([B, N, T]): SPARSE's storage cost above θ,
    μ-SPARSE's rate hinge at each clip's level `mu` ([B]); none for FREE and RVQ."""
    if cfg.kind is ModelKind.SPARSE:
        return (sparsity_weight(step, cfg.steps, cfg.sparsity_schedule),
                storage_penalty(z, cfg.sparsity_theta))
    if cfg.kind is ModelKind.MU_SPARSE:
        return sparsity_weight(step, cfg.steps, cfg.mu_schedule), rate_penalty(z, mu)
    return 0.0, torch.zeros((), device=z.device)


def _ops(cfg: TrainConfig, step: int, synops_mops: torch.Tensor) -> tuple[float, torch.Tensor]:
    """β(step) and the operations budget's hinge (`penalties.ops_penalty`); none without a
    budget, or for a batch whose operations were not counted (NaN: a fixed-point batch of
    mixed μ-SPARSE levels)."""
    if not cfg.ops_budget_mops or not bool(torch.isfinite(synops_mops)):
        return 0.0, synops_mops.new_zeros(())
    return (sparsity_weight(step, cfg.steps, cfg.ops_schedule),
            ops_penalty(synops_mops, cfg.ops_budget_mops))


def _stop_now(done: int, seconds: float, max_seconds: float | None,
              stop_at_step: int | None, world: int, device: torch.device) -> bool:
    """Whether the run stops after step `done`: its time budget spent or its stop step reached."""
    stop = ((max_seconds is not None and seconds >= max_seconds)
            or (stop_at_step is not None and done >= stop_at_step))
    if world > 1 and max_seconds is not None:  # every rank stops at the same step
        flag = torch.tensor([float(stop)], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        stop = bool(flag.item())
    return stop


def _checkpoint(cfg: TrainConfig, model: Codec, opt: torch.optim.Optimizer, step: int,
                extra: dict) -> Checkpoint:
    return Checkpoint.of_codec(cfg.kind, cfg.preset, model, cfg.to_dict(),
                               optimizer=opt.state_dict(), step=step, extra=extra)
