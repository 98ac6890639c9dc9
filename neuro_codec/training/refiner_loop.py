"""Training the refiner (`neuro_codec.model.refiner`) on frozen first stages:
`python -m neuro_codec.train_refiner` (`neuro_codec.commands.train_refiner`) runs it.

A step: draw a batch of clips (a pure function of seed, step and rank, as the codec's loop),
pick the step's first stage (the given checkpoints in turn; μ-SPARSE at a level drawn per clip),
encode in that model's own arithmetic (Loihi fixed point for the shipped models: the events a
`.snc` holds) and decode with its first stage without gradients, then one flow-matching loss on
the STFTs of (decoded, reference) in the refiner's domain; AdamW, warm-up then cosine decay of the
learning rate (a pure function of the step, so that `--resume` continues exactly). Every
checkpoint (`DIR/last.pt`, atomic) scores the validation clips for every first stage, before
and after refinement (`val.csv`, `curves.png`). `torchrun` runs several processes (DDP).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from neuro_codec.errors import CheckpointError
from neuro_codec.model.arithmetic import Arithmetic
from neuro_codec.model.checkpoint import Checkpoint
from neuro_codec.model.codec import Codec
from neuro_codec.model.kind import ModelKind
from neuro_codec.model.losses import mel_loss, silence_loss
from neuro_codec.model.refiner import (
    RefinerConfig,
    RefinerFile,
    RefinerNetwork,
    analysis,
    build_network,
    flow_matching_loss,
    refine_audio,
    synthesis,
)
from neuro_codec.training.batches import Stream, derive_seed, draw_batch
from neuro_codec.training.config import with_overrides
from neuro_codec.training.distributed import setup_distributed, teardown_distributed
from neuro_codec.training.logs import (
    append_row,
    logged_seconds,
    read_log,
    start_log,
    upgrade_log,
)
from neuro_codec.training.schedule import LRSchedule, learning_rate

REFINER_LOG_FIELDS = ("step", "loss", "flow", "silence", "lr", "seconds")
REFINER_VAL_FIELDS = ("step", "model", "mel_first", "mel_refined", "si_snr_first",
                      "si_snr_refined", "quiet_lsd_first", "quiet_lsd_refined", "seconds")


@dataclass(frozen=True)
class RefinerTrainConfig:
    """What a refiner training run does; stored in its file.

    Fields:
        first_stages: the frozen codec checkpoints whose first-stage outputs it learns to
            refine (taken in turn, one per step).
        refiner_overrides: ((field, value), …) replacing RefinerConfig's defaults.
        steps, batch_size, clip_samples: optimiser steps, clips per batch, samples per clip.
        lr, warmup_steps, final_lr_fraction: AdamW's peak rate, its linear warm-up, and the
            fraction of it that the cosine decay ends at (at `steps`).
        weight_decay, grad_clip: AdamW's decoupled weight decay; global gradient-norm clip.
        mel_weight: weight of a multi-scale mel L1 (`losses.mel_loss`) on the waveform of
            the predicted end point x̂₁ (0: the flow-matching MSE alone).
        mel_log1p: that term compresses the mel magnitudes as the mel distance does,
            ln(1 + M), rather than as the first stage's loss, ln max(M, 10⁻⁵). Why: the MSE
            to x₁ is minimised by the conditional *mean* of the compressed magnitude, which
            where a partial is uncertain sits between its presence and its absence, and the
            mel distance (an L1 of log magnitudes) prices that; ln(1 + M) weighs the loud
            bands, where the mel distance is made, and leaves the floor between partials
            (quiet bins, almost unweighted by it) to the flow.
        silence_weight: weight of `losses.silence_loss` on the waveform of x̂₁: the reference's
            silent windows (below −60 dBFS) priced in decibels above `silence_floor_dbfs`.
            Why: the refiner's domain, 2·|S|^0.3, is steep at zero, so a small error in it is
            an audible floor in a pause (measured: −102 → −85 dBFS at one step without it);
            neither the MSE nor the mel term sees a pause.
        silence_floor_dbfs: the level below which a pause costs nothing.
        log_every, ckpt_every: steps between log rows; between checkpoints (each validates).
        val_clips, val_clip_samples: validation clips per first stage and their length.
        seed: seeds the initial weights and every draw.
        data_root: the built-in data's folder (empty: the default).
    """

    first_stages: tuple[str, ...] = ()
    refiner_overrides: tuple[tuple[str, Any], ...] = ()
    steps: int = 10_000
    batch_size: int = 8
    clip_samples: int = 2**14
    lr: float = 5e-4
    warmup_steps: int = 200
    final_lr_fraction: float = 0.1
    weight_decay: float = 1e-3
    grad_clip: float = 1.0
    mel_weight: float = 0.0
    mel_log1p: bool = False
    silence_weight: float = 0.0
    silence_floor_dbfs: float = -90.0
    log_every: int = 50
    ckpt_every: int = 500
    val_clips: int = 6
    val_clip_samples: int = 2**16
    seed: int = 0
    data_root: str = ""

    def __post_init__(self):
        object.__setattr__(self, "first_stages", tuple(str(p) for p in self.first_stages))
        object.__setattr__(self, "refiner_overrides", tuple(
            (str(k), tuple(v) if isinstance(v, list) else v) for k, v in self.refiner_overrides))
        if not self.first_stages:
            raise ValueError("a refiner needs at least one first stage (a codec checkpoint)")
        for name in ("steps", "batch_size", "log_every", "ckpt_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if not 0 <= self.final_lr_fraction <= 1:
            raise ValueError(f"final_lr_fraction must be in [0, 1], got {self.final_lr_fraction}")
        self.refiner_config()   # an unknown field or value fails here

    def refiner_config(self) -> RefinerConfig:
        return with_overrides(RefinerConfig(), self.refiner_overrides)

    def lr_at(self, step: int) -> float:
        """Linear warm-up over `warmup_steps`, then cosine decay to final_lr_fraction · lr
        (`schedule.learning_rate`, the codec loop's too)."""
        return learning_rate(step, self.steps, self.lr, LRSchedule.COSINE, self.warmup_steps,
                             self.final_lr_fraction)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RefinerTrainConfig:
        return cls(**d)


@dataclass
class FirstStage:
    """A frozen codec whose first stage feeds the refiner."""

    codec: Codec
    model_id: str
    kind: ModelKind

    @classmethod
    def load(cls, path: str, device: torch.device) -> FirstStage:
        ckpt = Checkpoint.read(path)
        if ckpt.kind is None or not ckpt.has_codec:
            raise CheckpointError(f"{path} is a bare encoder: a refiner needs a codec's "
                                  "first stage")
        codec = ckpt.build_codec().to(device).eval()
        codec.requires_grad_(False)
        codec.loihi_fixed = ckpt.arithmetic is Arithmetic.FIXED
        return cls(codec, ckpt.model_id, ckpt.kind)

    def levels(self, batch: int, generator: torch.Generator) -> torch.Tensor | None:
        """μ-SPARSE: a level per clip, uniform over the model's levels; else None."""
        if not self.codec.mu_levels:
            return None
        return torch.randint(self.codec.mu_levels, (batch,), generator=generator)

    @torch.no_grad()
    def decoded(self, audio: torch.Tensor, mu: torch.Tensor | None = None) -> torch.Tensor:
        """The first stage's waveform [B, L] for `audio` [B, L] (the codec's own events)."""
        return self.codec.first_stage_audio(audio, mu)


def train_refiner(cfg: RefinerTrainConfig, out_dir: str | os.PathLike, resume: bool = False,
                  dataset=None, progress: bool = False, max_seconds: float | None = None) -> dict:
    """Train, checkpointing a `RefinerFile` to `out_dir/last.pt`; returns the last log row.

    Args:
        dataset: overrides the built-in training split (tests pass a tiny one); then no
            validation.
    Raises:
        CheckpointError: `resume` with a file of another configuration.
    """
    rank, world, device = setup_distributed()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    firsts = [FirstStage.load(p, device) for p in cfg.first_stages]
    rcfg = cfg.refiner_config()
    torch.manual_seed(cfg.seed)
    net = build_network(rcfg).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    last = out / "last.pt"
    start = 0
    if resume and last.exists():
        saved = RefinerFile.read(last)
        if RefinerTrainConfig.from_dict(dict(saved.train_config, steps=cfg.steps)) != cfg:
            raise CheckpointError(f"{last} was trained with another configuration; "
                                  "use another --out or drop --resume")
        net.load_state_dict(saved.state)
        opt.load_state_dict(saved.optimizer)
        start = saved.step
    given = dataset is not None
    dataset = dataset if given else _dataset(cfg, "train")
    val = None if given or rank else _validation(cfg)
    model = DistributedDataParallel(net) if world > 1 else net
    log_path, val_path = out / "log.csv", out / "val.csv"
    if rank == 0 and (start == 0 or not log_path.exists()):
        start_log(log_path, REFINER_LOG_FIELDS)
        start_log(val_path, REFINER_VAL_FIELDS)
    elif rank == 0:
        upgrade_log(log_path, REFINER_LOG_FIELDS, keep_up_to=start)
        upgrade_log(val_path, REFINER_VAL_FIELDS, keep_up_to=start)
    t0 = time.time() - logged_seconds(log_path) if start else time.time()
    row: dict = {}
    net.train()
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps,
               disable=not progress or rank != 0, desc="train refiner")
    for step in bar:
        audio = draw_batch(dataset, cfg.batch_size, cfg.seed, step, rank).to(device)
        gen = torch.Generator().manual_seed(derive_seed(cfg.seed, Stream.LEVELS, step, rank))
        first = firsts[step % len(firsts)]
        decoded, phase = analysis(first.decoded(audio, first.levels(len(audio), gen)), rcfg)
        target = analysis(audio, rcfg)[0]
        torch.manual_seed(derive_seed(cfg.seed, Stream.STEP, step, rank))
        for group in opt.param_groups:
            group["lr"] = cfg.lr_at(step)
        flow, x1_hat = flow_matching_loss(model, decoded, target)
        loss, silence = flow, flow.new_zeros(())
        if cfg.mel_weight or cfg.silence_weight:
            end = synthesis(x1_hat, rcfg, audio.shape[-1], phase)
            if cfg.mel_weight:
                loss = loss + cfg.mel_weight * mel_loss(end, audio, log1p=cfg.mel_log1p)
            if cfg.silence_weight:
                silence = silence_loss(end, audio, cfg.silence_floor_dbfs)
                loss = loss + cfg.silence_weight * silence
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
        opt.step()
        done = step + 1
        seconds = time.time() - t0
        stop = max_seconds is not None and seconds >= max_seconds
        if rank == 0 and (done % cfg.log_every == 0 or done == cfg.steps or stop):
            row = {"step": done, "loss": loss.item(), "flow": flow.item(),
                   "silence": silence.item(), "lr": cfg.lr_at(step), "seconds": round(seconds, 2)}
            append_row(log_path, REFINER_LOG_FIELDS, row)
            bar.set_postfix(loss=f"{row['loss']:.4f}")
        if rank == 0 and (done % cfg.ckpt_every == 0 or done == cfg.steps or stop):
            if val is not None:
                for vrow in validate_refiner(net, firsts, val):
                    append_row(val_path, REFINER_VAL_FIELDS,
                               {"step": done, **vrow, "seconds": round(time.time() - t0, 2)})
                net.train()
            RefinerFile(rcfg, net.state_dict(), done, cfg.to_dict(), opt.state_dict(),
                        {"trained_on": [f.model_id for f in firsts]}).save(last)
            save_refiner_curves(out)
        if stop:
            break
    teardown_distributed()
    return row


