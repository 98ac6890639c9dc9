"""`python -m neuro_codec.train`: trains the codec (FREE, SPARSE, μ-SPARSE or RVQ) end to end.

The flags are derived from `TrainConfig`, so that defaults and help are written once: one flag
per field, its default the field's default, its type the field's annotation, its help the
field's `help` metadata. Only the spellings that are not `--field-name` live here, and the
fields left to code (pairs and schedules). The loop is `neuro_codec.training.loop.train`.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, get_type_hints

import torch

from neuro_codec.commands.arguments import non_negative_float, non_negative_int
from neuro_codec.errors import ConfigError, run_command, writing
from neuro_codec.model.presets import MODEL_KINDS, PRESETS
from neuro_codec.training.config import (
    DATA_SOURCES,
    OVERRIDE_FIELDS,
    SCHEDULE_FIELDS,
    TrainConfig,
)
from neuro_codec.training.loop import train
from neuro_codec.training.schedule import LR_SCHEDULES

FLAG_NAMES: dict[str, tuple[str, ...]] = {
    "preset": ("--config", "--preset"), "data_root": ("--root",), "sparsity_theta": ("--theta",),
    "init_from": ("--init",), "encoder_overrides": ("--set-encoder",),
    "decoder_overrides": ("--set-decoder",), "loss_overrides": ("--set-loss",),
    "rvq_overrides": ("--set-rvq",),
}
NOT_FLAGS = ("betas",)
CHOICES: dict[str, tuple[str, ...]] = {"model": MODEL_KINDS, "preset": tuple(PRESETS),
                                       "data": DATA_SOURCES, "lr_schedule": LR_SCHEDULES}


def field_help() -> dict[str, str]:
    """{field: its help} of TrainConfig (the fields' `help` metadata)."""
    return {f.name: f.metadata["help"] for f in fields(TrainConfig) if "help" in f.metadata}


def build_parser() -> argparse.ArgumentParser:
    """`python -m neuro_codec.train`: TrainConfig's fields as flags (see FLAG_NAMES), then the
    run-only flags (--threads, --out, --resume, --resume-weights, --rewarm-steps, --max-minutes,
    --stop-at-step)."""
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
            raise TypeError(f"TrainConfig.{f.name} has no help metadata")
        kind = hints[f.name]
        kw: dict[str, Any] = {"dest": f.name, "default": f.default,
                              "metavar": flags[0].lstrip("-").upper().replace("-", "_")}
        if f.name in OVERRIDE_FIELDS:
            kw.update(action="append", default=[], metavar="FIELD=VALUE")
            text = f"{text.rstrip('.')} (repeatable; VALUE is JSON or a bare string)"
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
    which = r.add_mutually_exclusive_group()
    which.add_argument("--resume", action="store_true", help="continue from DIR/last.pt")
    which.add_argument("--resume-weights", default="", metavar="FILE", help="continue this run "
                   "(the same flags) from FILE, a checkpoint of it without optimiser state "
                   "(scripts/release_checkpoint.py of its last.pt): its weights and step, the "
                   "schedules at that step, fresh AdamW moments under a ramp of --rewarm-steps; "
                   "copy its log.csv and val.csv into --out first to continue the curves and "
                   "the clock")
    r.add_argument("--rewarm-steps", type=non_negative_int, default=500, help="with "
                   "--resume-weights, steps over which the rate ramps up again, 0 for none "
                   "(default 500)")
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


def parse_overrides(items: list[str]) -> tuple[tuple[str, Any], ...]:
    """["field=value", …] → ((field, value), …); a value is JSON if it parses, else a string."""
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
        values[name] = parse_overrides(values[name])
    try:
        return TrainConfig(**values)
    except (ValueError, TypeError) as e:   # TypeError: an override value of the wrong type
        raise ConfigError(f"invalid training configuration: {e}") from None


def _train(args: argparse.Namespace) -> int:
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
                stop_at_step=args.stop_at_step or None,
                resume_weights=args.resume_weights or None, rewarm_steps=args.rewarm_steps)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"done: {out}/last.pt  " + "  ".join(f"{k}={v:.4g}" if isinstance(v, float)
                                                   else f"{k}={v}" for k, v in row.items()))
    return 0
