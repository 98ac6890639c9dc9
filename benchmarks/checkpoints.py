"""The benchmarks' shared flags: the checkpoint flags `--free`, `--sparse`, `--mu-sparse`,
`--rvq`, one per model kind, each the shipped checkpoint of its kind by default or `none` to
leave its rows out; `--opus`, the Opus bitrates of the reference rows (`none` for none); and
`--refiner-steps` / `--refiner`, the refined rows beside the spiking models' first stages.

`benchmarks.rate_quality` and `benchmarks.generalization` take them; `scripts/main_job.py`
passes `shipped_flags()`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuro_codec.commands.arguments import positive_int
from neuro_codec.compression import SHIPPED_REFINER
from neuro_codec.model.presets import ModelKind
from neuro_codec.model.shipped import CHECKPOINT_DIR, SHIPPED_PRESET

NONE = "none"   # a flag's value that leaves its kind's rows out

# The tables' row labels of each kind.
LABELS = {ModelKind.FREE: "FREE", ModelKind.SPARSE: "SPARSE", ModelKind.MU_SPARSE: "μ-SPARSE",
          ModelKind.RVQ: "RVQ"}


def _shipped(kind: ModelKind) -> Path:
    # Not `shipped.shipped_path`, which refuses a missing file: a default must not fail
    # before the flags are parsed (`--help`, or a kind given `none`).
    return CHECKPOINT_DIR / f"{kind.value}-{SHIPPED_PRESET}.pt"


def add_checkpoint_flags(parser: argparse.ArgumentParser) -> None:
    """Add `--free`, `--sparse`, `--mu-sparse` and `--rvq` (metavar CKPT) to `parser`."""
    for kind in ModelKind:
        parser.add_argument(f"--{kind.value}", default=str(_shipped(kind)), metavar="CKPT",
                            help=f"{kind.value} checkpoint (default the shipped "
                                 f"{kind.value}-{SHIPPED_PRESET}.pt); '{NONE}' leaves its rows "
                                 f"out")


def chosen_checkpoints(args: argparse.Namespace) -> dict[ModelKind, str]:
    """{kind: checkpoint path} of the flags `add_checkpoint_flags` added, in `ModelKind` order,
    without those set to `none`."""
    chosen = {kind: getattr(args, kind.value.replace("-", "_")) for kind in ModelKind}
    return {kind: path for kind, path in chosen.items() if path != NONE}


def shipped_flags() -> list[str]:
    """The flags' arguments for every kind: its shipped checkpoint, or `none` where the package
    ships none of that kind."""
    return [arg for kind in ModelKind
            for arg in (f"--{kind.value}",
                        str(_shipped(kind)) if _shipped(kind).is_file() else NONE)]


def opus_bitrate(text: str) -> float | None:
    """An Opus bitrate in kbps, or None for 'none' (no Opus rows, as 'none' for a model)."""
    if text == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a bitrate in kbps or 'none'") from None


def add_opus_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--opus", type=opus_bitrate, nargs="+", default=[6.0, 12.0],
                   help="Opus bitrates in kbps (default 6 12; 'none' for no Opus row)")


def chosen_bitrates(args: argparse.Namespace) -> list[float]:
    """The Opus bitrates asked for, without the 'none' entries."""
    return [kbps for kbps in args.opus if kbps is not None]


def add_refiner_flags(p: argparse.ArgumentParser) -> None:
    """`--refiner-steps K…` (default 1; none for no refined rows) and `--refiner FILE`
    (default: the shipped refiner, for the models it was trained on)."""
    p.add_argument("--refiner-steps", type=positive_int, nargs="*", default=[1], metavar="K",
                   help="refined rows: each spiking model decoded again with its refiner in K "
                        "steps, beside its first-stage row (default 1; none: no refined rows; "
                        "a model without a refiner has none)")
    p.add_argument("--refiner", default=SHIPPED_REFINER, metavar="FILE",
                   help="the refiner of the refined rows (default: the shipped one, for the "
                        "models it was trained on)")


def refined_label(label: str, steps: int) -> str:
    """The row label of `label`'s model decoded with its refiner in `steps` steps."""
    return f"{label} + refiner K={steps}"
