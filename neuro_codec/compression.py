"""The codec's API: waveform → file bytes → waveform for every kind of model, the one path
that `encode`, `decode`, `eval` and the benchmarks share (EnCodec's `compress.py` role).

It sits above `model` and `coding`, which it joins, and below `evaluation` and `commands`,
which call it; μ-SPARSE's quality control measures with `model.spectral`, not `evaluation`.

- FREE / SPARSE: z from the encoder in the checkpoint's arithmetic (float64 or Loihi fixed
  point) → `.snc` (version 1).
- μ-SPARSE: z at one level μ (`mu`), or per segment the largest μ whose reconstruction meets a
  quality target (`target`, `quality_controlled`) → `.snc` version 2 with the μ of every
  segment. Each segment is encoded from a reset state, so that a segment's events depend only
  on its own audio and level (what Lava runs for it, too); the decoder reads the whole z with
  the level of every frame.
- RVQ: the baseline's codes of its first K codebooks (`codebooks`; default all 8) → `.rvq`
  (`rvq_file.py`), K × 10 bits per frame; a file of any K ≤ the model's decodes.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import torch

from neuro_codec.data.audio import CLIP_SAMPLES, SAMPLE_RATE_HZ
from neuro_codec.errors import CheckpointError, CodecError
from neuro_codec.model.arithmetic import Arithmetic, encode_events
from neuro_codec.model.codec import Codec
from neuro_codec.model.presets import ModelKind
from neuro_codec.model.refiner import RefinerNetwork

DEFAULT_SEGMENT_SAMPLES = CLIP_SAMPLES   # quality control's segment: 5.94 s, the evaluation's clip


@dataclass
class LoadedModel:
    """A checkpoint ready to code: the codec, its id and kind, its event arithmetic, and the
    flow-matching refiner it decodes with (if any)."""

    codec: Codec            # an `RVQCodec` for RVQ
    model_id: str
    kind: ModelKind
    arithmetic: Arithmetic  # how its events are computed (the checkpoint's, or an override)
    refiner: RefinerNetwork | None = None

    @property
    def default_steps(self) -> int:
        """Refiner steps when none are asked for: the refiner file's K; 0 (the first stage)
        without a refiner."""
        return 0 if self.refiner is None else self.refiner.cfg.default_steps

    def effective_steps(self, steps: int | None) -> int:
        """The refiner steps a decode with `steps` (None: the default) runs: 0 without a
        refiner."""
        if self.refiner is None:
            return 0
        return self.default_steps if steps is None else steps

    @property
    def mu_levels(self) -> int:
        return self.codec.mu_levels

    @property
    def hop(self) -> int:
        return self.codec.hop


SHIPPED_REFINER = "shipped"


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu",
               arithmetic: Arithmetic | str | None = None,
               refiner: str | os.PathLike | None = SHIPPED_REFINER) -> LoadedModel:
    """Load a checkpoint's codec (eval mode) with what coding needs to know about it.

    Args:
        arithmetic: override the checkpoint's event arithmetic (None: the checkpoint's).
        refiner: a refiner file to decode with; "shipped" (the default): the shipped refiner
            if it was trained on this model's first stage, else none; None: none.
    Raises:
        CheckpointError: an unreadable refiner file.
    """
    from neuro_codec.model.checkpoint import Checkpoint

    ckpt = Checkpoint.read(path)
    codec = ckpt.build_codec().to(device)
    return LoadedModel(codec, ckpt.model_id, ckpt.kind,
                       ckpt.arithmetic if arithmetic is None else Arithmetic(arithmetic),
                       _refiner_for(codec, ckpt.model_id, refiner, device))


def _refiner_for(codec: Codec, model_id: str, refiner, device) -> RefinerNetwork | None:
    from neuro_codec.model.refiner import RefinerFile
    from neuro_codec.model.shipped import shipped_refiner_path

    if refiner is None:
        return None
    shipped = str(refiner) == SHIPPED_REFINER
    path = shipped_refiner_path() if shipped else refiner
    if path is None:
        return None
    saved = RefinerFile.read(path)
    if shipped and model_id not in (saved.extra or {}).get("trained_on", ()):
        return None   # the shipped refiner decodes the models it was trained on
    return saved.build().to(device)


@dataclass(frozen=True)
class QualityTarget:
    """A reconstruction floor for quality-controlled μ: SI-SNR at least `si_snr_db` and/or
    mel distance at most `mel_distance` (first-stage decode of the segment)."""

    si_snr_db: float | None = None
    mel_distance: float | None = None

    def __post_init__(self):
        if self.si_snr_db is None and self.mel_distance is None:
            raise ValueError("a quality target needs si_snr_db or mel_distance")

    def score(self, x_hat: np.ndarray, x: np.ndarray) -> tuple[bool, float]:
        """(target met, how good: SI-SNR in dB if it is targeted, else −mel distance)."""
        from neuro_codec.model.spectral import mel_distance, si_snr_db

        snr = None if self.si_snr_db is None else si_snr_db(x_hat, x)
        mel = None if self.mel_distance is None else mel_distance(x_hat, x)
        met = ((snr is None or snr >= self.si_snr_db)
               and (mel is None or mel <= self.mel_distance))
        return met, snr if snr is not None else -mel


def events(model: LoadedModel, x: np.ndarray, mu: int | None = None) -> np.ndarray:
    """z [N, T] uint8 of a waveform in the model's arithmetic (at level μ for μ-SPARSE)."""
    return encode_events(model.codec.encoder, x, model.arithmetic, mu)