def _dataset(cfg: RefinerTrainConfig, split: str):
    from neuro_codec.data import dataset as ds

    root = cfg.data_root or ds.default_root()
    ds.ensure_builtin(root)
    return ds.ClipDataset(root, split, clip_samples=cfg.clip_samples, data="builtin",
                          random_offset=split == "train")


def _validation(cfg: RefinerTrainConfig) -> torch.Tensor | None:
    """[V, L] evenly spaced clips of the validation split (fixed), or None."""
    if not cfg.val_clips:
        return None
    data = replace(cfg, clip_samples=cfg.val_clip_samples)
    clips = _dataset(data, "validation")
    if len(clips) == 0:
        return None
    idx = torch.linspace(0, len(clips) - 1, min(cfg.val_clips, len(clips))).round().long()
    return torch.stack([clips[int(i)]["audio"] for i in idx])


@torch.no_grad()
def validate_refiner(net: RefinerNetwork, firsts: list[FirstStage],
                     clips: torch.Tensor) -> list[dict]:
    """Per first stage: mel distance, SI-SNR and quiet-bin LSD of its first stage and of the
    refined output (the refiner's default steps, a fixed seed), means over `clips` [V, L]."""
    from neuro_codec.evaluation.metrics import mel_distance, quiet_bin_lsd_db, si_snr_db

    net.eval()
    steps = max(1, net.cfg.default_steps)
    rows = []
    for first in firsts:
        mu = (torch.full((len(clips),), first.codec.mu_levels // 2, dtype=torch.long)
              if first.codec.mu_levels else None)
        x_first = first.decoded(clips, mu)
        outs = {"first": x_first,
                "refined": refine_audio(net, x_first, steps, torch.Generator().manual_seed(0))}
        row = {"model": first.model_id}
        for name, x_hat in outs.items():
            pairs = [(a.numpy(), b.numpy()) for a, b in zip(x_hat.clamp(-1, 1), clips)]
            row[f"mel_{name}"] = sum(mel_distance(a, b) for a, b in pairs) / len(pairs)
            row[f"si_snr_{name}"] = sum(si_snr_db(a, b) for a, b in pairs) / len(pairs)
            row[f"quiet_lsd_{name}"] = sum(quiet_bin_lsd_db(a, b) for a, b in pairs) / len(pairs)
        rows.append(row)
    return rows


def save_refiner_curves(out: Path) -> None:
    """`out/curves.png`: the training loss and learning rate, and per first stage the
    validation mel distance and quiet-bin LSD before (dashed) and after refinement."""
    from neuro_codec.figures import pyplot, save_figure

    rows, val = read_log(out / "log.csv"), read_log(out / "val.csv")
    if not rows:
        return
    plt = pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    step = [int(r["step"]) for r in rows]
    axes[0].plot(step, [float(r["loss"]) for r in rows], lw=0.8, label="total")
    if rows[0].get("flow"):
        axes[0].plot(step, [float(r["flow"]) for r in rows], lw=0.8, label="flow MSE")
    axes[0].set_yscale("log")
    axes[0].set_title("training loss (grey, right: lr)")
    axes[0].legend(fontsize=7)
    ax_lr = axes[0].twinx()
    ax_lr.plot(step, [float(r["lr"]) for r in rows], color="0.5", lw=0.8)
    for k, (key, title) in enumerate((("mel", "validation mel distance"),
                                      ("si_snr", "validation SI-SNR dB"),
                                      ("quiet_lsd", "validation quiet-bin LSD dB")), start=1):
        for i, model in enumerate(dict.fromkeys(r["model"] for r in val)):
            mine = [r for r in val if r["model"] == model]
            vstep = [int(r["step"]) for r in mine]
            axes[k].plot(vstep, [float(r[f"{key}_first"]) for r in mine], "--", color=f"C{i}")
            axes[k].plot(vstep, [float(r[f"{key}_refined"]) for r in mine], "o-",
                         color=f"C{i}", label=model, ms=3)
        axes[k].set_title(title + " (dashed: first stage)")
    if val:
        axes[1].legend(fontsize=7)
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, out / "curves.png")
