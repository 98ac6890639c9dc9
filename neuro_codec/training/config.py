"""What a training run does (`TrainConfig`): its fields with their help, and their checks.

Stored in every checkpoint; `neuro_codec.commands.train` makes one flag of each field.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from neuro_codec.model.checkpoint import fixed_point_start
from neuro_codec.model.decoder import DecoderConfig
from neuro_codec.model.encoder import EncoderConfig
from neuro_codec.model.losses import LossConfig
from neuro_codec.model.presets import MODEL_KINDS, PRESETS, ModelKind, get_preset
from neuro_codec.model.rvq import RVQConfig
from neuro_codec.training.schedule import LR_SCHEDULES, learning_rate

DATA_SOURCES: tuple[str, ...] = ("builtin", "maestro", "synthetic")
# ((fraction of steps, β), …)
SCHEDULE_FIELDS = ("sparsity_schedule", "mu_schedule", "ops_schedule")
OVERRIDE_FIELDS = ("encoder_overrides", "decoder_overrides", "loss_overrides", "rvq_overrides")


def _field(default: Any, help: str) -> Any:
    """A field with its default and its help (the flag's help; written here only)."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class TrainConfig:
    """What a training run does. Stored in every checkpoint; each field's meaning is its
    `help` metadata. `model` stays the plain string of a `ModelKind` (as checkpoints store it);
    `kind` is the enum."""

    model: str = _field(
        "free", '"free" (no sparsity pressure), "sparse" (storage-cost penalty), "mu-sparse" (a '
        'level μ per clip and the rate hinge of that level) or "rvq" (the baseline: the same '
        "layers without spikes and a residual vector quantiser).")
    preset: str = _field("small", 'network sizes ("tiny", "small", "large").')
    data: str = _field("builtin", 'dataset ("builtin", "maestro", "synthetic").')
    data_root: str = _field("", "the dataset's folder (empty: $NEURO_CODEC_DATA or data/builtin; "
                                "MAESTRO needs one).")
    steps: int = _field(2000, "total optimiser steps.")
    batch_size: int = _field(0, "clips per batch, per process; 0 takes the preset's.")
    clip_samples: int = _field(0, "samples per training clip, a multiple of the hop; 0 takes "
                                  "the preset's.")
    lr: float = _field(3e-4, "AdamW's learning rate (Vocos-like).")
    betas: tuple[float, float] = _field((0.8, 0.99), "AdamW's betas (Vocos-like).")
    eps: float = _field(1e-6, "AdamW's epsilon.")
    weight_decay: float = _field(1e-3, "AdamW's decoupled weight decay.")
    lr_schedule: str = _field(
        "constant", 'the rate after the warm-up: "constant", "cosine" or "exponential" (both '
                    "decay to final_lr_fraction · lr at the last step).")
    warmup_steps: int = _field(0, "steps of linear warm-up from lr/warmup_steps to lr (0: none).")
    final_lr_fraction: float = _field(
        0.1, "the rate at the last step, as a fraction of lr (cosine and exponential).")
    grad_clip: float = _field(1.0, "global gradient-norm clip (0: none).")
    sparsity_theta: float = _field(
        0.5, "θ of SPARSE's penalty, as a fraction of the dense 80 bits/frame.")
    sparsity_schedule: tuple[tuple[float, float], ...] = _field(
        ((0.2, 0.1), (0.5, 1.0)),
        "β of SPARSE's storage penalty, ((fraction of steps, β), …): β is 0 before the first "
        "point.")
    mu_levels: int = _field(24, "μ-SPARSE's levels; level μ allows an event rate of 2^(−μ/3).")
    mu_schedule: tuple[tuple[float, float], ...] = _field(
        ((0.0, 3.0), (0.2, 10.0)),
        "β of μ-SPARSE's rate hinge, as `sparsity_schedule` (the hinge's gradient per unit of "
        "rate is β; SPARSE's storage cost has ~7 bits per event).")
    ops_budget_mops: float = _field(
        0.0, "the encoder's budget of spiking synaptic operations, in millions per second of "
             "audio (SpikingEncoder.spiking_synops; on Loihi they cost ~24 pJ each): above it "
             "the loss adds β·(ops/budget − 1) (0: off).")
    ops_schedule: tuple[tuple[float, float], ...] = _field(
        ((0.2, 1.0),),
        "β of the operations budget's hinge, as `sparsity_schedule` (0 before its first "
        "point: the encoder learns to code first).")
    val_mu: int = _field(-1, "the level μ-SPARSE is validated at (−1: mu_levels // 2).")
    log_every: int = _field(10, "steps between rows of log.csv.")
    ckpt_every: int = _field(200, "steps between checkpoints (each scores the validation clips).")
    seed: int = _field(0, "seeds the initial weights and the batch draws.")
    loihi_fixed: bool = _field(
        False, "encode with Loihi's fixed-point arithmetic throughout (quantisation-aware "
               "training, so that Lava's fixed_pt run gives the trained spikes).")
    fixed_point_fraction: float = _field(
        0.0, "the last fraction of the steps encode in fixed point (the recipe's fine-tuning "
             "phase; float before it, which is 2–3× faster).")
    val_clips: int = _field(8, "validation clips scored at every checkpoint (0: none).")
    val_clip_samples: int = _field(2**16, "samples per validation clip.")
    freeze_encoder: bool = _field(
        False, "train the decoder alone: the encoder keeps `init_from`'s weights, so its "
               "events, its `.snc` files and Lava's run of it do not change (a decoder "
               "fine-tuning, e.g. with the silence term of --set-loss).")
    init_from: str = _field(
        "", "start from this checkpoint's weights (e.g. fine-tune a float model with "
            "`loihi_fixed`); its presets must match.")
    encoder_overrides: tuple[tuple[str, Any], ...] = _field(
        (), "((field, value), …) replacing the preset's EncoderConfig fields (the ablation "
            "rows of benchmarks/ablation.py).")
    decoder_overrides: tuple[tuple[str, Any], ...] = _field(
        (), "((field, value), …) replacing the preset's DecoderConfig fields.")
    loss_overrides: tuple[tuple[str, Any], ...] = _field(
        (), "((field, value), …) replacing LossConfig's weights and floor.")
    rvq_overrides: tuple[tuple[str, Any], ...] = _field(
        (), "((field, value), …) replacing the RVQ baseline's RVQConfig fields, e.g. "
            "quantize_dropout=true: quantiser dropout, one model for every number of "
            "codebooks (RVQ only).")

    def __post_init__(self):
        # JSON (a checkpoint's config) gives lists where the fields hold tuples.
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        for name in OVERRIDE_FIELDS:
            object.__setattr__(self, name, tuple(
                (str(k), tuple(v) if isinstance(v, list) else v) for k, v in getattr(self, name)))
        for name in SCHEDULE_FIELDS:
            object.__setattr__(self, name, tuple((float(f), float(b))
                                                 for f, b in getattr(self, name)))
        if self.model not in MODEL_KINDS:
            raise ValueError(f"model must be one of {MODEL_KINDS}, got {self.model!r}")
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {tuple(PRESETS)}, got {self.preset!r}")
        if self.data not in DATA_SOURCES:
            raise ValueError(f"data must be one of {DATA_SOURCES}, got {self.data!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got "
                             f"{self.lr_schedule!r}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be ≥ 0, got {self.warmup_steps}")
        if not 0.0 < self.final_lr_fraction <= 1.0:
            raise ValueError(f"final_lr_fraction must be in (0, 1], got "
                             f"{self.final_lr_fraction}")
        for name in ("steps", "log_every", "ckpt_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if not 0.0 <= self.fixed_point_fraction <= 1.0:
            raise ValueError(f"fixed_point_fraction must be in [0, 1], got "
                             f"{self.fixed_point_fraction}")
        if self.kind is ModelKind.RVQ and (self.loihi_fixed or self.fixed_point_fraction):
            raise ValueError("the RVQ baseline has no spiking encoder: loihi_fixed and "
                             "fixed_point_fraction do not apply")
        if self.freeze_encoder and not self.init_from:
            raise ValueError("freeze_encoder keeps a trained encoder: it needs init_from")
        if self.kind is ModelKind.MU_SPARSE and not 0 <= self.validation_mu < self.mu_levels:
            raise ValueError(f"val_mu must be in [0, {self.mu_levels - 1}], got {self.val_mu}")
        if self.ops_budget_mops < 0:
            raise ValueError(f"ops_budget_mops must be ≥ 0, got {self.ops_budget_mops}")
        if self.ops_budget_mops and self.kind is ModelKind.RVQ:
            raise ValueError("the RVQ baseline has no spiking encoder: ops_budget_mops does "
                             "not apply")
        if self.rvq_overrides and self.kind is not ModelKind.RVQ:
            raise ValueError(f"rvq_overrides apply to the RVQ baseline only, not {self.model}")
        # an unknown field or value fails here
        self.encoder_config(), self.decoder_config(), self.loss_config(), self.rvq_config()
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
        return replace(with_overrides(get_preset(self.preset).encoder, self.encoder_overrides),
                       **self._levels())

    def decoder_config(self) -> DecoderConfig:
        return replace(with_overrides(get_preset(self.preset).decoder, self.decoder_overrides),
                       **self._levels())

    def loss_config(self) -> LossConfig:
        return with_overrides(LossConfig(), self.loss_overrides)

    def rvq_config(self) -> RVQConfig | None:
        if self.kind is not ModelKind.RVQ:
            return None
        return with_overrides(RVQConfig(), self.rvq_overrides)

    def lr_at(self, step: int) -> float:
        """AdamW's rate at step `step` (0-based; `schedule.learning_rate`)."""
        return learning_rate(step, self.steps, self.lr, self.lr_schedule, self.warmup_steps,
                             self.final_lr_fraction)

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


def with_overrides(base, overrides: tuple[tuple[str, Any], ...]):
    """`base` (a dataclass) with ((field, value), …) replaced; an unknown field raises a
    ValueError that lists the fields (one line for the CLI)."""
    names = {f.name for f in fields(base)}
    for key, _ in overrides:
        if key not in names:
            raise ValueError(f"{type(base).__name__} has no field {key!r}; fields: "
                             f"{', '.join(sorted(names))}")
    return replace(base, **dict(overrides))
