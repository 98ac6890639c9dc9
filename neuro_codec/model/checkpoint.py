"""Checkpoints: one file holding configs, weights, optimiser state, step and model id, read
into one typed `Checkpoint` that every path uses (encode, decode, eval, training's `--init` and
`--resume`, conversion, the Lava side, the benchmarks and scripts).

On disk a checkpoint is a dict saved with `torch.save` and read back with `weights_only=True`
(never unpickle untrusted input): tensors, numbers, strings, lists and dicts only. It is
written atomically. The model id names the encoder's weights (a hash of them), so that a
`.snc` file can say which encoder made it and a decoder can refuse a file it does not match.

Keys (version 2): format ("neuro-codec-checkpoint"), version (2), model_id, model (the
`ModelKind` value, or None for a bare encoder), preset, config ({"encoder": …, "decoder": …,
"train": …, "rvq": …} as dicts, what exists), encoder (state dict), codec_without_encoder (the
`Codec`'s state dict without its "encoder." entries, or None), optimizer (state dict or None),
step, and free-form `extra`. Version 1 called `codec_without_encoder` "decoder" and labelled a
bare encoder "random"; `upgrade_checkpoint` reads it (scripts/release_checkpoint.py), nothing
else does.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from neuro_codec.errors import CheckpointError
from neuro_codec.fileio import atomic_path
from neuro_codec.model.arithmetic import Arithmetic
from neuro_codec.model.decoder import DecoderConfig
from neuro_codec.model.encoder import EncoderConfig, SpikingEncoder
from neuro_codec.model.presets import ModelKind

if TYPE_CHECKING:
    from neuro_codec.model.codec import Codec
    from neuro_codec.model.rvq import RVQConfig

CHECKPOINT_FORMAT = "neuro-codec-checkpoint"
CHECKPOINT_VERSION = 2
BARE_ENCODER_LABEL = "random"    # model-id prefix of a bare encoder (kind None)
_REQUIRED = ("model_id", "model", "config", "encoder")


def model_id_for(label: str, encoder_state: dict[str, torch.Tensor]) -> str:
    """`<label>-<12 hex digits>`: a SHA-256 of the encoder's tensors (names, shapes, bytes)."""
    h = hashlib.sha256()
    for name in sorted(encoder_state):
        t = encoder_state[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return f"{label}-{h.hexdigest()[:12]}"


def fixed_point_start(steps: int, fraction: float) -> int:
    """First (0-based) step of a run's Loihi fixed-point phase: its last `fraction` of steps."""
    return round((1 - fraction) * steps)


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def _cpu(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in state.items()}


@dataclass(frozen=True, eq=False)     # weights are tensors: compare fields, not checkpoints
class Checkpoint:
    """A checkpoint, read and checked: what it is, its configs and its weights.

    A bare encoder (exported for conversion tests and demos, no decoder) has
    `codec_without_encoder` None; its `kind` is None when it was trained as no kind at all
    (an untrained encoder: model id "random-…"), or the kind it is labelled with.
    """

    kind: ModelKind | None          # None: a bare encoder of no trained kind
    model_id: str                   # "<kind>-<12 hex digits of the encoder's weights>"
    preset: str                     # "tiny", "small", "large", or "custom"
    encoder_config: EncoderConfig
    decoder_config: DecoderConfig | None    # None: a bare encoder
    rvq_config: RVQConfig | None            # the RVQ baseline's quantiser (RVQ only)
    train_config: dict[str, Any]    # TrainConfig.to_dict() (training sits above `model`)
    encoder_state: dict[str, torch.Tensor]
    codec_without_encoder: dict[str, torch.Tensor] | None   # Codec state minus "encoder.*"
    optimizer: dict | None = None   # AdamW state (training checkpoints; None once released)
    step: int = 0                   # optimiser steps done
    extra: dict = field(default_factory=dict)   # free-form: last log and validation rows
    source: str = "checkpoint"      # where it was read from (error messages)

    def __post_init__(self):
        if (self.kind is ModelKind.RVQ) != (self.rvq_config is not None):
            raise CheckpointError(f"{self.source}: an RVQ checkpoint needs an rvq config and "
                                  f"only it has one (kind {self.label}, rvq config "
                                  f"{'present' if self.rvq_config else 'absent'})")
        if (self.decoder_config is None) != (self.codec_without_encoder is None):
            raise CheckpointError(f"{self.source}: a decoder config needs the decoder's "
                                  f"weights and the weights need the config")
        if self.kind is None and self.codec_without_encoder is not None:
            raise CheckpointError(f"{self.source}: a codec needs a model kind")

    # ------------------------------------------------------------------ what it is

    @property
    def label(self) -> str:
        """The kind's value, or "random" for a bare encoder of no kind (model ids, reports)."""
        return BARE_ENCODER_LABEL if self.kind is None else self.kind.value

    @property
    def has_codec(self) -> bool:
        """Whether it holds a whole codec (False: a bare encoder)."""
        return self.codec_without_encoder is not None

    @property
    def arithmetic(self) -> Arithmetic:
        """The event arithmetic it was trained for: FIXED if it was trained with Loihi's
        fixed-point encoder (`--loihi-fixed`, or a saved step inside the
        `--fixed-point-fraction` phase, whose decoder learnt fixed-point events), else FLOAT.
        The RVQ baseline has no spiking encoder: FLOAT."""
        train = self.train_config
        if self.kind is ModelKind.RVQ:
            return Arithmetic.FLOAT
        if train.get("loihi_fixed", False):
            return Arithmetic.FIXED
        fraction = float(train.get("fixed_point_fraction", 0.0))
        start = fixed_point_start(int(train.get("steps", 0)), fraction)
        fixed = fraction > 0 and self.step > start
        return Arithmetic.FIXED if fixed else Arithmetic.FLOAT

    # ------------------------------------------------------------------ models

    def build_encoder(self) -> SpikingEncoder:
        """The spiking encoder, in eval mode.

        Raises:
            CheckpointError: the RVQ baseline, or a config that does not match the weights.
        """
        if self.kind is ModelKind.RVQ:
            raise CheckpointError(f"{self.source} is the RVQ baseline: it has no spiking "
                                  f"encoder")
        try:
            encoder = SpikingEncoder(self.encoder_config)
            encoder.load_state_dict(self.encoder_state)
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise CheckpointError(f"{self.source}: encoder config does not match its weights "
                                  f"({_first_line(e)})") from None
        return encoder.eval()

    def build_codec(self) -> Codec:
        """The whole codec (an `RVQCodec` for RVQ), in eval mode.

        Raises:
            CheckpointError: a bare encoder, or configs that do not match the weights.
        """
        from neuro_codec.model.codec import build_codec

        if not self.has_codec:
            raise CheckpointError(f"{self.source} holds no decoder (an encoder-only checkpoint)")
        try:
            codec = build_codec(self.kind, self.encoder_config, self.decoder_config,
                                rvq_config=self.rvq_config)
            codec.load_state_dict({**self.codec_without_encoder,
                                   **{f"encoder.{k}": v for k, v in self.encoder_state.items()}})
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise CheckpointError(f"{self.source}: config does not match the weights "
                                  f"({_first_line(e)})") from None
        return codec.eval()

    # ------------------------------------------------------------------ making one

    @classmethod
    def of_codec(cls, kind: ModelKind, preset: str, codec: Codec, train_config: dict[str, Any],
                 optimizer: dict | None = None, step: int = 0,
                 extra: dict | None = None) -> Checkpoint:
        """A training checkpoint of `codec` (a `Codec`, or an `RVQCodec` for RVQ)."""
        enc_state = _cpu(codec.encoder.state_dict())
        rest = {k: v.detach().cpu() for k, v in codec.state_dict().items()
                if not k.startswith("encoder.")}
        return cls(kind=ModelKind(kind), model_id=model_id_for(ModelKind(kind).value, enc_state),
                   preset=preset, encoder_config=codec.encoder.config,
                   decoder_config=codec.cfg, rvq_config=codec.rvq_config,
                   train_config=dict(train_config), encoder_state=enc_state,
                   codec_without_encoder=rest, optimizer=optimizer, step=int(step),
                   extra=dict(extra or {}))

    @classmethod
    def of_encoder(cls, encoder: SpikingEncoder, kind: ModelKind | None = None,
                   train_config: dict[str, Any] | None = None) -> Checkpoint:
        """A bare encoder (conversion tests, export demos): no decoder; `kind` None for an
        untrained one (model id "random-…"), or the kind it stands for."""
        kind = None if kind is None else ModelKind(kind)
        enc_state = _cpu(encoder.state_dict())
        label = BARE_ENCODER_LABEL if kind is None else kind.value
        return cls(kind=kind, model_id=model_id_for(label, enc_state), preset="custom",
                   encoder_config=encoder.config, decoder_config=None, rvq_config=None,
                   train_config=dict(train_config or {}), encoder_state=enc_state,
                   codec_without_encoder=None)

    # ------------------------------------------------------------------ files

    def to_dict(self) -> dict[str, Any]:
        """The on-disk dict (current version), format and version stamped."""
        config: dict[str, Any] = {"encoder": self.encoder_config.to_dict()}
        if self.decoder_config is not None:
            config["decoder"] = self.decoder_config.to_dict()
        if self.train_config:
            config["train"] = dict(self.train_config)
        if self.rvq_config is not None:
            config["rvq"] = self.rvq_config.to_dict()
        return {
            "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
            "model_id": self.model_id, "model": None if self.kind is None else self.kind.value,
            "preset": self.preset, "config": config, "encoder": self.encoder_state,
            "codec_without_encoder": self.codec_without_encoder, "optimizer": self.optimizer,
            "step": int(self.step), "extra": self.extra,
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write it atomically (current version)."""
        with atomic_path(path, suffix=".pt") as tmp:
            torch.save(self.to_dict(), tmp)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "checkpoint") -> Checkpoint:
        """The checkpoint of an on-disk dict of the current version (see `read`).

        Raises:
            CheckpointError: a missing key, an unknown kind, or an invalid config.
        """
        for key in _REQUIRED:
            if key not in data:
                raise CheckpointError(f"{source}: checkpoint has no {key!r}")
        model = data["model"]
        try:
            kind = None if model is None else ModelKind(model)
        except ValueError:
            raise CheckpointError(
                f"{source}: unknown model kind {model!r} (expected one of "
                f"{', '.join(k.value for k in ModelKind)})") from None
        config = data["config"] or {}

        def parse(name, cls_):
            if config.get(name) is None:
                return None
            try:
                return cls_.from_dict(config[name])
            except (TypeError, ValueError) as e:
                raise CheckpointError(f"{source}: invalid {name} config "
                                      f"({_first_line(e)})") from None

        encoder_config = parse("encoder", EncoderConfig)
        if encoder_config is None:
            raise CheckpointError(f"{source}: checkpoint has no encoder config")
        rvq_config = None
        if config.get("rvq") is not None:
            # Only the RVQ baseline loads the quantiser's library (1–2 s of imports that the
            # Lava side and the spiking models never need).
            from neuro_codec.model.rvq import RVQConfig

            rvq_config = parse("rvq", RVQConfig)
        return cls(kind=kind, model_id=data["model_id"], preset=data.get("preset", "custom"),
                   encoder_config=encoder_config, decoder_config=parse("decoder", DecoderConfig),
                   rvq_config=rvq_config,
                   train_config=dict(config.get("train") or {}),
                   encoder_state=data["encoder"],
                   codec_without_encoder=data.get("codec_without_encoder"),
                   optimizer=data.get("optimizer"), step=int(data.get("step", 0)),
                   extra=dict(data.get("extra") or {}), source=source)

    @classmethod
    def read(cls, path: str | os.PathLike) -> Checkpoint:
        """Read and check a checkpoint of the current version (on the CPU).

        Raises:
            CheckpointError: missing, unreadable, not ours, another version (a version-1
                file names `scripts/release_checkpoint.py`, which upgrades it), or invalid.
        """
        data, p = _load(path)
        if data.get("version") != CHECKPOINT_VERSION:
            hint = (" (a version-1 checkpoint: upgrade it with "
                    "`python scripts/release_checkpoint.py SRC DST`)"
                    if data.get("version") == 1 else "")
            raise CheckpointError(f"{p}: unsupported checkpoint version "
                                  f"{data.get('version')!r} (this build reads "
                                  f"{CHECKPOINT_VERSION}){hint}")
        return cls.from_dict(data, str(p))


def _load(path: str | os.PathLike) -> tuple[dict[str, Any], Path]:
    """The raw dict of a neuro-codec checkpoint file of any version, and its path."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint not found: {p}")
    try:
        data = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for corrupt files
        raise CheckpointError(f"{p} is not a readable checkpoint ({type(e).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{p} is not a neuro-codec checkpoint")
    return data, p


def upgrade_v1(data: dict[str, Any], source: str = "checkpoint") -> dict[str, Any]:
    """A version-1 checkpoint dict as the current version's: "decoder" (the codec's state
    without the encoder) becomes "codec_without_encoder", and the label of a bare encoder that
    is no `ModelKind` (e.g. "random") becomes None. Weights, model id and configs are kept.

    Raises:
        CheckpointError: not version 1, or a codec whose kind is no `ModelKind`.
    """
    if data.get("version") != 1:
        raise CheckpointError(f"{source}: not a version-1 checkpoint (version "
                              f"{data.get('version')!r})")
    for key in _REQUIRED:
        if key not in data:
            raise CheckpointError(f"{source}: checkpoint has no {key!r}")
    out = {k: v for k, v in data.items() if k != "decoder"}
    out["version"] = CHECKPOINT_VERSION
    out["codec_without_encoder"] = data.get("decoder") or None
    if data["model"] not in {k.value for k in ModelKind}:
        if out["codec_without_encoder"] is not None:
            raise CheckpointError(f"{source}: unknown model kind {data['model']!r}")
        out["model"] = None
    return out


def upgrade_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint of version 1 (`upgrade_v1`) or of the current version: the one reader
    of old files, for `scripts/release_checkpoint.py` (runs trained by an older build).

    Raises:
        CheckpointError: as `Checkpoint.read`, for any version other than 1 and the current.
    """
    data, p = _load(path)
    if data.get("version") == 1:
        data = upgrade_v1(data, str(p))
    elif data.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{p}: unsupported checkpoint version {data.get('version')!r} "
                              f"(this build reads 1 and {CHECKPOINT_VERSION})")
    return Checkpoint.from_dict(data, str(p))


@dataclass(frozen=True)
class LoadedEncoder:
    """A checkpoint's encoder as conversion exports it and Lava runs it."""

    encoder: SpikingEncoder         # level-free, eval mode (μ-SPARSE: μ folded into biases)
    model_id: str
    kind: ModelKind | None          # None: a bare encoder of no trained kind
    label: str                      # the kind's value, or "random"
    mu: int | None                  # the level folded in (μ-SPARSE), else None
    arithmetic: Arithmetic          # the checkpoint's, unless overridden


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


def load_encoder(path: str | os.PathLike, mu: int | None = None,
                 arithmetic: Arithmetic | str | None = None,
                 mu_only_where_levels: bool = False) -> LoadedEncoder:
    """A checkpoint's level-free encoder (`at_level`) with its id, kind, level and arithmetic.

    Args:
        mu: μ-SPARSE level to fold in (None: the middle level).
        arithmetic: override the checkpoint's (`Checkpoint.arithmetic`).
        mu_only_where_levels: apply `mu` to μ-SPARSE encoders only (several checkpoints share
            one `--mu`) instead of refusing it for a model without levels.
    Raises:
        CheckpointError: unreadable, the RVQ baseline, or a level that does not fit.
    """
    ckpt = Checkpoint.read(path)
    encoder = ckpt.build_encoder()
    if mu_only_where_levels and not encoder.config.mu_levels:
        mu = None
    encoder, mu = at_level(encoder, mu, ckpt.source)
    return LoadedEncoder(encoder, ckpt.model_id, ckpt.kind, ckpt.label, mu,
                         ckpt.arithmetic if arithmetic is None else Arithmetic(arithmetic))
