"""Validation during training: a fixed set of clips of the validation split, scored at every
checkpoint (the loss terms and the first stage's mel distance, SI-SNR and ViSQOL)."""

from __future__ import annotations

import torch

from neuro_codec.model.codec import Codec, RVQCodec
from neuro_codec.training.config import TrainConfig


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
    for μ-SPARSE); the keys are `VAL_FIELDS`' (`logs.py`) but step and seconds."""
    from neuro_codec.evaluation.metrics import mel_distance, si_snr_db, visqol_score

    was_training = model.training
    model.eval()
    model.loihi_fixed = fixed_point
    levels = None if mu is None else torch.full((len(clips),), mu, dtype=torch.long)
    terms, z = model(clips, mu=levels)
    x_hat = model.decode(z, clips.shape[-1], steps=0, mu=levels)
    model.train(was_training)
    scores = [(mel_distance(a, b), si_snr_db(a, b), visqol_score(a, b))
              for a, b in zip(x_hat, clips)]
    mel, snr, vq = (sum(col) / len(col) for col in zip(*scores))
    return {"val_loss": float(terms["loss"]), "val_recon": float(terms["recon"]),
            "val_event_rate": float("nan") if isinstance(model, RVQCodec) else float(z.mean()),
            "val_synops_mops": float(terms["synops_mops"]),
            "val_mel_distance": mel, "val_si_snr_db": snr, "val_visqol": vq}
