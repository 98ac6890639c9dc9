"""Event–onset correlation and peak prominence (neuro_codec.evaluation.selectivity, the
paper's Fig. 5)."""

import numpy as np
import pytest

from neuro_codec.evaluation.selectivity import (
    event_onset_correlation,
    lags_for,
    peak_prominence,
    summarize,
)


def test_correlation_by_hand():
    z = np.zeros((1, 1, 10))
    o = np.zeros((1, 2, 10))
    z[0, 0, 3] = 1
    o[0, 0, 5] = 1          # note 0 two frames after the event: τ = +2
    o[0, 1, 1] = 1          # note 1 two frames before it: τ = −2
    corr, lags = event_onset_correlation(z, o)
    assert list(lags) == list(range(-5, 5))
    assert corr[0, 0, list(lags).index(2)] == 1 and corr[0, 0].sum() == 1
    assert corr[0, 1, list(lags).index(-2)] == 1 and corr[0, 1].sum() == 1
    with pytest.raises(ValueError, match="must be"):
        event_onset_correlation(z, np.zeros((2, 2, 10)))


def _clips(seed=0, clips=200, frames=256, notes=6, units=5):
    rng = np.random.default_rng(seed)
    # About 1.5 strikes of each note per clip, as a single pitch is struck in real music.
    onsets = (rng.random((clips, notes, frames)) < 0.006).astype(float)
    z = (rng.random((clips, units, frames)) < 0.05).astype(float)
    z[:, 0] = 0
    z[:, 0, 1:] = onsets[:, 2, :-1]    # unit 0 fires one frame after every onset of note 2
    return z, onsets


def test_a_unit_that_follows_one_pitch_is_selective_for_it_alone():
    z, onsets = _clips()
    corr, lags = event_onset_correlation(z, onsets)
    phi = peak_prominence(corr, lags)
    assert np.allclose(phi.sum(axis=1), 1)
    assert phi[0].argmax() == 2 and phi[0, 2] > 0.6
    assert (np.delete(phi[0], 2) < 0.15).all() and (phi[1:].max(axis=1) < 0.5).all()
    s = summarize(corr, lags, phi, clips=z.shape[0],
                  events_per_clip=float(z.sum(axis=(1, 2)).mean()))
    assert s.selective_units == 1
    assert s.selective_by_note == {"A1": 0, "A2": 0, "A3": 1, "A4": 0, "A5": 0, "A6": 0}
    assert s.peak_over_baseline > 1.5


def test_shuffled_events_have_no_selective_unit():
    z, onsets = _clips()
    rng = np.random.default_rng(1)
    shuffled = np.stack([clip[:, rng.permutation(clip.shape[1])] for clip in z])
    corr, lags = event_onset_correlation(shuffled, onsets)
    phi = peak_prominence(corr, lags)
    s = summarize(corr, lags, phi, clips=z.shape[0], events_per_clip=1.0)
    assert s.selective_units == 0
    assert phi.max() < 3 / 6


def test_lags_cover_half_the_clip_each_way():
    assert list(lags_for(4)) == [-2, -1, 0, 1]
    assert lags_for(256)[0] == -128 and lags_for(256)[-1] == 127


def test_a_near_silent_unit_is_not_selective_by_one_coincidence():
    z, onsets = _clips()
    z[:, 1] = 0
    z[0, 1, 1:] = onsets[0, 4, :-1]             # unit 1: one clip's worth of A5 strikes
    z[0, 1, :] *= np.cumsum(z[0, 1]) <= 1       # … keep only the first: a single event
    corr, lags = event_onset_correlation(z, onsets)
    phi = peak_prominence(corr, lags)
    assert phi[1].argmax() == 4 and phi[1, 4] > 0.5        # φ alone would call it selective
    s = summarize(corr, lags, phi, clips=z.shape[0], events_per_clip=1.0)
    assert s.selective_units == 1 and s.selective_by_note["A3"] == 1   # unit 0 only
