"""The spiking front end at equal training time: what each layer carries and what it costs.

Every row is the FREE `small` recipe with its first layers changed, trained for the same wall
time on one CPU thread (`benchmarks.ablation.train_rows`: two rows side by side), then scored
on the same 16 test clips: payload kbps, SI-SNR, mel distance, ViSQOL, and per LIF layer the
spikes per second and an upper bound on what its spikes carry (the sum over its units of each
unit's binary entropy per frame, in bits: dependent units carry less), with the Loihi cost of
the encoder (graded and all synaptic operations per second, neuron updates, µJ per second of
audio; `hardware.counts` and `hardware.energy_model`, the numbers `python -m hardware.energy
--backend snntorch` prints).

    python -m benchmarks.front_end --train --minutes 15    # trains the rows, then the table
    python -m benchmarks.front_end                         # the table from runs/front-end/*

Prints a Markdown table; saves out/benchmarks/front_end.csv and front_end.png.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.ablation import Row, parse_rows, prepare_rows, row_parser, save_results, score_rows
from hardware.counts import Connectivity, count_events, encoder_rasters
from hardware.report import build_report
from neuro_codec.data.audio import SAMPLE_RATE_HZ
from neuro_codec.errors import run_command
from neuro_codec.figures import pyplot

ROOT = Path(__file__).resolve().parents[1]

TILED = ("--set-encoder", "input_positions=tiled", "--set-encoder", "gabor_phases=2",
         "--set-encoder", "gabor_f_break_hz=200")
ROWS = (
    Row("recipe", "256 banded Gabor LIF, centred windows, 4 phases, log-spaced from 40 Hz "
        "(2.63 M graded synapses/s) → 256 recurrent LIF → 80"),
    Row("tiled-512", "512 banded Gabor LIF, windows tiled over the frame, 2 phases, "
        "frequencies warped at 200 Hz (1.29 M graded synapses/s) → 256 recurrent → 80",
        (*TILED, "--set-encoder", "hidden_sizes=[512,256]")),
    Row("tiled-512-rec-512", "tiled-512 with a 512-unit recurrent layer",
        (*TILED, "--set-encoder", "hidden_sizes=[512,512]")),
)


def unit_entropy_bits(raster: np.ndarray) -> float:
    """Σ over units of H(p_unit) in bits per frame, p the unit's firing probability per frame:
    what the layer's spike words could carry if its units were independent."""
    p = raster.mean(axis=1).clip(1e-12, 1 - 1e-12)
    h = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    return float(h[(raster.mean(axis=1) > 0) & (raster.mean(axis=1) < 1)].sum())


def layer_rows(path: Path, clips) -> dict:
    """Per-layer spikes/s and entropy bound, and the encoder's Loihi cost, over `clips`."""
    from neuro_codec.model.checkpoint import load_encoder

    loaded = load_encoder(str(path), None, None, mu_only_where_levels=True)
    encoder = loaded.encoder
    conn = Connectivity.from_encoder(encoder)
    counts, rasters = None, []
    for _, audio in clips:   # one run per clip, counted and kept for the entropy
        layers, inputs = encoder_rasters(encoder, audio, loaded.arithmetic)
        c = count_events(conn, layers, inputs)
        counts = c if counts is None else counts + c
        rasters.append(layers)
    seconds = sum(len(audio) for _, audio in clips) / SAMPLE_RATE_HZ
    entropy = [unit_entropy_bits(np.concatenate([r[i] for r in rasters], axis=1))
               for i in range(len(rasters[0]))]
    report = build_report(loaded.model_id, loaded.label, counts, conn, seconds,
                          SAMPLE_RATE_HZ / encoder.config.frame_samples,
                          precision=loaded.arithmetic.value, backend="snntorch")
    return {
        "layer_units": "/".join(str(layer.units) for layer in report.layers),
        "layer_spikes_per_s": "/".join(f"{layer.spikes_per_second:.0f}"
                                       for layer in report.layers),
        "layer_bits_per_frame": "/".join(f"{h:.0f}" for h in entropy),
        "graded_mops": sum(c.graded_synops for c in counts.layers) / seconds / 1e6,
        "mops": report.power_proxy_mops_per_second,
        "uj_per_s": report.energy_uj_per_second,
    }


COLUMNS = ("row", "train_steps", "kbps", "si_snr_db", "mel_distance", "visqol", "layer_units",
           "layer_spikes_per_s", "layer_bits_per_frame", "graded_mops", "mops", "uj_per_s")


def plot(results: list[dict]):
    """Quality against the encoder's cost, one point per row."""
    fig, axes = pyplot().subplots(1, 3, figsize=(14, 4))
    for ax, (key, title) in zip(axes, (("si_snr_db", "SI-SNR (dB)"),
                                       ("mel_distance", "mel distance (lower is better)"),
                                       ("visqol", "ViSQOL"))):
        for i, r in enumerate(results):
            ax.scatter(r["uj_per_s"], r[key], color=f"C{i}", label=r["row"])
        ax.set_xlabel("encoder energy on the Loihi model (µJ per second of audio)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("spiking front ends at equal training time (FREE small, one CPU thread each)")
    fig.tight_layout()
    return fig


def main(argv: Sequence[str] | None = None) -> int:
    p = row_parser(__doc__.split("\n\n")[0], ROWS, "runs/front-end", 15.0, threads=1)
    args = parse_rows(p, ROWS, argv)
    return run_command(lambda: _run(args))


def _run(args) -> int:
    rows, runs, clips = prepare_rows(args, ROWS)
    results = [{**quality, **layer_rows(runs / quality["row"] / "last.pt", clips)}
               for quality in score_rows(rows, runs, clips)]
    save_results(results, COLUMNS, args.out, "front_end", plot(results) if results else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
