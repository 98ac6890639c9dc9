"""Recording conditions: the synthetic room's RT60 and DRR, colouring, level, noise, draws."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from neuro_codec.data import acoustics as ac

SR = 22_050


def _schroeder_rt60(ir: np.ndarray, band: tuple[float, float]) -> float:
    """RT60 from the backward-integrated energy decay of one band (T20: −5 to −25 dB, ×3)."""
    sos = butter(4, band, "bandpass", fs=SR, output="sos")
    e = np.cumsum((sosfilt(sos, ir[1:]) ** 2)[::-1])[::-1]
    db = 10 * np.log10(e / e[0])
    t = np.arange(db.size) / SR
    sel = (db <= -5) & (db >= -25)
    slope = np.polyfit(t[sel], db[sel], 1)[0]
    return -60.0 / slope


@pytest.mark.parametrize("rt60", [0.2, 0.8, 1.6])
def test_impulse_response_decays_at_its_rt60_and_has_its_drr(rt60):
    ir = ac.room_impulse_response(rt60, drr_db=4.0, seed=3)
    assert ir[0] == 1.0
    # Direct energy 1 against the tail's: exactly the requested ratio.
    assert 10 * np.log10(1.0 / np.sum(ir[1:] ** 2)) == pytest.approx(4.0, abs=1e-9)
    # Nothing between the direct sound and the pre-delay.
    assert np.all(ir[1:int(0.008 * SR)] == 0.0)
    # The mid band decays at the drawn RT60; the highs faster (air absorption).
    assert _schroeder_rt60(ir, (700, 2800)) == pytest.approx(rt60, rel=0.15)
    assert _schroeder_rt60(ir, (5000, 9000)) < 0.8 * _schroeder_rt60(ir, (700, 2800))


def test_apply_sets_the_peak_and_the_noise_level():
    x = np.zeros(4 * SR)
    x[SR:2 * SR] = 0.3 * np.sin(2 * np.pi * 440 * np.arange(SR) / SR)
    a = ac.Acoustics(peak_dbfs=-20.0, seed=5)
    y = ac.apply_acoustics(x, a)
    assert np.max(np.abs(y)) == pytest.approx(10 ** (-20 / 20), rel=1e-12)
    assert np.all(y[:SR] == 0.0)  # no noise asked: silence stays digital silence
    noisy = ac.apply_acoustics(x, ac.Acoustics(peak_dbfs=-20.0, noise_dbfs=-70.0, seed=5))
    rms_db = 10 * np.log10(np.mean(noisy[:SR] ** 2))
    assert rms_db == pytest.approx(-70.0, abs=0.2)


def test_room_keeps_onsets_in_place_and_adds_a_tail():
    x = np.zeros(SR)
    x[SR // 2] = 1.0
    y = ac.apply_acoustics(x, ac.Acoustics(rt60_s=0.5, drr_db=6.0, seed=1))
    assert int(np.argmax(np.abs(y))) == SR // 2  # the direct path is the loudest, at t = 0
    assert y.size == x.size + ac.room_impulse_response(0.5, 6.0, 1).size - 1
    assert np.max(np.abs(y[:SR // 2])) < 1e-12  # nothing before the onset (FFT round-off)


def test_shelves_and_low_cut_change_the_bands_they_name():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(4 * SR) * 0.1

    def band_db(y, lo, hi):
        f = np.fft.rfftfreq(y.size, 1 / SR)
        p = np.abs(np.fft.rfft(y)) ** 2
        return 10 * np.log10(p[(f >= lo) & (f < hi)].mean())

    y = ac.colour(x, ac.Acoustics(low_shelf_db=0.0, high_shelf_db=-6.0))
    assert band_db(y, 8000, 10000) - band_db(x, 8000, 10000) == pytest.approx(-6.0, abs=1.0)
    assert band_db(y, 200, 1000) - band_db(x, 200, 1000) == pytest.approx(0.0, abs=0.5)
    y = ac.colour(x, ac.Acoustics(low_cut_hz=80.0))
    assert band_db(y, 5, 25) - band_db(x, 5, 25) < -15
    assert ac.colour(x, ac.CLEAN) is x


def test_draws_stay_in_their_ranges_and_round_trip():
    rng = np.random.default_rng(7)
    draws = [ac.draw_acoustics(rng) for _ in range(400)]
    clean = np.mean([d == ac.CLEAN for d in draws])
    assert 0.42 < clean < 0.58  # P_CLEAN = 0.5
    rooms = [d.rt60_s for d in draws if d.rt60_s is not None]
    assert 0.28 < len(rooms) / 400 < 0.42  # (1 − P_CLEAN)(1 − P_NO_ROOM) = 0.35
    assert min(rooms) >= 0.1 and max(rooms) <= 2.0
    peaks = [d.peak_dbfs for d in draws]
    assert min(peaks) >= -35 and max(peaks) == -1.0
    assert 0.1 < np.mean([p > -1.0 - 1e-9 for p in peaks]) - clean < 0.2  # 0.5 × 0.25
    noisy = [d for d in draws if d.noise_dbfs is not None]
    assert noisy and all(-80 <= d.noise_dbfs <= min(-60, d.peak_dbfs - 50) for d in noisy)
    # No noise where the piece is too quiet to keep it 50 dB down.
    assert all(d.noise_dbfs is None for d in draws if d.peak_dbfs < -30)
    assert all(ac.Acoustics.from_json(d.to_json()).to_json() == d.to_json() for d in draws)
    again = np.random.default_rng(7)
    assert [ac.draw_acoustics(again) for _ in range(400)] == draws


def test_bad_conditions_are_refused():
    with pytest.raises(ValueError, match="peak_dbfs"):
        ac.Acoustics(peak_dbfs=3.0)
    with pytest.raises(ValueError, match="rt60_s"):
        ac.Acoustics(rt60_s=0.0)
