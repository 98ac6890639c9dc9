"""Silence measures and the quiet-bin log-spectral distance, on signals with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from neuro_codec.evaluation import silence
from neuro_codec.evaluation.metrics import QUALITY_COLUMNS, quality, quiet_bin_lsd_db

SR = 22_050


def _tone(seconds: float, amp: float = 0.5, hz: float = 440.0) -> np.ndarray:
    return amp * np.sin(2 * np.pi * hz * np.arange(int(seconds * SR)) / SR)


def _tone_pause_tone() -> np.ndarray:
    """1 s tone, 1 s digital silence, 1 s tone."""
    return np.concatenate([_tone(1.0), np.zeros(SR), _tone(1.0)])


def test_silent_windows_measure_what_leaks_into_the_pause():
    ref = _tone_pause_tone()
    rng = np.random.default_rng(0)
    leak = ref.copy()
    leak[SR:2 * SR] += rng.standard_normal(SR) * 10 ** (-70 / 20)  # −70 dBFS RMS in the pause
    mean, p95 = silence.silent_window_level(leak, ref)
    assert mean == pytest.approx(-70.0, abs=0.3)
    assert -70.0 < p95 < -68.5  # per-window levels scatter a little above the mean
    # A codec that keeps the pause silent reaches the floor; a reference that is never silent
    # has no such windows.
    assert silence.silent_window_level(ref, ref) == (-120.0, -120.0)
    assert all(np.isnan(silence.silent_window_level(_tone(2.0), _tone(2.0))))


def test_pre_echo_is_the_level_before_a_note_that_follows_silence():
    ref = _tone_pause_tone()
    est = ref.copy()
    # A −50 dBFS (RMS) anticipation of the second note, in the last 0.3 s of the pause.
    start = 2 * SR - int(0.3 * SR)
    est[start:2 * SR] = _tone(0.3, amp=np.sqrt(2) * 10 ** (-50 / 20))
    got = silence.pre_echo_level(est, ref)
    # The 8 windows before the onset window span (8 − 1) × 512 + 1024 samples: the pre-echo
    # covers part of them, so the level is its energy diluted over that span.
    onset_k = next(k for k, lv in enumerate(silence.level_dbfs(silence.window_power(ref)))
                   if k >= 8 and lv >= -40 and
                   (silence.level_dbfs(silence.window_power(ref))[k - 8:k] < -60).all())
    windows = silence.window_power(est)[onset_k - 8:onset_k]
    assert got == pytest.approx(10 * np.log10(windows.mean()), abs=1e-9)
    assert -60 < got < -50
    assert silence.pre_echo_level(ref, ref) == -120.0
    assert np.isnan(silence.pre_echo_level(_tone(2.0), _tone(2.0)))  # no onset after silence


def test_quiet_bin_lsd_counts_only_the_quiet_half():
    rng = np.random.default_rng(1)
    ref = _tone(2.0) + rng.standard_normal(2 * SR) * 1e-3
    assert quiet_bin_lsd_db(ref, ref) == 0.0
    # Twice the amplitude everywhere: exactly 20·log10(2) dB in every bin (none is floored).
    assert quiet_bin_lsd_db(2 * ref, ref) == pytest.approx(20 * np.log10(2), abs=1e-6)
    # Changing only the loud partial leaves the quiet bins (and the measure) nearly alone,
    # while filling the floor between partials with noise 20 dB up shows.
    louder_tone = ref + _tone(2.0)
    assert quiet_bin_lsd_db(louder_tone, ref) < 0.5
    noisier = ref + rng.standard_normal(2 * SR) * 1e-2
    assert 15 < quiet_bin_lsd_db(noisier, ref) < 25


def test_quality_has_every_column():
    ref = _tone_pause_tone()
    q = quality(ref, ref, with_visqol=False)
    assert tuple(q) == QUALITY_COLUMNS
    assert q["mel_distance"] == 0.0 and q["quiet_lsd_db"] == 0.0
    assert np.isnan(q["visqol"]) and q["silence_dbfs"] == -120.0


def test_silence_loss_prices_the_output_level_in_the_reference_pauses():
    import torch

    from neuro_codec.model.losses import silence_loss

    ref = torch.tensor(_tone_pause_tone(), dtype=torch.float32)[None]
    # Silent output in the pause: no cost (the tones' windows are not silent, whatever the
    # output does there).
    assert float(silence_loss(ref * 2, ref)) == 0.0
    # A constant −70 dBFS floor in the pause (power 1e-7) against the −90 dBFS floor: every
    # wholly silent window costs ln(1 + 1e-7/1e-9) = ln 101.
    est = ref.clone()
    est[0, SR:2 * SR] = 10 ** (-70 / 20)
    windows = ref[0].unfold(0, 1024, 512).pow(2).mean(-1) < 1e-6
    inside = est[0].unfold(0, 1024, 512).pow(2).mean(-1)[windows]
    expected = torch.log1p(inside / 1e-9).mean()
    assert float(silence_loss(est, ref)) == pytest.approx(float(expected), rel=1e-5)
    assert inside.max() == pytest.approx(1e-7, rel=1e-4)  # the pause's inner windows
    # Each 10 dB more costs ≈ ln 10 more per window, well above the floor.
    louder = ref.clone()
    louder[0, SR:2 * SR] = 10 ** (-60 / 20)
    assert float(silence_loss(louder, ref) - silence_loss(est, ref)) == pytest.approx(
        np.log(10), rel=0.05)
    # A reference that is never silent gives 0, and the gradient reaches the estimate.
    tone = torch.tensor(_tone(1.0), dtype=torch.float32)[None]
    assert float(silence_loss(tone * 0.5, tone)) == 0.0
    est.requires_grad_(True)
    silence_loss(est, ref).backward()
    assert est.grad[0, SR + 2048:2 * SR - 2048].abs().min() > 0
    assert float(est.grad[0, :SR - 1024].abs().max()) == 0.0
