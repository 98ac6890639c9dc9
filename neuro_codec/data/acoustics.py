"""Recording conditions of a rendered piece: a room, a microphone/EQ colouring, a level and a
noise floor, drawn per piece from a seed and applied to the synthesiser's dry output.

A synthesiser plays every piece in the same room at the same level; recordings do not. The
codec must not learn one room, one peak level and a digital-silence floor, so training pieces
are re-recorded under drawn conditions (`draw_acoustics`), and the draw is stored in the
manifest (`Acoustics.to_json`) so that a render can be repeated and a result traced back.

Signal chain (`apply_acoustics`), in order:
    dry → room (convolution with a synthetic impulse response) → colouring (low cut, low and
    high shelves, a tilt) → level (peak in dBFS) → noise (white, RMS in dBFS) → caller rounds
    to 16-bit PCM.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
from scipy.signal import butter, fftconvolve, sosfilt

from neuro_codec.data.audio import SAMPLE_RATE_HZ

RT60_RANGE_S = (0.1, 2.0)  # drawn log-uniformly: small rooms are as common as halls
DRR_RANGE_DB = (-3.0, 12.0)  # direct-to-reverberant energy ratio
PEAK_RANGE_DBFS = (-35.0, -1.0)
NOISE_RANGE_DBFS = (-80.0, -60.0)  # RMS of the added noise
# The noise stays at least this far below the piece's peak. The encoder cannot tell a pause
# holding −70 dBFS of noise from digital silence (neither makes a unit spike), so the decoder
# learns the pauses' average: with noise in 70 % of the pieces at any level, a model trained
# 3,000 steps on it put −65 dBFS into clean pauses and its quiet-bin error rose from 25 to
# 33 dB (measured on the held-out piano). Quiet recordings have quiet noise floors anyway.
MIN_PEAK_TO_NOISE_DB = 50.0
LOW_CUT_RANGE_HZ = (20.0, 80.0)
# Half the pieces are recorded clean, as the test split is (no room, colouring or noise, peak at
# −1 dBFS): measured on the held-out piano after 3,000 fine-tuning steps, conditions on every
# piece (format 2) cost 0.4 ViSQOL against the single-piano corpus, where piano variety alone
# had gained 0.6 in an earlier calibration. The decoder has to serve clean audio first.
P_CLEAN = 0.5
# Probabilities of "none" in a draw: a dry room, no colouring, a peak-normalised piece, no noise.
P_NO_ROOM, P_NO_EQ, P_PEAK_NORMALISED, P_NO_NOISE, P_NO_LOW_CUT = 0.3, 0.2, 0.25, 0.6, 0.5
# Frequency-dependent decay: each band's RT60 is the drawn one times this factor (air and
# wall absorption shorten the highs).
_BANDS_HZ = ((None, 500.0), (500.0, 4000.0), (4000.0, None))
_BAND_RT60_FACTOR = (1.15, 1.0, 0.6)
_PREDELAY_S = 0.008  # from the direct sound to the first reflections
# Shelf corner frequencies: the low shelf (boom/thinness), the high shelf (air/darkness), and
# the tilt, a pair of opposite shelves hinged at 1 kHz (a brighter or darker microphone).
_LOW_SHELF_HZ, _HIGH_SHELF_HZ, _TILT_HZ = 150.0, 6000.0, 1000.0
# torchaudio's biquads clamp their output to [-1, 1]: work at this peak, 20 dB below it.
_EQ_HEADROOM_PEAK = 0.1


@dataclass(frozen=True)
class Acoustics:
    """One piece's recording conditions. `None` fields are absent stages."""

    rt60_s: float | None = None  # reverberation time of the synthetic room (60 dB decay)
    drr_db: float = 0.0  # direct-to-reverberant energy ratio of its impulse response
    low_cut_hz: float | None = None  # 2nd-order high-pass corner
    low_shelf_db: float = 0.0  # gain below _LOW_SHELF_HZ
    high_shelf_db: float = 0.0  # gain above _HIGH_SHELF_HZ
    tilt_db: float = 0.0  # highs minus lows around _TILT_HZ (±tilt/2 each)
    peak_dbfs: float = -1.0  # the piece's largest sample, before the noise
    noise_dbfs: float | None = None  # RMS of added white noise
    seed: int = 0  # the impulse response's and the noise's random stream

    def __post_init__(self) -> None:
        if self.rt60_s is not None and not self.rt60_s > 0:
            raise ValueError(f"rt60_s: {self.rt60_s}; need > 0 or None")
        if not self.peak_dbfs <= 0:
            raise ValueError(f"peak_dbfs: {self.peak_dbfs}; need <= 0 (no clipping)")

    def to_json(self) -> str:
        """Compact JSON with rounded values (what the manifest stores)."""
        d = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(self).items()}
        return json.dumps(d, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Acoustics:
        return cls(**json.loads(text))


CLEAN = Acoustics()  # no room, no colouring, peak-normalised to -1 dBFS, no noise


def draw_acoustics(rng: np.random.Generator) -> Acoustics:
    """Conditions for one piece: clean (half the pieces), else every stage on or off and its
    parameters from `rng`.

    Ranges: RT60 0.1–2 s (log-uniform) with a direct-to-reverberant ratio of −3…12 dB, or no
    room (30 %); a low cut at 20–80 Hz (50 %), shelves of ±4 dB (150 Hz) and −6…+3 dB
    (6 kHz) and a tilt of ±3 dB, or no colouring (20 %); a peak of −35…−1 dBFS, or −1 dBFS
    (25 %); white noise at −80…−60 dBFS RMS, or none (60 %), the range squeezed to end at
    50 dB below the peak (−80 dBFS … peak − 50), none where that leaves no room.
    """
    if rng.random() < P_CLEAN:
        return CLEAN
    room = rng.random() >= P_NO_ROOM
    rt60 = float(np.exp(rng.uniform(*np.log(RT60_RANGE_S))))
    drr = float(rng.uniform(*DRR_RANGE_DB))
    eq = rng.random() >= P_NO_EQ
    low_cut = float(rng.uniform(*LOW_CUT_RANGE_HZ)) if rng.random() >= P_NO_LOW_CUT else None
    shelves = (float(rng.uniform(-4, 4)), float(rng.uniform(-6, 3)), float(rng.uniform(-3, 3)))
    peak = -1.0 if rng.random() < P_PEAK_NORMALISED else float(rng.uniform(*PEAK_RANGE_DBFS))
    noise = None if rng.random() < P_NO_NOISE else float(rng.uniform(*NOISE_RANGE_DBFS))
    lo, hi = NOISE_RANGE_DBFS
    top = min(hi, peak - MIN_PEAK_TO_NOISE_DB)
    if noise is not None:  # the same draw, mapped linearly onto [lo, top]
        noise = lo + (noise - lo) * (top - lo) / (hi - lo) if top > lo else None
    seed = int(rng.integers(2**31))
    return Acoustics(
        rt60_s=rt60 if room else None, drr_db=drr if room else 0.0,
        low_cut_hz=low_cut if eq else None,
        low_shelf_db=shelves[0] if eq else 0.0, high_shelf_db=shelves[1] if eq else 0.0,
        tilt_db=shelves[2] if eq else 0.0, peak_dbfs=peak, noise_dbfs=noise, seed=seed)


def room_impulse_response(rt60_s: float, drr_db: float, seed: int,
                          sample_rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """A synthetic room: a unit direct path at t = 0, then exponentially decaying noise.

    The tail is Gaussian noise split into three bands (<500 Hz, 500–4000 Hz, >4 kHz), each
    with the amplitude envelope 10^(−3 t / RT60_band) (−60 dB at RT60_band = RT60 × 1.15, 1,
    0.6), starting 8 ms after the direct sound with a 2 ms fade-in, scaled so that the
    direct-to-reverberant energy ratio is `drr_db`. Length 1.2 × the longest band RT60.

    Returns:
        [samples] float64 impulse response, ir[0] = 1.
    """
    rng = np.random.default_rng(seed)
    n = int(1.2 * rt60_s * max(_BAND_RT60_FACTOR) * sample_rate_hz) + 1
    t = np.arange(n) / sample_rate_hz - _PREDELAY_S
    noise = rng.standard_normal(n)
    tail = np.zeros(n)
    for (lo, hi), factor in zip(_BANDS_HZ, _BAND_RT60_FACTOR):
        if lo is None:
            sos = butter(4, hi, "lowpass", fs=sample_rate_hz, output="sos")
        elif hi is None:
            sos = butter(4, lo, "highpass", fs=sample_rate_hz, output="sos")
        else:
            sos = butter(4, (lo, hi), "bandpass", fs=sample_rate_hz, output="sos")
        tail += sosfilt(sos, noise) * 10.0 ** (-3.0 * np.maximum(t, 0) / (rt60_s * factor))
    tail *= np.clip(t / 0.002, 0.0, 1.0)  # nothing before the pre-delay, then a 2 ms fade-in
    energy = float(np.sum(tail**2))
    tail *= np.sqrt(10.0 ** (-drr_db / 10.0) / energy)  # direct energy is 1
    tail[0] = 1.0
    return tail


def colour(x: np.ndarray, a: Acoustics, sample_rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """The microphone/EQ stage: low cut, shelves and tilt (torchaudio's RBJ biquads), or `x`
    unchanged when every gain is 0 and there is no low cut."""
    if a.low_cut_hz is None and not (a.low_shelf_db or a.high_shelf_db or a.tilt_db):
        return x
    import torch
    import torchaudio.functional as AF

    peak = float(np.max(np.abs(x))) or 1.0
    w = torch.from_numpy(np.asarray(x, dtype=np.float64) * (_EQ_HEADROOM_PEAK / peak))
    if a.low_cut_hz is not None:
        w = AF.highpass_biquad(w, sample_rate_hz, a.low_cut_hz)
    for gain, hz, shelf in ((a.low_shelf_db, _LOW_SHELF_HZ, AF.bass_biquad),
                            (a.high_shelf_db, _HIGH_SHELF_HZ, AF.treble_biquad),
                            (-a.tilt_db / 2, _TILT_HZ, AF.bass_biquad),
                            (a.tilt_db / 2, _TILT_HZ, AF.treble_biquad)):
        if gain:
            w = shelf(w, sample_rate_hz, gain, hz)
    return w.numpy() * (peak / _EQ_HEADROOM_PEAK)


def apply_acoustics(dry: np.ndarray, a: Acoustics,
                    sample_rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """The recorded piece: `dry` through the signal chain of the module docstring.

    With a room the output is longer than `dry` by the impulse response's length (its tail
    dies away, as the synthesiser's own tail does); the onsets stay where they were (the
    direct path is at t = 0).

    Returns:
        float64 [samples] with max |y| = 10^(peak_dbfs/20) before the noise is added.
    """
    y = np.asarray(dry, dtype=np.float64)
    if a.rt60_s is not None:
        y = fftconvolve(y, room_impulse_response(a.rt60_s, a.drr_db, a.seed, sample_rate_hz))
    y = colour(y, a, sample_rate_hz)
    peak = float(np.max(np.abs(y), initial=0.0))
    if peak > 0:
        y = y * (10.0 ** (a.peak_dbfs / 20.0) / peak)
    if a.noise_dbfs is not None:
        rng = np.random.default_rng([a.seed, 1])
        y = y + rng.standard_normal(y.size) * 10.0 ** (a.noise_dbfs / 20.0)
    return y
