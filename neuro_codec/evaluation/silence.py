"""Does silence stay silent? The decoder's output where the reference is silent, and before
notes that follow a silence (pre-echo).

A codec trained on dense music learns that sound never stops: it fills pauses with a low
noise floor and anticipates the next note. Loud-bin metrics (SI-SNR, mel distance) barely see
it, a listener does. Levels are RMS over windows of 1,024 samples (46 ms) with a hop of 512,
in dBFS (a full-scale sine is −3 dBFS; digital silence is floored at −120 dBFS).
"""

from __future__ import annotations

import numpy as np

SILENCE_DBFS = -60.0  # a reference window below this level is silent
ONSET_DBFS = -40.0  # a window at or above this level after a silence starts a note
WINDOW, HOP = 1024, 512
PRE_ONSET_WINDOWS = 8  # the silence before an onset that counts for pre-echo (≈ 186 ms)
FLOOR_DBFS = -120.0


def window_power(x: np.ndarray) -> np.ndarray:
    """Mean square of each window ([n_windows]; a signal shorter than a window is one)."""
    x = np.asarray(x, dtype=np.float64)
    if x.size < WINDOW:
        return np.array([float(np.mean(x**2)) if x.size else 0.0])
    frames = np.lib.stride_tricks.sliding_window_view(x, WINDOW)[::HOP]
    return np.mean(frames**2, axis=1)


def level_dbfs(power: np.ndarray | float) -> np.ndarray:
    """RMS level in dBFS of mean-square `power`, floored at `FLOOR_DBFS`."""
    return np.maximum(10 * np.log10(np.maximum(power, 1e-30)), FLOOR_DBFS)


def silent_window_level(estimate: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """The estimate's level in the windows where the reference is below −60 dBFS.

    Returns:
        (mean, p95) in dBFS: the level of the estimate's mean power over those windows, and
        the 95th percentile of its per-window levels; (nan, nan) where the reference is
        never silent.
    """
    est, ref = window_power(estimate), window_power(reference)
    silent = level_dbfs(ref) < SILENCE_DBFS
    if not silent.any():
        return float("nan"), float("nan")
    return (float(level_dbfs(est[silent].mean())),
            float(np.percentile(level_dbfs(est[silent]), 95)))


def pre_echo_level(estimate: np.ndarray, reference: np.ndarray) -> float:
    """The estimate's level just before notes that follow a silence.

    An onset after a silence is a window whose reference level reaches −40 dBFS while the
    8 windows before it (≈ 186 ms) are all below −60 dBFS. Returns the level (dBFS) of the
    estimate's mean power over those 8 windows of every such onset; nan where there is none.
    """
    est, ref_db = window_power(estimate), level_dbfs(window_power(reference))
    before = []
    for k in range(PRE_ONSET_WINDOWS, ref_db.size):
        if ref_db[k] >= ONSET_DBFS and (ref_db[k - PRE_ONSET_WINDOWS:k] < SILENCE_DBFS).all():
            before.append(est[k - PRE_ONSET_WINDOWS:k])
    if not before:
        return float("nan")
    return float(level_dbfs(np.concatenate(before).mean()))