def decode_events(model: LoadedModel, z: np.ndarray, n_samples: int,
                  mu: np.ndarray | int | None = None, steps: int | None = None,
                  seed: int = 0) -> np.ndarray:
    """z [N, T] (and μ: one level or [T] per frame) → waveform float32 [n_samples]; `steps`
    refiner steps (None: the model's default, `LoadedModel.default_steps`)."""
    codec = model.codec
    device = next(codec.first_stage.parameters()).device
    zt = torch.from_numpy(np.asarray(z)).float().unsqueeze(0).to(device)
    levels = None
    if mu is not None:
        levels = torch.as_tensor(np.asarray(mu), dtype=torch.long, device=device)
        levels = levels.reshape(1, -1) if levels.dim() == 1 else levels.reshape(1)
    gen = torch.Generator(device=device).manual_seed(seed)
    return codec.decode(zt, n_samples, steps=model.effective_steps(steps), generator=gen,
                        mu=levels, refiner=model.refiner)[0].cpu().numpy()


def quality_controlled(model: LoadedModel, x: np.ndarray, target: QualityTarget,
                       segment_samples: int = DEFAULT_SEGMENT_SAMPLES,
                       progress: bool = False) -> tuple[np.ndarray, list[int], int]:
    """μ-SPARSE's quality-controlled mode: per segment, the largest μ (fewest events) whose
    first-stage reconstruction of the segment meets `target`; where no level does, the level
    that scores best (more bits cannot buy the target there, so they buy what they can).

    Levels are tried from the highest down and the search stops at the first that passes, so
    a segment costs between 1 and `mu_levels` encode + first-stage decode passes (the
    rate–quality table's "encode × RT"). Each segment is encoded from a reset state.

    Returns:
        (z [N, T] uint8, μ per segment, segment length in frames).
    """
    from tqdm.auto import tqdm

    if not model.mu_levels:
        raise CodecError(f"{model.model_id} has no compression levels; quality control "
                         f"needs a mu-sparse model")
    hop = model.hop
    seg_frames = max(1, segment_samples // hop)
    seg = seg_frames * hop
    n_seg = max(1, math.ceil(x.size / seg))
    zs, levels = [], []
    for s in tqdm(range(n_seg), disable=not progress, desc="quality-controlled μ"):
        part = x[s * seg:(s + 1) * seg]
        best = None                                  # (score, μ, z) of the best level so far
        for mu in range(model.mu_levels - 1, -1, -1):
            z = events(model, part, mu)
            met, score = target.score(decode_events(model, z, part.size, mu, steps=0), part)
            if met:
                best = (score, mu, z)
                break
            if best is None or score > best[0]:
                best = (score, mu, z)
        zs.append(best[2])
        levels.append(best[1])
    return np.concatenate(zs, axis=1), levels, seg_frames


@dataclass(frozen=True)
class Encoded:
    """A coded waveform: the file's bytes and what they hold."""

    data: bytes
    header: object                  # SncHeader or RvqHeader
    z: np.ndarray                   # events [N, T] uint8, or RVQ codes [Q, T] int64
    mu: tuple[int, ...] = ()        # μ per segment (μ-SPARSE)

    @property
    def payload_bits(self) -> int:
        return self.header.payload_bits


def encode(model: LoadedModel, x: np.ndarray, mu: int | None = None,
           target: QualityTarget | None = None, fmt: str = "auto",
           segment_samples: int = DEFAULT_SEGMENT_SAMPLES, progress: bool = False,
           codebooks: int | None = None) -> Encoded:
    """Code a waveform [samples] (22,050 Hz) into file bytes (`.snc`, or `.rvq` for RVQ).

    Args:
        mu: μ-SPARSE level (default: the middle level when no `target` is given).
        target: μ-SPARSE quality-controlled mode (excludes `mu`).
        fmt: `.snc` payload format ("auto": the smallest).
        codebooks: RVQ: code with the first K codebooks, 1 ≤ K ≤ the model's (None: all).
    Raises:
        CodecError: a level or target for a model without levels, or both given; codebooks
            for a spiking model, or K outside 1..the model's codebooks.
    """
    from neuro_codec.coding.bitstream import encode_snc

    x = np.asarray(x, dtype=np.float32).reshape(-1)
    if codebooks is not None and model.kind is not ModelKind.RVQ:
        raise CodecError(f"{model.model_id} is a {model.kind.value} model: it has no codebooks "
                         f"(--codebooks needs an RVQ checkpoint)")
    if model.kind is ModelKind.RVQ:
        if mu is not None or target is not None:
            raise CodecError("the RVQ baseline has no compression level μ")
        q = model.codec.codebooks
        if codebooks is not None and not 1 <= codebooks <= q:
            raise CodecError(f"codebooks must be in [1, {q}] for {model.model_id}, "
                             f"got {codebooks}")
        from neuro_codec.coding.rvq_file import encode_rvq

        codes = model.codec.encode_codes(torch.from_numpy(x)[None].to(
            next(model.codec.parameters()).device), codebooks)[0].cpu().numpy()
        header, data = encode_rvq(codes, model.codec.rvq_config.code_bits,
                                  sample_rate_hz=SAMPLE_RATE_HZ, hop_samples=model.hop,
                                  n_audio_samples=x.size, model_id=model.model_id)
        return Encoded(data, header, codes)
    if not model.mu_levels:
        if mu is not None or target is not None:
            raise CodecError(f"{model.model_id} is a {model.kind.value} model: it has no "
                             f"compression level μ (--mu and --target-* need mu-sparse)")
        z = events(model, x)
        header, data = encode_snc(z, fmt, SAMPLE_RATE_HZ, model.hop, x.size, model.model_id)
        return Encoded(data, header, z)
    if mu is not None and target is not None:
        raise CodecError("give a level μ or a quality target, not both")
    if target is not None:
        z, levels, seg_frames = quality_controlled(model, x, target, segment_samples, progress)
        header, data = encode_snc(z, fmt, SAMPLE_RATE_HZ, model.hop, x.size, model.model_id,
                                  mu=levels, mu_segment_frames=seg_frames)
        return Encoded(data, header, z, tuple(levels))
    mu = model.mu_levels // 2 if mu is None else mu
    if not 0 <= mu < model.mu_levels:
        raise CodecError(f"μ must be in [0, {model.mu_levels - 1}] for {model.model_id}, got {mu}")
    z = events(model, x, mu)
    header, data = encode_snc(z, fmt, SAMPLE_RATE_HZ, model.hop, x.size, model.model_id, mu=mu)
    return Encoded(data, header, z, (mu,))


def decode(model: LoadedModel, data: bytes, steps: int | None = None, seed: int = 0,
           source: str = "input") -> tuple[np.ndarray, object]:
    """File bytes (`.snc` or `.rvq`) → (waveform float32, header).

    Raises:
        BitstreamError: a damaged file. CheckpointError: a file another model made, or one
        whose levels or codebooks do not fit the model.
    """
    from neuro_codec.coding.rvq_file import is_rvq, unpack_rvq

    if is_rvq(data[:4]):
        header, codes = unpack_rvq(data)
        _check_model(model, header.model_id, source)
        if model.kind is not ModelKind.RVQ:
            raise CheckpointError(f"{source} holds RVQ codes; {model.model_id} is not an RVQ model")
        rvq = model.codec.rvq_config
        if header.n_codebooks > rvq.codebooks:
            raise CheckpointError(f"{source} holds {header.n_codebooks} codebooks; "
                                  f"{model.model_id} has {rvq.codebooks}")
        if header.codebook_bits != rvq.code_bits:
            raise CheckpointError(f"{source} has codes of {header.codebook_bits} bits; "
                                  f"{model.model_id}'s codebooks take {rvq.code_bits}")
        device = next(model.codec.parameters()).device
        gen = torch.Generator(device=device).manual_seed(seed)
        x = model.codec.decode_codes(torch.from_numpy(codes)[None].to(device),
                                     header.n_audio_samples, steps=model.effective_steps(steps),
                                     generator=gen, refiner=model.refiner)[0].cpu().numpy()
        return x, header
    from neuro_codec.coding.bitstream import unpack_snc

    header, z = unpack_snc(data)
    _check_model(model, header.model_id, source)
    if model.kind is ModelKind.RVQ:
        raise CheckpointError(f"{source} holds events; {model.model_id} is the RVQ baseline")
    if header.n_units != model.codec.encoder.config.n_units:
        raise CheckpointError(f"{source} has {header.n_units} units, the model "
                              f"{model.codec.encoder.config.n_units}")
    mu = header.mu_per_frame() if header.mu else None
    if (mu is None) != (not model.mu_levels):
        raise CheckpointError(f"{source} {'has no' if mu is None else 'has'} compression levels "
                              f"μ and {model.model_id} {'needs' if mu is None else 'has no'} them")
    if mu is not None and int(mu.max()) >= model.mu_levels:
        raise CheckpointError(f"{source} uses level {int(mu.max())}; {model.model_id} has "
                              f"{model.mu_levels} levels")
    return decode_events(model, z, header.n_audio_samples, mu, steps, seed), header


def _check_model(model: LoadedModel, file_model_id: str, source: str) -> None:
    if file_model_id != model.model_id:
        raise CheckpointError(f"{source} was made by model {file_model_id!r}, the checkpoint is "
                              f"{model.model_id!r}")
