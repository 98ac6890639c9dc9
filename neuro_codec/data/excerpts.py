"""Excerpts of a split for evaluation and streaming measurements: which clips, in which order.

`split_excerpts` takes fixed-length clips in turn from every source (so that 16 clips cover
every kind of music); `split_audio` takes whole pieces up to a duration (Lava and energy runs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neuro_codec.data.audio import SAMPLE_RATE_HZ, load_audio


def split_excerpts(root: str | Path | None, n_clips: int, seconds: float, split: str = "test",
               data: str = "builtin") -> list[tuple[str, np.ndarray]]:
    """Up to `n_clips` excerpts of `seconds` from the split's pieces.

    The first excerpt of every piece comes before any second one, and pieces are taken in
    turn from each source (generated, music21 piano, music21 chorale, …), so that a handful
    of clips covers every kind of music.

    Returns:
        [(name "piece@start_s", waveform float32 [samples])].
    """
    from neuro_codec.data.dataset import load_manifest

    n = int(round(seconds * SAMPLE_RATE_HZ))
    pieces = [p for p in load_manifest(root, data=data) if p.split == split]
    by_source: dict[str, list] = {}
    for p in pieces:
        by_source.setdefault(p.source, []).append(p)
    queues = list(by_source.values())
    order = [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]
    if data == "maestro":
        from neuro_codec.data import maestro

        maestro.prepare_audio(root, order)
    audio: dict[str, np.ndarray] = {}
    clips: list[tuple[str, np.ndarray]] = []
    for k in range(1000):
        added = False
        for p in order:
            if len(clips) == n_clips:
                return clips
            if p.id not in audio:
                audio[p.id] = load_audio(p.wav_path, quiet=True)
            if (k + 1) * n <= audio[p.id].size:
                clips.append((f"{p.id}@{k * seconds:g}s", audio[p.id][k * n:(k + 1) * n]))
                added = True
        if not added:
            break
    return clips


def split_audio(root: str | Path | None, split: str, max_seconds: float | None = None,
                data: str = "builtin") -> list[tuple[str, np.ndarray]]:
    """The split's pieces in manifest order, whole, the last one cut so that all together
    hold at most `max_seconds` (all of them if None): for streaming measurements (Lava, energy).

    Returns:
        [(piece id, waveform float32 [samples])].
    """
    from neuro_codec.data.dataset import load_manifest

    pieces = [p for p in load_manifest(root, data=data) if p.split == split]
    budget = None if max_seconds is None else int(round(max_seconds * SAMPLE_RATE_HZ))
    out = []
    for p in pieces:
        if budget is not None and budget <= 0:
            break
        x = load_audio(p.wav_path, quiet=True)
        if budget is not None:
            x = x[:budget]
            budget -= x.size
        out.append((p.id, x))
    return out
