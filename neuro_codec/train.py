"""`python -m neuro_codec.train`: trains the codec (FREE or SPARSE) end to end.

The loop reads top to bottom: draw a batch (a pure function of seed, step and rank), encode
to events, diffusion loss on the waveform, plus β(step)·storage penalty for SPARSE; AdamW with
the paper's settings. Checkpoints (`DIR/last.pt`, atomic) hold everything needed to resume.
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
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from neuro_codec.audio import SAMPLE_RATE_HZ
from neuro_codec.checkpoint import load_checkpoint, model_id_for, save_checkpoint
from neuro_codec.codec import Codec
from neuro_codec.errors import CheckpointError, CodecError, run_command
from neuro_codec.presets import PRESETS, get_preset
from neuro_codec.sparsity import sparsity_weight, storage_penalty
from neuro_codec.storage import min_exact_bits

MODELS = ("free", "sparse")
DATA_SOURCES = ("builtin", "maestro", "synthetic")


@dataclass(frozen=True)
class TrainConfig:
    """What a training run does. Stored in every checkpoint.

    Fields:
        model: "free" (no sparsity pressure) or "sparse" (storage-cost penalty).
        preset: network sizes ("tiny", "small", "large").
        data, data_root: dataset ("builtin", "maestro", "synthetic") and its folder.
        steps: total optimiser steps.
        batch_size, clip_samples: per process; 0 takes the preset's.
        lr, betas, eps, weight_decay: AdamW (the paper's 1e-4, (0.95, 0.99), 1e-6, 1e-3).
        sparsity_theta: θ of the penalty, as a fraction of the dense 80 bits/frame.
        sparsity_schedule: ((fraction of steps, β), …): β is 0 before the first point.
        log_every, ckpt_every: steps between CSV rows and between checkpoints.
        seed: seeds the initial weights and the batch draws.
        loihi_fixed: encode with Loihi's fixed-point arithmetic (quantisation-aware training,
            so that Lava's fixed_pt run gives the trained spikes).
        init_from: start from this checkpoint's weights (e.g. fine-tune a float model with
            `loihi_fixed`); its presets must match.
    """

    model: str = "free"
    preset: str = "small"
    data: str = "builtin"
    data_root: str = ""
    steps: int = 2000
    batch_size: int = 0
    clip_samples: int = 0
    lr: float = 1e-4
    betas: tuple[float, float] = (0.95, 0.99)
    eps: float = 1e-6
    weight_decay: float = 1e-3
    sparsity_theta: float = 0.5
    sparsity_schedule: tuple[tuple[float, float], ...] = ((0.2, 0.1), (0.5, 1.0))
    log_every: int = 10
    ckpt_every: int = 200
    seed: int = 0
    loihi_fixed: bool = False
    init_from: str = ""

    def __post_init__(self):
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        object.__setattr__(self, "sparsity_schedule",
                           tuple((float(f), float(b)) for f, b in self.sparsity_schedule))
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {tuple(PRESETS)}, got {self.preset!r}")
        if self.data not in DATA_SOURCES:
            raise ValueError(f"data must be one of {DATA_SOURCES}, got {self.data!r}")
        for name in ("steps", "log_every", "ckpt_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        hop = get_preset(self.preset).encoder.frame_samples
        if self.clip_samples and self.clip_samples % hop:
            raise ValueError(f"clip_samples must be a multiple of the hop ({hop}), "
                             f"got {self.clip_samples}")

    @property
    def effective_batch_size(self) -> int:
        return self.batch_size or get_preset(self.preset).batch_size

    @property
    def effective_clip_samples(self) -> int:
        return self.clip_samples or get_preset(self.preset).clip_samples

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        return cls(**d)


def make_dataset(cfg: TrainConfig, split: str = "train", progress: bool = False):
    """The clip dataset named by the config (renders the built-in data if it is missing)."""
    clip = cfg.effective_clip_samples
    if cfg.data == "synthetic":
        return __import__("neuro_codec.synthetic", fromlist=["SyntheticTones"]).SyntheticTones(
            n_clips=16, clip_samples=clip, seed=cfg.seed + (split != "train"))
    from neuro_codec import dataset as ds  # rendering tools are only needed for real data

    root = cfg.data_root or ds.default_root()
    if cfg.data == "builtin":
        ds.ensure_builtin(root, progress=progress)
    return ds.ClipDataset(root, split, clip_samples=clip, data=cfg.data)


def draw_batch(dataset, batch_size: int, seed: int, step: int, rank: int) -> torch.Tensor:
    """[B, L] clips chosen by a generator seeded from (seed, step, rank): resumable exactly."""
    gen = torch.Generator().manual_seed(((seed * 1_000_003 + step) * 64 + rank) % 2**63)
    idx = torch.randint(len(dataset), (batch_size,), generator=gen).tolist()
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


def _logged_seconds(log_path: Path) -> float:
    """Training seconds already logged (so that a resumed run's clock continues)."""
    if not log_path.exists():
        return 0.0
    with open(log_path) as f:
        rows = list(csv.DictReader(f))
    return float(rows[-1]["seconds"]) if rows else 0.0


def _plot_log(csv_path: Path, png_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    step = [int(r["step"]) for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for key, ax_i, label in (("loss", 0, "total"), ("diffusion_loss", 0, "diffusion (v-MSE)"),
                             ("event_rate", 1, "event rate"), ("kbps", 2, "payload kbps")):
        axes[ax_i].plot(step, [float(r[key]) for r in rows], label=label)
    axes[0].set_yscale("log")
    axes[0].set_title("loss")
    axes[0].legend()
    axes[1].set_title("event rate (z)")
    axes[2].set_title("bitrate, cheapest exact format")
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    from neuro_codec.fileio import atomic_path

    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def _load_weights(model: Codec, ckpt: dict) -> None:
    model.load_state_dict({**ckpt["decoder"], **{f"encoder.{k}": v
                                                for k, v in ckpt["encoder"].items()}})


def _checkpoint_dict(cfg: TrainConfig, model: Codec, opt, step: int, extra: dict) -> dict:
    preset = get_preset(cfg.preset)
    enc_state = {k: v.detach().cpu() for k, v in model.encoder.state_dict().items()}
    dec_state = {k: v.detach().cpu() for k, v in model.state_dict().items()
                 if not k.startswith("encoder.")}
    return {
        "model_id": model_id_for(cfg.model, enc_state), "model": cfg.model,
        "preset": cfg.preset,
        "config": {"encoder": preset.encoder.to_dict(), "decoder": preset.decoder.to_dict(),
                   "train": cfg.to_dict()},
        "encoder": enc_state, "decoder": dec_state, "optimizer": opt.state_dict(),
        "step": step, "extra": extra,
    }


def train(cfg: TrainConfig, out_dir: str | os.PathLike, resume: bool = False, dataset=None,
          progress: bool = False) -> dict:
    """Train, checkpointing to `out_dir/last.pt`; returns the last logged row.

    Args:
        dataset: overrides the config's dataset (tests pass a tiny one).
        resume: continue from `out_dir/last.pt` if it exists (same config required).
    Raises:
        CheckpointError: `resume` with a checkpoint of another configuration.
    """
    rank, world, device = _setup_distributed()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    preset = get_preset(cfg.preset)
    model = Codec(preset.encoder, preset.decoder).to(device)
    model.loihi_fixed = cfg.loihi_fixed
    if cfg.init_from:
        init = load_checkpoint(cfg.init_from)
        if init.get("preset") != cfg.preset:
            raise CheckpointError(f"{cfg.init_from} is preset {init.get('preset')!r}, "
                                  f"not {cfg.preset!r}")
        _load_weights(model, init)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps,
                            weight_decay=cfg.weight_decay)
    start = 0
    last = out / "last.pt"
    if resume and last.exists():
        ckpt = load_checkpoint(last)
        saved = dict(ckpt["config"]["train"], steps=cfg.steps)
        if TrainConfig.from_dict(saved) != replace(cfg):
            raise CheckpointError(f"{last} was trained with another configuration; "
                                  f"use another --out or drop --resume")
        _load_weights(model, ckpt)
        opt.load_state_dict(ckpt["optimizer"])
        start = int(ckpt["step"])
    dataset = dataset if dataset is not None else make_dataset(cfg, progress=rank == 0)
    net = DistributedDataParallel(model) if world > 1 else model
    frames_per_s = SAMPLE_RATE_HZ / preset.encoder.frame_samples
    log_path = out / "log.csv"
    fields = ["step", "loss", "diffusion_loss", "penalty", "beta", "event_rate", "kbps",
              "seconds"]
    if rank == 0 and (start == 0 or not log_path.exists()):
        with open(log_path, "w", newline="") as f:
            csv.writer(f).writerow(fields)
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
        diff_loss, z = net(audio)
        beta = (sparsity_weight(step, cfg.steps, cfg.sparsity_schedule) if cfg.model == "sparse"
                else 0.0)
        penalty = (storage_penalty(z, cfg.sparsity_theta) if cfg.model == "sparse"
                   else torch.zeros((), device=device))
        loss = diff_loss + beta * penalty
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        done = step + 1
        if rank == 0 and (done % cfg.log_every == 0 or done == cfg.steps):
            kbps = float(best_exact_bits(z.detach()).mean()) / z.shape[-1] * frames_per_s / 1e3
            row = {"step": done, "loss": loss.item(), "diffusion_loss": diff_loss.item(),
                   "penalty": penalty.item(), "beta": beta, "event_rate": z.mean().item(),
                   "kbps": kbps, "seconds": round(time.time() - t0, 2)}
            with open(log_path, "a", newline="") as f:
                csv.writer(f).writerow([row[k] for k in fields])
            bar.set_postfix(loss=f"{row['loss']:.4f}", rate=f"{row['event_rate']:.3f}",
                            kbps=f"{kbps:.2f}")
        if rank == 0 and (done % cfg.ckpt_every == 0 or done == cfg.steps):
            save_checkpoint(last, _checkpoint_dict(cfg, model, opt, done, {"last_log": row}))
            _plot_log(log_path, out / "curves.png")
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return row


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m neuro_codec.train", description=__doc__.split(
        "\n")[0])
    p.add_argument("--model", choices=MODELS, default="free", help="FREE or SPARSE (default free)")
    p.add_argument("--config", "--preset", dest="preset", choices=tuple(PRESETS), default="small",
                   help="network sizes (default small)")
    p.add_argument("--data", choices=DATA_SOURCES, default="builtin",
                   help="dataset: built-in rendered piano, MAESTRO v3, or synthetic tones "
                        "(tests) (default builtin)")
    p.add_argument("--root", default="", help="dataset folder (default: data/builtin, or "
                   "$NEURO_CODEC_DATA; required for maestro)")
    p.add_argument("--steps", type=int, default=2000, help="total optimiser steps (default 2000)")
    p.add_argument("--batch-size", type=int, default=0, help="clips per step and process "
                   "(default: the preset's)")
    p.add_argument("--clip-samples", type=int, default=0, help="samples per training clip "
                   "(default: the preset's)")
    p.add_argument("--lr", type=float, default=1e-4, help="AdamW learning rate (default 1e-4)")
    p.add_argument("--theta", type=float, default=0.5, help="SPARSE: allowed storage cost as a "
                   "fraction of 80 bits/frame (default 0.5)")
    p.add_argument("--ckpt-every", type=int, default=200, help="steps between checkpoints "
                   "(default 200)")
    p.add_argument("--log-every", type=int, default=10, help="steps between log rows "
                   "(default 10)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch "
                   "(default: torch's choice)")
    p.add_argument("--out", default="", help="output folder (default runs/<model>-<config>)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--loihi-fixed", action="store_true", help="quantisation-aware training: "
                   "encode with Loihi's fixed-point arithmetic (bit-exact with Lava fixed_pt)")
    p.add_argument("--init", default="", help="start from this checkpoint's weights "
                   "(e.g. fine-tune a float model with --loihi-fixed)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: _train(args), also=(ValueError,))


def _train(args) -> int:
    cfg = TrainConfig(model=args.model, preset=args.preset, data=args.data,
                      data_root=args.root, steps=args.steps, batch_size=args.batch_size,
                      clip_samples=args.clip_samples, lr=args.lr, sparsity_theta=args.theta,
                      ckpt_every=args.ckpt_every, log_every=args.log_every, seed=args.seed,
                      loihi_fixed=args.loihi_fixed, init_from=args.init)
    if args.data == "maestro" and not args.root:
        raise CodecError("--data maestro needs --root DIR (the MAESTRO v3 folder)")
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out or f"runs/{args.model}-{args.preset}"
    row = train(cfg, out, resume=args.resume, progress=True)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"done: {out}/last.pt  " + "  ".join(f"{k}={v:.4g}" if isinstance(v, float)
                                                   else f"{k}={v}" for k, v in row.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
