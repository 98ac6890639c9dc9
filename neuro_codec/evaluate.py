"""Evaluation: encode → `.snc` → decode on clips of a split, with rate and quality per clip.

Rates are exact: the payload bits of the `.snc` the encoder would write (cheapest format) and
the whole file's bits, per second of audio. Quality: SI-SNR, mel distance and (optionally)
ViSQOL, from `metrics.py`. Results are rows (dicts), summarised by their mean.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from neuro_codec.audio import SAMPLE_RATE_HZ, load_audio
from neuro_codec.bitstream import pack_snc, unpack_snc
from neuro_codec.codec import Codec
from neuro_codec.metrics import mel_distance, si_snr_db, visqol_score


def split_clips(root: str, split: str, seconds: float, max_clips: int,
                data: str = "builtin") -> list[tuple[str, np.ndarray]]:
    """Up to `max_clips` clips of `seconds` from the split's pieces, one per piece first.

    Returns:
        [(name, waveform [samples])], the first clip of each piece, then the second, ….
    """
    from neuro_codec.dataset import load_manifest

    n = int(round(seconds * SAMPLE_RATE_HZ))
    pieces = [p for p in load_manifest(root, data=data) if p.split == split]
    audio = {p.id: load_audio(p.wav_path, quiet=True) for p in pieces}
    clips: list[tuple[str, np.ndarray]] = []
    k = 0
    while len(clips) < max_clips:
        added = False
        for p in pieces:
            x = audio[p.id]
            if (k + 1) * n <= x.size and len(clips) < max_clips:
                clips.append((f"{p.id}@{k * seconds:g}s", x[k * n:(k + 1) * n]))
                added = True
        if not added:
            break
        k += 1
    return clips


def evaluate_clips(codec: Codec, model_id: str, clips: list[tuple[str, np.ndarray]],
                   steps: int = 25, sampler: str = "dpmpp", with_visqol: bool = True,
                   seed: int = 0, progress: bool = False) -> list[dict]:
    """Per clip: kbps (payload and file), event rate, SI-SNR, mel distance, ViSQOL."""
    device = next(codec.unet.parameters()).device
    rows = []
    for name, x in tqdm(clips, disable=not progress, desc="eval"):
        layers = codec.encoder.run_float64(x)
        z = layers[-1]
        data = pack_snc(z, n_audio_samples=x.size, model_id=model_id)
        header, z_back = unpack_snc(data)
        assert np.array_equal(z, z_back), "the .snc round trip must be exact"
        gen = torch.Generator(device=device).manual_seed(seed)
        zt = torch.from_numpy(z_back).float().unsqueeze(0).to(device)
        x_hat = codec.decode(zt, x.size, steps=steps, sampler=sampler,
                             generator=gen)[0].cpu().numpy()
        seconds = x.size / SAMPLE_RATE_HZ
        rows.append({
            "clip": name, "format": header.format.value if hasattr(header.format, "value")
            else str(header.format),
            "payload_kbps": header.payload_bits / seconds / 1e3,
            "file_kbps": len(data) * 8 / seconds / 1e3,
            "event_rate": float(z.mean()), "si_snr_db": si_snr_db(x_hat, x),
            "mel_distance": mel_distance(x_hat, x),
            "visqol": visqol_score(x_hat, x) if with_visqol else float("nan"),
        })
    return rows


def summarize(rows: list[dict]) -> dict:
    """Mean of every numeric column (NaNs ignored)."""
    keys = [k for k in rows[0] if isinstance(rows[0][k], (int, float))]
    return {k: float(np.nanmean([r[k] for r in rows])) for k in keys}
