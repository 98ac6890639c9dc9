"""Checkpoints: one file holding configs, weights, optimiser state, step and model id.

A checkpoint is a plain dict saved with `torch.save` and read back with `weights_only=True`
(never unpickle untrusted input): tensors, numbers, strings, lists and dicts only. It is
written atomically. The model id names the encoder's weights (a hash of them), so that a
`.snc` file can say which encoder made it and a decoder can refuse a file it does not match.

Keys: format ("neuro-codec-checkpoint"), version (1), model_id, model ("free", "sparse", …),
preset, config ({"encoder": …, "decoder": …, "train": …} as dicts), encoder and decoder
(state dicts), optimizer (state dict or None), step, and free-form `extra`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuro_codec.errors import CheckpointError
from neuro_codec.fileio import atomic_path
from neuro_codec.model.arithmetic import Arithmetic
from neuro_codec.model.encoder import EncoderConfig, SpikingEncoder

CHECKPOINT_FORMAT = "neuro-codec-checkpoint"
CHECKPOINT_VERSION = 1


def model_id_for(model: str, encoder_state: dict[str, torch.Tensor]) -> str:
    """`<model>-<12 hex digits>`: a SHA-256 of the encoder's tensors (names, shapes, bytes)."""
    h = hashlib.sha256()
    for name in sorted(encoder_state):
        t = encoder_state[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return f"{model}-{h.hexdigest()[:12]}"


def save_checkpoint(path: str | os.PathLike, ckpt: dict[str, Any]) -> None:
    """Write a checkpoint dict atomically, stamping format and version."""
    data = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **ckpt}
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(data, tmp)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a checkpoint (on the CPU).

    Raises:
        CheckpointError: missing, unreadable, not ours, or an unsupported version.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint not found: {p}")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for corrupt files
        raise CheckpointError(f"{p} is not a readable checkpoint ({type(e).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{p} is not a neuro-codec checkpoint")
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{p}: unsupported checkpoint version {ckpt.get('version')!r} "
                              f"(this build reads {CHECKPOINT_VERSION})")
    for key in ("model_id", "model", "config", "encoder"):
        if key not in ckpt:
            raise CheckpointError(f"{p}: checkpoint has no {key!r}")
    return ckpt


def build_encoder(ckpt: dict[str, Any], source: str = "checkpoint") -> SpikingEncoder:
    """The spiking encoder of a loaded checkpoint, in eval mode.

    Raises:
        CheckpointError: the config is invalid or does not match the weights.
    """
    if ckpt.get("model") == "rvq" or (ckpt.get("config") or {}).get("rvq"):
        raise CheckpointError(f"{source} is the RVQ baseline: it has no spiking encoder")
    try:
        cfg = EncoderConfig.from_dict(ckpt["config"]["encoder"])
        encoder = SpikingEncoder(cfg)
        encoder.load_state_dict(ckpt["encoder"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{source}: encoder config does not match its weights "
                              f"({first})") from None
    return encoder.eval()


def fixed_point_start(steps: int, fraction: float) -> int:
    """First (0-based) step of a run's Loihi fixed-point phase: its last `fraction` of steps."""
    return round((1 - fraction) * steps)


def arithmetic_of(ckpt: dict[str, Any]) -> Arithmetic:
    """The event arithmetic a checkpoint was trained for: FIXED if it was trained with Loihi's
    fixed-point encoder (`--loihi-fixed`, or a saved step inside the
    `--fixed-point-fraction` phase, whose decoder learnt fixed-point events), else FLOAT."""
    train = (ckpt.get("config") or {}).get("train", {})
    if ckpt.get("model") == "rvq" or (ckpt.get("config") or {}).get("rvq"):
        return Arithmetic.FLOAT      # no spiking encoder: nothing runs in fixed point
    if train.get("loihi_fixed", False):
        return Arithmetic.FIXED
    fraction = float(train.get("fixed_point_fraction", 0.0))
    start = fixed_point_start(int(train.get("steps", 0)), fraction)
    fixed = fraction > 0 and int(ckpt.get("step", 0)) > start
    return Arithmetic.FIXED if fixed else Arithmetic.FLOAT


def load_encoder(path: str | os.PathLike) -> tuple[SpikingEncoder, str]:
    """Load only the encoder of a checkpoint: (encoder in eval mode, model id)."""
    ckpt = load_checkpoint(path)
    return build_encoder(ckpt, str(path)), ckpt["model_id"]


def at_level(encoder: SpikingEncoder, mu: int | None,
             source: str = "checkpoint") -> tuple[SpikingEncoder, int | None]:
    """The level-free encoder that conversion exports and Lava runs, and its level: a
    μ-SPARSE encoder at `mu` (default: its middle level, as `neuro-codec encode`) with the
    level folded into its biases; any other encoder as it is (`mu` must then be None).

    Raises:
        CheckpointError: a level for a model without levels, or one out of range.
    """
    levels = encoder.config.mu_levels
    if not levels:
        if mu is not None:
            raise CheckpointError(f"{source} has no compression levels μ (not a mu-sparse "
                                  f"model); drop --mu")
        return encoder, None
    mu = levels // 2 if mu is None else int(mu)
    if not 0 <= mu < levels:
        raise CheckpointError(f"{source}: μ must be in [0, {levels - 1}], got {mu}")
    return encoder.at_mu(mu).eval(), mu


def checkpoint_dict(model: str, preset: str, encoder: nn.Module, config: dict[str, Any],
                    decoder: nn.Module | None = None, optimizer: dict | None = None,
                    step: int = 0, extra: dict | None = None) -> dict[str, Any]:
    """The one way a checkpoint dict is assembled (training, encoder-only exports, tests).

    Args:
        model: the kind ("free", "sparse", "mu-sparse", "rvq", or a label for a bare encoder).
        encoder: its state becomes "encoder" and names the model id.
        config: {"encoder": …, "decoder": …, "train": …, "rvq": …} as dicts (what exists).
        decoder: a `Codec`; its state without the "encoder." entries becomes "decoder".
    """
    enc_state = {k: v.detach().cpu() for k, v in encoder.state_dict().items()}
    dec_state = None if decoder is None else {
        k: v.detach().cpu() for k, v in decoder.state_dict().items()
        if not k.startswith("encoder.")}
    return {
        "model_id": model_id_for(model, enc_state), "model": model, "preset": preset,
        "config": config, "encoder": enc_state, "decoder": dec_state, "optimizer": optimizer,
        "step": int(step), "extra": extra or {},
    }


def encoder_only_checkpoint(encoder: SpikingEncoder, model: str = "random") -> dict[str, Any]:
    """A checkpoint dict holding just an encoder (for conversion tests and export demos)."""
    return checkpoint_dict(model, "custom", encoder, {"encoder": encoder.config.to_dict()})
