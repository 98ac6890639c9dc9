"""`python -m neuro_codec.train`: trains the codec (FREE, SPARSE, μ-SPARSE or RVQ) end to end.

The loop reads top to bottom: draw a batch (a pure function of seed, step and rank), encode
to events, the first stage's reconstruction loss (multi-scale mel + complex STFT + waveform)
plus the refiner's v-diffusion loss, plus β(step)·storage penalty for SPARSE, or, for
μ-SPARSE, a level μ drawn per clip and β(step)·the event-rate hinge of that level (for RVQ,
the quantiser's commitment loss); AdamW with
gradient clipping; the last `fixed_point_fraction` of the steps encode in Loihi fixed point, so
that the shipped model's events are the Lava fixed_pt run's. Every checkpoint also scores a
fixed set of validation clips (loss, mel distance, SI-SNR, ViSQOL) into `val.csv`.
Checkpoints (`DIR/last.pt`, atomic) hold everything needed to resume.
Several processes: `torchrun --nproc_per_node=K -m neuro_codec.train ...` (PyTorch DDP, NCCL on
GPUs, gloo on CPUs).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from neuro_codec.coding.costs import min_exact_bits
from neuro_codec.data.audio import bits_per_second
from neuro_codec.errors import CheckpointError, ConfigError, run_command
from neuro_codec.model.checkpoint import Checkpoint, fixed_point_start
from neuro_codec.model.codec import Codec, RVQCodec, build_codec
from neuro_codec.model.decoder import DecoderConfig
from neuro_codec.model.encoder import EncoderConfig
from neuro_codec.model.losses import LossConfig
from neuro_codec.model.presets import MODEL_KINDS, PRESETS, ModelKind, get_preset
from neuro_codec.model.rvq import RVQConfig
from neuro_codec.training.penalties import rate_penalty, sparsity_weight, storage_penalty

MODELS: tuple[str, ...] = MODEL_KINDS      # neuro_codec.model.presets.ModelKind
DATA_SOURCES: tuple[str, ...] = ("builtin", "maestro", "synthetic")


@dataclass(frozen=True)
class TrainConfig:
    """What a training run does. Stored in every checkpoint.

    Fields:
        model: "free" (no sparsity pressure), "sparse" (storage-cost penalty), "mu-sparse"
            (a level μ per clip and the rate hinge of that level) or "rvq" (the baseline:
            the same layers without spikes and a residual vector quantiser).
        preset: network sizes ("tiny", "small", "large").
        data, data_root: dataset ("builtin", "maestro", "synthetic") and its folder.
        steps: total optimiser steps.
        batch_size, clip_samples: per process; 0 takes the preset's.
        lr, betas, eps, weight_decay: AdamW (Vocos-like 3e-4, (0.8, 0.99), 1e-6, 1e-3).
        grad_clip: global gradient-norm clip (0: none).
        sparsity_theta: θ of the penalty, as a fraction of the dense 80 bits/frame.
        sparsity_schedule: ((fraction of steps, β), …): β is 0 before the first point.
        mu_levels: μ-SPARSE's levels; level μ allows an event rate of 2^(−μ/3).
        mu_schedule: β of μ-SPARSE's rate hinge, as `sparsity_schedule` (the hinge's
            gradient per unit of rate is β; SPARSE's storage cost has ~7 bits per event).
        val_mu: the level μ-SPARSE is validated at (−1: mu_levels // 2).
        log_every, ckpt_every: steps between CSV rows and between checkpoints.
        seed: seeds the initial weights and the batch draws.
        loihi_fixed: encode with Loihi's fixed-point arithmetic throughout (quantisation-aware
            training, so that Lava's fixed_pt run gives the trained spikes).
        fixed_point_fraction: the last fraction of the steps encode in fixed point (the
            recipe's fine-tuning phase; float before it, which is 2–3× faster).
        val_clips, val_clip_samples: validation clips scored at every checkpoint (0: none).
        init_from: start from this checkpoint's weights (e.g. fine-tune a float model with
            `loihi_fixed`); its presets must match.
        encoder_overrides, decoder_overrides: ((field, value), …) replacing the preset's
            EncoderConfig / DecoderConfig fields (the ablation rows of benchmarks/ablation.py).
        loss_overrides: ((field, value), …) replacing LossConfig's weights and floor.
    """

    model: str = "free"
    preset: str = "small"
    data: str = "builtin"
    data_root: str = ""
    steps: int = 2000
    batch_size: int = 0
    clip_samples: int = 0
    lr: float = 3e-4
    betas: tuple[float, float] = (0.8, 0.99)
    eps: float = 1e-6
    weight_decay: float = 1e-3
    grad_clip: float = 1.0
    sparsity_theta: float = 0.5
    sparsity_schedule: tuple[tuple[float, float], ...] = ((0.2, 0.1), (0.5, 1.0))
    mu_levels: int = 24
    mu_schedule: tuple[tuple[float, float], ...] = ((0.0, 3.0), (0.2, 10.0))
    val_mu: int = -1
    log_every: int = 10
    ckpt_every: int = 200
    seed: int = 0
    loihi_fixed: bool = False
    fixed_point_fraction: float = 0.0
    val_clips: int = 8
    val_clip_samples: int = 2**16
    init_from: str = ""
    encoder_overrides: tuple[tuple[str, Any], ...] = ()
    decoder_overrides: tuple[tuple[str, Any], ...] = ()
    loss_overrides: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        for name in OVERRIDE_FIELDS:
            object.__setattr__(self, name, tuple(
                (str(k), tuple(v) if isinstance(v, list) else v) for k, v in getattr(self, name)))
        for name in ("sparsity_schedule", "mu_schedule"):
            object.__setattr__(self, name, tuple((float(f), float(b))
                                                 for f, b in getattr(self, name)))
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {tuple(PRESETS)}, got {self.preset!r}")
        if self.data not in DATA_SOURCES:
            raise ValueError(f"data must be one of {DATA_SOURCES}, got {self.data!r}")
        for name in ("steps", "log_every", "ckpt_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if not 0.0 <= self.fixed_point_fraction <= 1.0:
            raise ValueError(f"fixed_point_fraction must be in [0, 1], got "
                             f"{self.fixed_point_fraction}")
        if self.kind is ModelKind.RVQ and (self.loihi_fixed or self.fixed_point_fraction):
            raise ValueError("the RVQ baseline has no spiking encoder: loihi_fixed and "
                             "fixed_point_fraction do not apply")
        if self.kind is ModelKind.MU_SPARSE and not 0 <= self.validation_mu < self.mu_levels:
            raise ValueError(f"val_mu must be in [0, {self.mu_levels - 1}], got {self.val_mu}")
        # an unknown field or value fails here
        self.encoder_config(), self.decoder_config(), self.loss_config()
        hop = get_preset(self.preset).encoder.frame_samples
        if self.clip_samples and self.clip_samples % hop:
            raise ValueError(f"clip_samples must be a multiple of the hop ({hop}), "
                             f"got {self.clip_samples}")

    @property
    def kind(self) -> ModelKind:
        return ModelKind(self.model)

    @property
    def effective_batch_size(self) -> int:
        return self.batch_size or get_preset(self.preset).batch_size

    @property
    def effective_clip_samples(self) -> int:
        return self.clip_samples or get_preset(self.preset).clip_samples

    @property
    def validation_mu(self) -> int:
        return self.val_mu if self.val_mu >= 0 else self.mu_levels // 2

    def _levels(self) -> dict:
        return {"mu_levels": self.mu_levels} if self.kind is ModelKind.MU_SPARSE else {}

    def encoder_config(self) -> EncoderConfig:
        return replace(_with_overrides(get_preset(self.preset).encoder, self.encoder_overrides),
                       **self._levels())

    def decoder_config(self) -> DecoderConfig:
        return replace(_with_overrides(get_preset(self.preset).decoder, self.decoder_overrides),
                       **self._levels())

    def loss_config(self) -> LossConfig:
        return _with_overrides(LossConfig(), self.loss_overrides)

    def rvq_config(self) -> RVQConfig | None:
        return RVQConfig() if self.kind is ModelKind.RVQ else None

    def fixed_point_at(self, step: int) -> bool:
        """Whether step `step` (0-based) encodes in Loihi fixed point."""
        return self.loihi_fixed or (
            self.fixed_point_fraction > 0
            and step >= fixed_point_start(self.steps, self.fixed_point_fraction))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        return cls(**d)


def _with_overrides(base, overrides: tuple[tuple[str, Any], ...]):
    names = {f.name for f in fields(base)}
    for key, _ in overrides:
        if key not in names:
            raise ValueError(f"{type(base).__name__} has no field {key!r}; fields: "
                             f"{', '.join(sorted(names))}")
    return replace(base, **dict(overrides))


def make_dataset(cfg: TrainConfig, split: str = "train", progress: bool = False):
    """The clip dataset named by the config (renders the built-in data if it is missing)."""
    clip = cfg.effective_clip_samples
    if cfg.data == "synthetic":
        return __import__("neuro_codec.data.synthetic", fromlist=["SyntheticTones"]).SyntheticTones(
            n_clips=16, clip_samples=clip, seed=cfg.seed + (split != "train"))
    from neuro_codec.data import dataset as ds  # rendering tools are only needed for real data

    root = cfg.data_root or ds.default_root()
    if cfg.data == "builtin":
        ds.ensure_builtin(root, progress=progress)
    return ds.ClipDataset(root, split, clip_samples=clip, data=cfg.data,
                          random_offset=split == "train")


def make_validation(cfg: TrainConfig) -> torch.Tensor | None:
    """[val_clips, val_clip_samples]: evenly spaced clips of the validation split (fixed)."""
    if not cfg.val_clips:
        return None
    if cfg.data == "synthetic":
        from neuro_codec.data.synthetic import SyntheticTones

        data = SyntheticTones(n_clips=cfg.val_clips, clip_samples=cfg.val_clip_samples,
                              seed=cfg.seed + 1)
    else:
        from neuro_codec.data import dataset as ds

        data = ds.ClipDataset(cfg.data_root or ds.default_root(), "validation",
                              clip_samples=cfg.val_clip_samples, data=cfg.data)
    if len(data) == 0:
        return None
    idx = torch.linspace(0, len(data) - 1, min(cfg.val_clips, len(data))).round().long()
    return torch.stack([data[int(i)]["audio"] for i in idx])


@torch.no_grad()
def validate(model: Codec, clips: torch.Tensor, fixed_point: bool,
             mu: int | None = None) -> dict[str, float]:
    """Validation loss terms and the first stage's quality on `clips` ([V, L]) (at level μ
    for μ-SPARSE)."""
    from neuro_codec.evaluation.metrics import mel_distance, si_snr_db, visqol_score

    was_training = model.training
    model.eval()
    model.loihi_fixed = fixed_point
    torch.manual_seed(0)  # the diffusion loss's draws: the same every validation
    levels = None if mu is None else torch.full((len(clips),), mu, dtype=torch.long)
    terms, z = model(clips, mu=levels)
    x_hat = model.decode(z, clips.shape[-1], steps=0, mu=levels)
    model.train(was_training)
    scores = [(mel_distance(a, b), si_snr_db(a, b), visqol_score(a, b))
              for a, b in zip(x_hat, clips)]
    mel, snr, vq = (sum(col) / len(col) for col in zip(*scores))
    return {"val_loss": float(terms["loss"]), "val_recon": float(terms["recon"]),
            "val_diffusion": float(terms["diffusion"]),
            "val_event_rate": float("nan") if isinstance(model, RVQCodec) else float(z.mean()),
            "val_mel_distance": mel, "val_si_snr_db": snr, "val_visqol": vq}


def draw_levels(cfg: TrainConfig, batch_size: int, step: int, rank: int) -> torch.Tensor | None:
    """μ-SPARSE: [B] levels drawn uniformly, a pure function of (seed, step, rank); else None."""
    if cfg.kind is not ModelKind.MU_SPARSE:
        return None
    derived = ((cfg.seed * 1_000_003 + step) * 64 + rank + 2) % 2**63
    return torch.randint(cfg.mu_levels, (batch_size,), generator=torch.Generator().manual_seed(
        derived))


def draw_batch(dataset, batch_size: int, seed: int, step: int, rank: int) -> torch.Tensor:
    """[B, L] clips chosen by a generator seeded from (seed, step, rank): resumable exactly."""
    derived = ((seed * 1_000_003 + step) * 64 + rank) % 2**63
    gen = torch.Generator().manual_seed(derived)
    idx = torch.randint(len(dataset), (batch_size,), generator=gen).tolist()
    torch.manual_seed(derived)  # random clip offsets inside the dataset
    return torch.stack([dataset[i]["audio"] for i in idx])


def best_exact_bits(z: torch.Tensor) -> torch.Tensor:
    """Per clip, payload bits of the cheapest exact format (what `.snc` would store)."""
    _, n, t = z.shape
    counts = z.sum(dim=(1, 2)).long().tolist()
    return torch.tensor([min_exact_bits(n, t, s) for s in counts], dtype=torch.float64)


def _setup_distributed() -> tuple[int, int, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world, device


def _read_csv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def _logged_seconds(log_path: Path) -> float:
    """Training seconds already logged (so that a resumed run's clock continues)."""
    rows = _read_csv(log_path)
    return float(rows[-1]["seconds"]) if rows else 0.0


def _plot_log(csv_path: Path, png_path: Path, val_path: Path | None = None) -> None:
    """Training curves (loss terms, event rate, bitrate) and, if logged, validation quality."""
    from neuro_codec.figures import pyplot

    plt = pyplot()

    rows = _read_csv(csv_path)
    if not rows:
        return
    val = _read_csv(val_path) if val_path is not None else []
    step = [int(r["step"]) for r in rows]
    fig, axes = plt.subplots(1, 5 if val else 3, figsize=(21 if val else 13, 3.6))
    for key, ax_i, label in (("loss", 0, "total"), ("recon", 0, "reconstruction"),
                             ("diffusion", 0, "refiner (v-MSE)"),
                             ("event_rate", 1, "event rate"), ("kbps", 2, "payload kbps")):
        axes[ax_i].plot(step, [float(r[key]) for r in rows], label=label, lw=0.8)
    axes[0].set_yscale("log")
    axes[0].set_title("training loss")
    axes[0].legend()
    axes[1].set_title("event rate (z)")
    axes[2].set_title("bitrate, cheapest exact format")
    if val:
        vstep = [int(r["step"]) for r in val]
        axes[3].plot(vstep, [float(r["val_mel_distance"]) for r in val], "o-")
        axes[3].set_title("validation mel distance (first stage)")
        axes[4].plot(vstep, [float(r["val_si_snr_db"]) for r in val], "o-", label="SI-SNR dB")
        ax2 = axes[4].twinx()
        ax2.plot(vstep, [float(r["val_visqol"]) for r in val], "s-", color="C1", label="ViSQOL")
        axes[4].set_title("validation SI-SNR (o) and ViSQOL (s)")
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    from neuro_codec.figures import save_figure

    save_figure(fig, png_path)


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


def _checkpoint(cfg: TrainConfig, model: Codec, opt, step: int, extra: dict) -> Checkpoint:
    return Checkpoint.of_codec(cfg.kind, cfg.preset, model, cfg.to_dict(),
                               optimizer=opt.state_dict(), step=step, extra=extra)


def train(cfg: TrainConfig, out_dir: str | os.PathLike, resume: bool = False, dataset=None,
          progress: bool = False, max_seconds: float | None = None,
          stop_at_step: int | None = None) -> dict:
    """Train, checkpointing to `out_dir/last.pt`; returns the last logged row.

    Args:
        dataset: overrides the config's dataset (tests pass a tiny one).
        resume: continue from `out_dir/last.pt` if it exists (same config required).
        max_seconds: stop (with a checkpoint) once this much training time is logged: the
            equal-time budget of an ablation row, or the share of a session.
        stop_at_step: stop (with a checkpoint) after this step, the schedules staying those
            of `cfg.steps`: the equal-step rows of an ablation that a longer run continues.
    Raises:
        CheckpointError: `resume` with a checkpoint of another configuration.
    """
    rank, world, device = _setup_distributed()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
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
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps,
                            weight_decay=cfg.weight_decay)
    start = 0
    last = out / "last.pt"
    if resume and last.exists():
        ckpt = Checkpoint.read(last)
        saved = dict(ckpt.train_config, steps=cfg.steps)
        if TrainConfig.from_dict(saved) != replace(cfg):
            raise CheckpointError(f"{last} was trained with another configuration; "
                                  f"use another --out or drop --resume")
        _load_weights(model, ckpt)
        opt.load_state_dict(ckpt.optimizer)
        start = ckpt.step
    dataset_given = dataset
    dataset = dataset if dataset is not None else make_dataset(cfg, progress=rank == 0)
    net = DistributedDataParallel(model) if world > 1 else model
    log_path = out / "log.csv"
    val_path = out / "val.csv"
    log_fields = ["step", "loss", "recon", "mel", "stft", "wave", "diffusion", "commit",
                  "penalty", "beta",
              "event_rate", "kbps", "fixed_point", "seconds"]
    val_fields = ["step", "val_loss", "val_recon", "val_diffusion", "val_event_rate",
                  "val_mel_distance", "val_si_snr_db", "val_visqol", "seconds"]
    if rank == 0 and (start == 0 or not log_path.exists()):
        with open(log_path, "w", newline="") as f:
            csv.writer(f).writerow(log_fields)
        with open(val_path, "w", newline="") as f:
            csv.writer(f).writerow(val_fields)
    val_clips = make_validation(cfg) if rank == 0 and dataset_given is None else None
    row: dict = {}
    t0 = time.time() - _logged_seconds(log_path) if start else time.time()
    model.train()
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, disable=not progress
               or rank != 0, desc=f"train {cfg.model}/{cfg.preset}")
    for step in bar:
        audio = draw_batch(dataset, cfg.effective_batch_size, cfg.seed, step, rank).to(device)
        # Diffusion times, noise and dropout are a pure function of (seed, step, rank) too, so
        # a resumed run repeats exactly what the uninterrupted one would have done.
        torch.manual_seed(((cfg.seed * 1_000_003 + step) * 64 + rank + 1) % 2**63)
        model.loihi_fixed = cfg.fixed_point_at(step)
        mu = draw_levels(cfg, len(audio), step, rank)
        terms, z = net(audio, mu=mu)
        beta, penalty = 0.0, torch.zeros((), device=device)
        if cfg.kind is ModelKind.SPARSE:
            beta = sparsity_weight(step, cfg.steps, cfg.sparsity_schedule)
            penalty = storage_penalty(z, cfg.sparsity_theta)
        elif cfg.kind is ModelKind.MU_SPARSE:
            beta = sparsity_weight(step, cfg.steps, cfg.mu_schedule)
            penalty = rate_penalty(z, mu)
        loss = terms["loss"] + beta * penalty
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        done = step + 1
        out_of_time = ((max_seconds is not None and time.time() - t0 >= max_seconds)
                       or (stop_at_step is not None and done >= stop_at_step))
        if world > 1 and max_seconds is not None:  # every rank stops at the same step
            flag = torch.tensor([float(out_of_time)], device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            out_of_time = bool(flag.item())
        if rank == 0 and (done % cfg.log_every == 0 or done == cfg.steps or out_of_time):
            samples = z.shape[-1] * model.hop
            if cfg.kind is ModelKind.RVQ:  # fixed: Q codes of log2(size) bits per frame
                bits = model.rvq_config.bits_per_frame * z.shape[-1]
                rate = float("nan")
            else:
                bits = float(best_exact_bits(z.detach()).mean())
                rate = z.mean().item()
            kbps = bits_per_second(bits, samples) / 1e3
            row = {"step": done, "loss": loss.item(),
                   **{k: terms[k].item()
                      for k in ("recon", "mel", "stft", "wave", "diffusion", "commit")},
                   "penalty": penalty.item(), "beta": beta, "event_rate": rate,
                   "kbps": kbps, "fixed_point": int(model.loihi_fixed),
                   "seconds": round(time.time() - t0, 2)}
            with open(log_path, "a", newline="") as f:
                csv.writer(f).writerow([row[k] for k in log_fields])
            bar.set_postfix(loss=f"{row['loss']:.4f}", rate=f"{row['event_rate']:.3f}",
                            kbps=f"{kbps:.2f}")
        if rank == 0 and (done % cfg.ckpt_every == 0 or done == cfg.steps or out_of_time):
            extra = {"last_log": row}
            if val_clips is not None:
                val = validate(model, val_clips.to(device), cfg.fixed_point_at(step),
                               cfg.validation_mu if cfg.kind is ModelKind.MU_SPARSE else None)
                val_row = {"step": done, **val, "seconds": round(time.time() - t0, 2)}
                with open(val_path, "a", newline="") as f:
                    csv.writer(f).writerow([val_row[k] for k in val_fields])
                extra["last_val"] = val_row
            _checkpoint(cfg, model, opt, done, extra).save(last)
            _plot_log(log_path, out / "curves.png", val_path)
        if out_of_time:
            break
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return row


# The command line is derived from TrainConfig, so that defaults and help are written once: one
# flag per field, its default the field's default, its type the field's annotation, its help the
# field's entry in the class docstring's "Fields:" section. Only the flag spellings that are not
# `--field-name` live here, and the fields left to code (pairs and schedules).
FLAG_NAMES: dict[str, tuple[str, ...]] = {
    "preset": ("--config", "--preset"), "data_root": ("--root",), "sparsity_theta": ("--theta",),
    "init_from": ("--init",), "encoder_overrides": ("--set-encoder",),
    "decoder_overrides": ("--set-decoder",), "loss_overrides": ("--set-loss",),
}
NOT_FLAGS = ("betas",)
SCHEDULE_FIELDS = ("sparsity_schedule", "mu_schedule")  # flags in the F:B[,F:B…] form
CHOICES: dict[str, tuple[str, ...]] = {"model": MODELS, "preset": tuple(PRESETS),
                                       "data": DATA_SOURCES}
OVERRIDE_FIELDS = ("encoder_overrides", "decoder_overrides", "loss_overrides")


def field_help(cls=None) -> dict[str, str]:
    """{field: text} from a dataclass docstring's "Fields:" section: entries `name[, name…]:
    text`, continued on more-indented lines; a group of names shares its text."""
    import inspect
    import re

    lines = inspect.getdoc(cls or TrainConfig).splitlines()
    out: dict[str, str] = {}
    names: list[str] = []
    for line in lines[lines.index("Fields:") + 1:]:
        entry = re.match(r"^ {4}(\w+(?:, \w+)*): (.*)$", line)
        if entry:
            names = entry[1].split(", ")
            # A group's text speaks of all its names: keep them, so the reader knows which part
            # is this flag's ("lr, betas, eps, weight_decay: AdamW (3e-4, …)").
            text = entry[2].strip() if len(names) == 1 else f"{entry[1]}: {entry[2].strip()}"
            out.update({n: text for n in names})
        elif line.startswith(" " * 8) and names:
            out.update({n: f"{out[n]} {line.strip()}" for n in names})
        else:
            break
    return out


def build_parser() -> argparse.ArgumentParser:
    """`python -m neuro_codec.train`: TrainConfig's fields as flags (see FLAG_NAMES), then the
    run-only flags (--threads, --out, --resume, --max-minutes)."""
    from typing import get_type_hints

    from neuro_codec.commands.arguments import non_negative_float, non_negative_int

    p = argparse.ArgumentParser(prog="python -m neuro_codec.train",
                                description=__doc__.split("\n")[0])
    helps, hints = field_help(), get_type_hints(TrainConfig)
    g = p.add_argument_group("training configuration (TrainConfig; stored in the checkpoint)")
    for f in fields(TrainConfig):
        if f.name in NOT_FLAGS:
            continue
        flags = FLAG_NAMES.get(f.name, ("--" + f.name.replace("_", "-"),))
        text = helps.get(f.name)
        if text is None:
            raise TypeError(f"TrainConfig.{f.name} has no entry in the docstring's Fields")
        kind = hints[f.name]
        kw: dict[str, Any] = {"dest": f.name, "default": f.default,
                              "metavar": flags[0].lstrip("-").upper().replace("-", "_")}
        if f.name in OVERRIDE_FIELDS:
            kw.update(action="append", default=[], metavar="FIELD=VALUE")
            text += " (repeatable; VALUE is JSON or a bare string)"
        elif f.name in SCHEDULE_FIELDS:
            kw.update(type=_schedule, metavar="F:B[,F:B…]")
            text = (f"{text.rstrip('.')}; as F:B pairs (default "
                    f"{','.join(f'{a:g}:{b:g}' for a, b in f.default)})")
        elif kind is bool:
            kw["action"] = argparse.BooleanOptionalAction if f.default else "store_true"
            del kw["metavar"]
        elif kind in (int, float, str):
            kw.update(type=kind, choices=CHOICES.get(f.name))
        else:
            raise TypeError(f"TrainConfig.{f.name}: no flag for a {kind}; add it to NOT_FLAGS")
        if f.name in CHOICES:
            kw.pop("metavar")
        if f.name not in OVERRIDE_FIELDS + SCHEDULE_FIELDS:
            text = f"{text.rstrip('.')} (default {f.default if f.default != '' else 'empty'})"
        g.add_argument(*flags, help=text.replace("%", "%%"), **kw)
    r = p.add_argument_group("this run")
    r.add_argument("--threads", type=non_negative_int, default=0, help="CPU threads for torch, "
                   "0 for torch's choice (default 0)")
    r.add_argument("--out", default="", metavar="DIR", help="output folder: last.pt, log.csv, "
                   "val.csv, curves.png (default runs/<model>-<config>)")
    r.add_argument("--resume", action="store_true", help="continue from DIR/last.pt")
    r.add_argument("--max-minutes", type=non_negative_float, default=0.0, help="stop with a "
                   "checkpoint after this much training time, 0 for no limit (default 0)")
    r.add_argument("--stop-at-step", type=non_negative_int, default=0, help="stop with a "
                   "checkpoint after this step, keeping the schedules of --steps (an "
                   "equal-step ablation row that --resume continues), 0 for none (default 0)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: _train(args))


def _schedule(text: str) -> tuple[tuple[float, float], ...]:
    """"0:1,0.5:3" → ((0.0, 1.0), (0.5, 3.0)): argparse type of the schedule flags."""
    try:
        pairs = tuple((float(f), float(b)) for f, b in
                      (item.split(":") for item in text.split(",")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not F:B[,F:B…] "
                                         "(fractions of the steps and weights)") from None
    if any(not 0 <= f <= 1 for f, _ in pairs) or [f for f, _ in pairs] != sorted(
            f for f, _ in pairs):
        raise argparse.ArgumentTypeError(f"{text!r}: fractions must rise within [0, 1]")
    return pairs


def _overrides(items: list[str]) -> tuple[tuple[str, Any], ...]:
    """["field=value", …] → ((field, value), …); a value is JSON if it parses, else a string."""
    import json

    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not FIELD=VALUE")
        try:
            out.append((key, json.loads(value)))
        except json.JSONDecodeError:
            out.append((key, value))
    return tuple(out)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig the flags describe.

    Raises:
        ConfigError: a value TrainConfig refuses (its message names the field).
    """
    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    for name in OVERRIDE_FIELDS:
        values[name] = _overrides(values[name])
    try:
        return TrainConfig(**values)
    except (ValueError, TypeError) as e:   # TypeError: an override value of the wrong type
        raise ConfigError(f"invalid training configuration: {e}") from None


def _train(args) -> int:
    from neuro_codec.errors import writing

    cfg = config_from_args(args)
    if cfg.data == "maestro" and not cfg.data_root:
        raise ConfigError("--data maestro needs --root DIR (the MAESTRO v3 folder)")
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out or f"runs/{cfg.model}-{cfg.preset}"
    with writing(out):
        Path(out).mkdir(parents=True, exist_ok=True)
    row = train(cfg, out, resume=args.resume, progress=True,
                max_seconds=args.max_minutes * 60 if args.max_minutes else None,
                stop_at_step=args.stop_at_step or None)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"done: {out}/last.pt  " + "  ".join(f"{k}={v:.4g}" if isinstance(v, float)
                                                   else f"{k}={v}" for k, v in row.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
