import numpy as np
import pytest

from neuro_codec.data.audio import bits_per_second
from neuro_codec.evaluation.metrics import mel_distance, si_snr_db, visqol_score


@pytest.fixture
def tone() -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(22_050) / 22_050
    x = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 660 * t)
    return (x + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def test_si_snr_is_scale_invariant(tone):
    rng = np.random.default_rng(1)
    noisy = tone + 0.05 * rng.standard_normal(tone.size).astype(np.float32)
    assert si_snr_db(3.7 * noisy, tone) == pytest.approx(si_snr_db(noisy, tone), abs=1e-3)
    assert si_snr_db(0.5 * tone, tone) > 60


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 20.0])
def test_si_snr_of_white_noise_at_chosen_snr(tone, snr_db):
    rng = np.random.default_rng(2)
    noise = rng.standard_normal(tone.size)
    noise -= noise.mean()
    # Noise orthogonal to the signal, so that the scale-invariant projection leaves it intact.
    noise -= (noise @ tone) / (tone @ tone) * tone
    noise *= np.sqrt((tone @ tone) / (noise @ noise) / 10 ** (snr_db / 10))
    assert si_snr_db((tone + noise).astype(np.float32), tone) == pytest.approx(snr_db, abs=0.2)


def test_mel_distance(tone):
    assert mel_distance(tone, tone) == 0.0
    rng = np.random.default_rng(3)
    small = mel_distance(tone + 0.01 * rng.standard_normal(tone.size).astype(np.float32), tone)
    large = mel_distance(tone + 0.3 * rng.standard_normal(tone.size).astype(np.float32), tone)
    assert 0 < small < large


def test_mel_distance_rejects_mismatched_lengths(tone):
    with pytest.raises(ValueError, match="differs"):
        mel_distance(tone[:-1], tone)


def test_bitrate():
    assert bits_per_second(80 * 256, 256 * 512) == 80 * 22_050 / 512


@pytest.mark.slow
def test_visqol_orders_degradations(tone):
    rng = np.random.default_rng(4)
    clean = visqol_score(tone, tone)
    noisy = visqol_score(tone + 0.2 * rng.standard_normal(tone.size).astype(np.float32), tone)
    assert clean > 4.0 and noisy < clean
