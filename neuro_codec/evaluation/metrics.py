"""Quality and rate metrics, as the paper computes them (docs/paper.md §6 "Metrics").

- SI-SNR and the mel distance: `neuro_codec.model.spectral` (shared with the training loss
  and the codec's quality control).
- ViSQOL: `visqol-python` (a port of Google's ViSQOL v3.3.3 carrying its SVR model) in audio
  mode, after resampling both signals to 48 kHz: at 22,050 Hz it scores low for the wrong
  reason (Opus 6 kbps on a piano excerpt gave 2.59 unresampled against the paper's 3.88).
- Bitrate: bits over seconds of audio.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from neuro_codec.data.audio import SAMPLE_RATE_HZ, resample
from neuro_codec.model.spectral import aligned, mel_distance, si_snr_db

VISQOL_RATE_HZ = 48_000


@functools.lru_cache(maxsize=1)
def _visqol_api():
    from visqol import VisqolApi  # imported lazily: it loads an SVR model (a second or so)

    api = VisqolApi()
    api.create(mode="audio")
    return api


def visqol_score(estimate, reference, sample_rate_hz: int = SAMPLE_RATE_HZ) -> float:
    """ViSQOL MOS-LQO (1…5) in audio mode, both signals resampled to 48 kHz first."""
    est, ref = aligned(estimate, reference)
    est48 = resample(est.numpy(), sample_rate_hz, VISQOL_RATE_HZ).astype(np.float64)
    ref48 = resample(ref.numpy(), sample_rate_hz, VISQOL_RATE_HZ).astype(np.float64)
    result = _visqol_api().measure_from_arrays(ref48, est48, VISQOL_RATE_HZ)
    return float(result.moslqo)


QUIET_LSD_FFT, QUIET_LSD_HOP, QUIET_LSD_FLOOR = 1024, 256, 1e-5


def quiet_bin_lsd_db(estimate, reference) -> float:
    """Quiet-bin log-spectral distance: the noise floor between the partials, in dB.

    Mean over STFT bins (n_fft 1024, hop 256, Hann, magnitudes floored at 1e-5) of
    |20·log10 |Ŝ| − 20·log10 |S||, over the bins where the reference's level is at or below
    its own median: where a decoder that smears partials into a noise floor, or leaks sound
    into pauses, is wrong by tens of dB while loud-bin metrics barely move. 0 for identical
    signals; scale-dependent, as the mel distance.
    """
    est, ref = aligned(estimate, reference)
    window = torch.hann_window(QUIET_LSD_FFT, dtype=torch.float64)

    def level_db(x: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(x.double(), QUIET_LSD_FFT, QUIET_LSD_HOP, window=window,
                          return_complex=True)
        return 20 * torch.log10(spec.abs().clamp_min(QUIET_LSD_FLOOR))

    ref_db, est_db = level_db(ref), level_db(est)
    quiet = ref_db <= ref_db.median()
    return float((est_db - ref_db).abs()[quiet].mean())


QUALITY_COLUMNS = ("si_snr_db", "mel_distance", "visqol", "quiet_lsd_db", "silence_dbfs",
                   "silence_p95_dbfs", "pre_echo_dbfs")


def quality(estimate, reference, with_visqol: bool = True) -> dict[str, float]:
    """Every per-clip quality measure of the rate–quality tables, keyed by `QUALITY_COLUMNS`
    (ViSQOL nan without `with_visqol`; the silence measures nan where the reference has no
    silence: `silence.py`)."""
    from neuro_codec.evaluation.silence import pre_echo_level, silent_window_level

    est, ref = aligned(estimate, reference)
    silence, silence_p95 = silent_window_level(est.numpy(), ref.numpy())
    return {"si_snr_db": si_snr_db(est, ref), "mel_distance": mel_distance(est, ref),
            "visqol": visqol_score(est, ref) if with_visqol else float("nan"),
            "quiet_lsd_db": quiet_bin_lsd_db(est, ref), "silence_dbfs": silence,
            "silence_p95_dbfs": silence_p95, "pre_echo_dbfs": pre_echo_level(est.numpy(),
                                                                              ref.numpy())}
