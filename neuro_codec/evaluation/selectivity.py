"""Selectivity and synchrony of the events with piano key strikes (the paper's Figure 5).

For unit i, note α and lag τ (frames), over clips c with events z_c [N, T] and note onsets
O_c [A, T] (1 where note α starts in frame t):

    C[i, α, τ] = mean_c Σ_t z_c[i, t] · O_c[α, t + τ],          τ ∈ [−T/2, T/2)

(τ < 0: the unit fires after the onset.) The peak prominence of unit i for note α is the
share of its correlation within a few frames of the onset,

    φ[i, α] = Σ_{τ=−5}^{4} C[i, α, τ] / (Σ_τ C[i, α, τ] + 1e−5),

normalised over the notes for each unit (φ[i, :] sums to 1; a unit blind to pitch has 1/A
everywhere). A unit is selective for α when φ[i, α] > 3/A and at least MIN_PEAK_PAIRS of
its (event, onset of α) pairs fall in the peak window (a near-silent unit otherwise scores
φ = 1 on one coincidence). Only z and MIDI are needed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

NOTE_NAMES = ("A1", "A2", "A3", "A4", "A5", "A6")
NOTE_PITCHES = (33, 45, 57, 69, 81, 93)  # MIDI numbers of A1 … A6
PEAK_WINDOW = (-5, 4)                    # lags (frames) counted as "at the onset", inclusive
SELECTIVE_FACTOR = 3.0                   # selective: φ above this many times uniform (1/A)
# A unit that fired once, next to one strike, has φ = 1 for that note: a coincidence, not a
# tuning. A unit counts as selective for α only with at least this many (event, onset of α)
# pairs within the peak window, over all clips.
MIN_PEAK_PAIRS = 5


def lags_for(n_frames: int) -> np.ndarray:
    """The lags τ ∈ [−T/2, T/2) of the correlation for clips of `n_frames` frames."""
    half = n_frames // 2
    return np.arange(-half, n_frames - half)


def event_onset_correlation(z: np.ndarray, onsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """C[i, α, τ], the mean over clips of Σ_t z[i, t] O[α, t + τ].

    Args:
        z: [clips, N, T] events (0/1).
        onsets: [clips, A, T] note onsets (0/1) of the same clips.
    Returns:
        (C [N, A, len(lags)] float64, lags [len(lags)] int).
    Raises:
        ValueError: shapes that do not match.
    """
    z = np.asarray(z, dtype=np.float64)
    onsets = np.asarray(onsets, dtype=np.float64)
    if z.ndim != 3 or onsets.ndim != 3 or z.shape[0] != onsets.shape[0] \
            or z.shape[2] != onsets.shape[2]:
        raise ValueError(f"z {z.shape} and onsets {onsets.shape} must be [clips, ·, T] alike")
    n_frames = z.shape[2]
    lags = lags_for(n_frames)
    corr = np.zeros((z.shape[1], onsets.shape[1], lags.size))
    for k, tau in enumerate(lags):
        # Σ_t z[t] O[t + τ] over the frames where both exist.
        if tau >= 0:
            a, b = z[:, :, : n_frames - tau], onsets[:, :, tau:]
        else:
            a, b = z[:, :, -tau:], onsets[:, :, : n_frames + tau]
        corr[:, :, k] = np.einsum("cit,cat->ia", a, b) / z.shape[0]
    return corr, lags


def peak_prominence(corr: np.ndarray, lags: np.ndarray,
                    window: tuple[int, int] = PEAK_WINDOW) -> np.ndarray:
    """φ[i, α] (see the module docstring), normalised over notes for each unit.

    Returns:
        [N, A]; a row is all 1/A when the unit has no correlation at all.
    """
    near = (lags >= window[0]) & (lags <= window[1])
    raw = corr[:, :, near].sum(-1) / (corr.sum(-1) + 1e-5)
    total = raw.sum(axis=1, keepdims=True)
    uniform = np.full_like(raw, 1.0 / raw.shape[1])
    return np.divide(raw, total, out=uniform, where=total > 0)


@dataclass
class SelectivitySummary:
    """What `neuro-codec analyze` prints for one model."""

    units: int
    selective_units: int                 # φ > 3/A for a note, with ≥ MIN_PEAK_PAIRS pairs
    selective_by_note: dict[str, int]    # units whose most selective note is this one
    peak_at_zero: float                  # mean over units and notes of C at τ = 0 … −1
    baseline: float                      # mean of C over |τ| > 5
    clips: int
    events_per_clip: float

    @property
    def peak_over_baseline(self) -> float:
        return self.peak_at_zero / self.baseline if self.baseline > 0 else float("inf")

    def to_dict(self) -> dict:
        return {**asdict(self), "peak_over_baseline": self.peak_over_baseline}


def summarize(corr: np.ndarray, lags: np.ndarray, phi: np.ndarray, clips: int,
              events_per_clip: float, notes: tuple[str, ...] = NOTE_NAMES) -> SelectivitySummary:
    threshold = SELECTIVE_FACTOR / phi.shape[1]
    best = phi.argmax(axis=1)
    near = (lags >= PEAK_WINDOW[0]) & (lags <= PEAK_WINDOW[1])
    pairs = corr[np.arange(corr.shape[0]), best][:, near].sum(-1) * clips
    selective = (phi.max(axis=1) > threshold) & (pairs >= MIN_PEAK_PAIRS - 1e-9)
    near_zero = (lags >= -1) & (lags <= 0)
    far = np.abs(lags) > 5
    return SelectivitySummary(
        units=int(phi.shape[0]), selective_units=int(selective.sum()),
        selective_by_note={n: int((selective & (best == k)).sum()) for k, n in enumerate(notes)},
        peak_at_zero=float(corr[:, :, near_zero].mean()), baseline=float(corr[:, :, far].mean()),
        clips=clips, events_per_clip=events_per_clip)


def plot_selectivity(results: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
                     notes: tuple[str, ...] = NOTE_NAMES):
    """One column per model: the correlation functions of its most selective units, and the
    distribution of max_α φ. `results`: {label: (C, lags, φ)}. Returns the figure."""
    from neuro_codec.figures import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(2, len(results), figsize=(6 * len(results), 7), squeeze=False)
    for col, (label, (corr, lags, phi)) in enumerate(results.items()):
        ax = axes[0, col]
        order = np.argsort(-phi.max(axis=1))[:4]
        zoom = np.abs(lags) <= 30
        for i in order:
            a = int(phi[i].argmax())
            ax.plot(lags[zoom], corr[i, a, zoom], label=f"unit {i}, {notes[a]} (φ={phi[i, a]:.2f})")
        ax.axvspan(PEAK_WINDOW[0], PEAK_WINDOW[1], color="0.9", zorder=0)
        ax.set_title(f"{label}\nevent–onset correlation, most selective units", fontsize=9)
        ax.set_xlabel("lag τ (frames; < 0: events after the onset)")
        ax.set_ylabel("C[i, α, τ]")
        ax.legend(fontsize=7)
        ax = axes[1, col]
        ax.hist(phi.max(axis=1), bins=np.linspace(0, 1, 41), color="C0")
        ax.axvline(SELECTIVE_FACTOR / phi.shape[1], color="C3", ls="--", label="3/Δ")
        ax.set_title(f"{label}\npeak prominence, max over notes", fontsize=9)
        ax.set_xlabel("max_α φ[i, α]")
        ax.set_ylabel("units")
        ax.legend()
    fig.tight_layout()
    return fig
