"""`python -m neuro_codec.train_refiner`: trains the flow-matching refiner on the first-stage
outputs of frozen codecs (default: every shipped spiking model). The loop is
`neuro_codec.training.refiner_loop.train_refiner`; the network, `neuro_codec.model.refiner`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from neuro_codec.commands.arguments import non_negative_float, non_negative_int, positive_int
from neuro_codec.commands.train import parse_overrides
from neuro_codec.errors import ConfigError, run_command, writing
from neuro_codec.model.kind import ModelKind
from neuro_codec.training.refiner_loop import RefinerTrainConfig, train_refiner

SPIKING = (ModelKind.FREE, ModelKind.SPARSE, ModelKind.MU_SPARSE)


def build_parser() -> argparse.ArgumentParser:
    d = RefinerTrainConfig.__dataclass_fields__
    p = argparse.ArgumentParser(prog="python -m neuro_codec.train_refiner",
                                description=__doc__.split("\n")[0])
    p.add_argument("--first-stage", action="append", default=[], metavar="CKPT",
                   help="a frozen codec checkpoint whose first stage the refiner learns to "
                        "refine (repeatable; default: the shipped FREE, SPARSE and μ-SPARSE)")
    p.add_argument("--set-refiner", action="append", default=[], metavar="FIELD=VALUE",
                   help="replace a RefinerConfig field (repeatable; VALUE is JSON)")
    for name, kind in (("steps", positive_int), ("batch_size", positive_int),
                       ("clip_samples", positive_int), ("lr", non_negative_float),
                       ("warmup_steps", non_negative_int),
                       ("final_lr_fraction", non_negative_float),
                       ("mel_weight", non_negative_float),
                       ("silence_weight", non_negative_float),
                       ("silence_floor_dbfs", float),
                       ("log_every", positive_int), ("ckpt_every", positive_int),
                       ("val_clips", non_negative_int), ("seed", non_negative_int)):
        p.add_argument("--" + name.replace("_", "-"), type=kind, default=d[name].default,
                       help=f"(default {d[name].default}; see RefinerTrainConfig)")
    p.add_argument("--mel-log1p", action="store_true",
                   help="the mel term compresses as the mel distance does, ln(1 + M) "
                        "(see RefinerTrainConfig)")
    p.add_argument("--root", default="", help="the built-in data's folder (default: "
                   "$NEURO_CODEC_DATA or data/builtin)")
    p.add_argument("--threads", type=non_negative_int, default=0,
                   help="CPU threads for torch, 0 for torch's choice (default 0)")
    p.add_argument("--out", default="runs/refiner", metavar="DIR",
                   help="output folder: last.pt, log.csv, val.csv, curves.png "
                        "(default runs/refiner)")
    p.add_argument("--resume", action="store_true", help="continue from DIR/last.pt")
    p.add_argument("--max-minutes", type=non_negative_float, default=0.0,
                   help="stop with a checkpoint after this much training time (0: no limit)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: _train(args))


def _train(args: argparse.Namespace) -> int:
    from neuro_codec.model.shipped import shipped_path

    firsts = args.first_stage or [str(shipped_path(k)) for k in SPIKING]
    for path in firsts:
        if not Path(path).is_file():
            raise ConfigError(f"first stage {path} does not exist")
    try:
        cfg = RefinerTrainConfig(
            first_stages=tuple(firsts), refiner_overrides=parse_overrides(args.set_refiner),
            steps=args.steps, batch_size=args.batch_size, clip_samples=args.clip_samples,
            lr=args.lr, warmup_steps=args.warmup_steps,
            final_lr_fraction=args.final_lr_fraction, mel_weight=args.mel_weight,
            mel_log1p=args.mel_log1p, silence_weight=args.silence_weight,
            silence_floor_dbfs=args.silence_floor_dbfs, log_every=args.log_every,
            ckpt_every=args.ckpt_every, val_clips=args.val_clips, seed=args.seed,
            data_root=args.root)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"invalid refiner configuration: {e}") from None
    if args.threads:
        torch.set_num_threads(args.threads)
    with writing(args.out):
        Path(args.out).mkdir(parents=True, exist_ok=True)
    row = train_refiner(cfg, args.out, resume=args.resume, progress=True,
                        max_seconds=args.max_minutes * 60 if args.max_minutes else None)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"done: {args.out}/last.pt  " + "  ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    return 0
