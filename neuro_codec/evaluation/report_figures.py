"""The listening page's per-clip figure: a spectrogram, and under it, on the same time axis,
the event raster z of a spiking model (`report.py` draws one per clip and codec).

Every figure of a page has the same size and the same axes rectangles, so that the reference
and each decoded clip line up when stacked, and every spectrogram of an excerpt shares one
colour scale: dB relative to the reference's loudest bin, from `FLOOR_DB` to 0. The colour map
(magma) and the raster's (white → black) keep their order of lightness in grey scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import stft

from neuro_codec.data.audio import HOP_SAMPLES, SAMPLE_RATE_HZ


@dataclass(frozen=True)
class SpectrogramConfig:
    """How the spectrograms are computed and drawn."""

    window_samples: int = 1024    # Hann window: 46 ms at 22,050 Hz, a piano partial per bin
    hop_samples: int = 256        # 11.6 ms between columns
    floor_db: float = -80.0       # the scale's bottom, dB re the reference's peak
    min_hz: float = 40.0          # below the piano's lowest fundamental (A0: 27.5 Hz, weak)
    width_in: float = 8.0         # figure width (inches; 100 dpi → 800 px)
    dpi: int = 100

    def __post_init__(self):
        if not 0 < self.hop_samples <= self.window_samples:
            raise ValueError(f"hop_samples must be in (0, window_samples], got "
                             f"{self.hop_samples}")
        if self.floor_db >= 0:
            raise ValueError(f"floor_db must be negative, got {self.floor_db}")


def power_spectrogram(x: np.ndarray, cfg: SpectrogramConfig = SpectrogramConfig(),
                      sample_rate_hz: int = SAMPLE_RATE_HZ,
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """|STFT|² of a waveform.

    Returns:
        (frequencies [F] Hz, frame times [T'] s, power [F, T'] float64).
    """
    f, t, spec = stft(np.asarray(x, dtype=np.float64), fs=sample_rate_hz, window="hann",
                      nperseg=cfg.window_samples, noverlap=cfg.window_samples - cfg.hop_samples,
                      boundary="zeros", padded=True)
    return f, t, np.abs(spec) ** 2


def reference_peak(x: np.ndarray, cfg: SpectrogramConfig = SpectrogramConfig(),
                   sample_rate_hz: int = SAMPLE_RATE_HZ) -> float:
    """The loudest bin of the reference's spectrogram: the 0 dB of its excerpt's figures."""
    return float(power_spectrogram(x, cfg, sample_rate_hz)[2].max()) or 1.0


def plot_clip(x: np.ndarray, peak_power: float, z: np.ndarray | None = None,
              cfg: SpectrogramConfig = SpectrogramConfig(),
              sample_rate_hz: int = SAMPLE_RATE_HZ, hop_samples: int = HOP_SAMPLES):
    """A clip's spectrogram and, if `z` is given, its event raster below it.

    Args:
        x: waveform [samples].
        peak_power: 0 dB of the colour scale (`reference_peak` of the excerpt).
        z: events [N, T] (0/1), one column per `hop_samples` frame, or None.
    Returns:
        the matplotlib Figure (the caller saves and closes it).
    """
    from neuro_codec.figures import pyplot

    plt = pyplot()

    f, t, power = power_spectrogram(x, cfg, sample_rate_hz)
    db = 10 * np.log10(np.maximum(power, 1e-30) / peak_power)
    duration_s = x.size / sample_rate_hz
    # Fixed sizes in inches: every figure's axes start and end at the same pixels.
    left, right, spec_h, raster_h, gap, bottom, top = 0.8, 1.05, 2.0, 1.4, 0.12, 0.55, 0.1
    height = top + spec_h + (gap + raster_h if z is not None else 0) + bottom
    fig = plt.figure(figsize=(cfg.width_in, height), dpi=cfg.dpi)
    plot_w = (cfg.width_in - left - right) / cfg.width_in

    def rect(y_in: float, h_in: float) -> list[float]:
        return [left / cfg.width_in, y_in / height, plot_w, h_in / height]

    spec_y = bottom + (raster_h + gap if z is not None else 0)
    ax = fig.add_axes(rect(spec_y, spec_h))
    keep = f >= cfg.min_hz
    mesh = ax.pcolormesh(t, f[keep], db[keep], shading="nearest", cmap="magma",
                         vmin=cfg.floor_db, vmax=0.0, rasterized=True)
    ax.set_yscale("log")
    ax.set_ylim(cfg.min_hz, sample_rate_hz / 2)
    ticks = [t for t in (50, 100, 200, 500, 1000, 2000, 5000, 10000)
             if cfg.min_hz <= t <= sample_rate_hz / 2]
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlim(0, duration_s)
    ax.set_ylabel("frequency (Hz)")
    cax = fig.add_axes([(cfg.width_in - right + 0.12) / cfg.width_in, spec_y / height,
                        0.12 / cfg.width_in, spec_h / height])
    fig.colorbar(mesh, cax=cax).set_label("dB re reference peak", fontsize=8)
    cax.tick_params(labelsize=8)
    last = ax
    if z is not None:
        z = np.asarray(z)
        rax = fig.add_axes(rect(bottom, raster_h), sharex=ax)
        frame_s = hop_samples / sample_rate_hz
        rax.imshow(z, aspect="auto", origin="lower", cmap="gray_r", vmin=0, vmax=1,
                   interpolation="nearest",
                   extent=(0, z.shape[1] * frame_s, -0.5, z.shape[0] - 0.5))
        rax.set_xlim(0, duration_s)
        rax.set_ylabel("unit index")
        rax.text(0.995, 0.96, f"{int(z.sum())} events", transform=rax.transAxes, ha="right",
                 va="top", fontsize=8, bbox=dict(facecolor="white", alpha=0.8, lw=0))
        ax.tick_params(labelbottom=False)
        last = rax
    last.set_xlabel("time (s)")
    return fig
