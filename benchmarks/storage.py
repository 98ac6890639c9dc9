"""Storage benchmark: bits per frame against event rate for every format (the paper's Fig. 1).

Prints the crossover rates of the exact formats (the `.snc` sizes of docs/bitstream.md and the
paper's costs, docs/paper.md §3 "Storage costs"), the entropy coder on generated bursty,
unit-selective matrices (and on i.i.d. ones), and the pack/unpack speed on one hour of events;
saves the plot. Run:
`python -m benchmarks.storage [--out out/benchmarks] [--seeds 3]`.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from neuro_codec.coding.costs import (
    EXACT_FORMATS,
    EventFormat,
    min_exact_bits,
    paper_costs,
    payload_bits,
)
from neuro_codec.coding.entropy import MODE_RANGE_CODED
from neuro_codec.coding.payload import decode_payload, encode_payload
from neuro_codec.data.audio import HOP_SAMPLES, SAMPLE_RATE_HZ, bits_per_second
from neuro_codec.data.synthetic import bursty_event_matrix
from neuro_codec.figures import pyplot, save_figure

N_UNITS = 80
HOUR_FRAMES = 155_000  # one hour at 43.07 frames/s
RATES = (0.001, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.10, 0.12, 0.15, 0.20)
PAPER_FIG1_T1024 = (0.001, 0.047, 0.118)  # crossovers read off the paper's Figure 1


@dataclass(frozen=True)
class Crossover:
    n_events: int  # first S at which `to` is the cheapest
    rate: float  # S / (N·T)
    before: str
    to: str


def crossovers(costs: dict[str, np.ndarray], n_units: int, n_frames: int) -> list[Crossover]:
    """Where the cheapest format changes, S = 0 … N·T (ties go to the first in `costs`)."""
    names = list(costs)
    best = np.argmin(np.stack([costs[k] for k in names]), axis=0)
    where = np.flatnonzero(np.diff(best)) + 1
    return [Crossover(int(s), s / (n_units * n_frames), names[best[s - 1]], names[best[s]])
            for s in where]


def exact_costs(n_units: int, n_frames: int) -> dict[str, np.ndarray]:
    s = range(n_units * n_frames + 1)
    return {f.value: np.array([payload_bits(f, n_units, n_frames, v) for v in s]) for f in
            EXACT_FORMATS}


def paper_cost_curves(n_units: int, n_frames: int) -> dict[str, np.ndarray]:
    # S ≥ 2 only: the paper's lg S = 0 makes one event's pointers free, a formula artefact.
    c = [paper_costs(v, n_units, n_frames) for v in range(n_units * n_frames + 1)]
    return {name: np.array([getattr(x, attr) for x in c]) for name, attr in
            (("dense", "dense"), ("coo", "coo"), ("csr_unit", "cu"), ("csc_time", "ct"))}


def entropy_bits(z: np.ndarray) -> tuple[int, bool]:
    payload, n_bits = encode_payload(z, EventFormat.ENTROPY)
    return n_bits, payload[0] == MODE_RANGE_CODED


def rate_table(n_frames: int, seeds: int, progress: bool) -> list[dict]:
    rows = []
    for rate in tqdm(RATES, desc=f"entropy, T={n_frames}", disable=not progress, leave=False):
        bursty, iid, s_mean = [], [], []
        for seed in range(seeds):
            z = bursty_event_matrix(N_UNITS, n_frames, rate, seed=seed)
            s = int(z.sum())
            best = min_exact_bits(N_UNITS, n_frames, s)
            bursty.append((entropy_bits(z)[0], best))
            s_mean.append(s)
            zi = (np.random.default_rng(seed).random((N_UNITS, n_frames)) < rate).astype(np.uint8)
            best_i = min_exact_bits(N_UNITS, n_frames, int(zi.sum()))
            iid.append((entropy_bits(zi)[0], best_i))
        s = round(rate * N_UNITS * n_frames)
        row = {"rate": rate, "S": s}
        row.update({f.value: payload_bits(f, N_UNITS, n_frames, s) / n_frames
                    for f in EXACT_FORMATS})
        row["best_exact"] = min(row[f.value] for f in EXACT_FORMATS)
        row["entropy_bursty"] = np.mean([b for b, _ in bursty]) / n_frames
        row["gain_bursty"] = 1 - np.mean([b / e for b, e in bursty])
        row["entropy_iid"] = np.mean([b for b, _ in iid]) / n_frames
        row["gain_iid"] = 1 - np.mean([b / e for b, e in iid])
        rows.append(row)
    return rows


def speed_table(rate: float, progress: bool) -> list[dict]:
    """Pack and unpack one hour of bursty events (155,000 frames × 80 units) in every format."""
    z = bursty_event_matrix(N_UNITS, HOUR_FRAMES, rate, seed=0)
    s = int(z.sum())
    rows = []
    for fmt in tqdm(list(EventFormat), desc="one hour", disable=not progress, leave=False):
        start = time.perf_counter()
        payload, n_bits = encode_payload(z, fmt)
        packed = time.perf_counter()
        back = decode_payload(payload, n_bits, fmt, N_UNITS, HOUR_FRAMES, s)
        unpacked = time.perf_counter()
        assert np.array_equal(back, z), fmt
        rows.append({"format": fmt.value, "bits": n_bits, "pack_s": packed - start,
                     "unpack_s": unpacked - packed,
                     "bps": bits_per_second(n_bits, HOUR_FRAMES * HOP_SAMPLES)})
    return rows


def plot(tables: dict[int, list[dict]], marks: dict[int, list[Crossover]]):
    """Bits per frame against event rate, one panel per T; dashed lines at the crossovers.
    Returns the figure."""
    fig, axes = pyplot().subplots(1, len(tables), figsize=(6 * len(tables), 4.5), squeeze=False)
    colours = {"dense": "k", "coo": "tab:orange", "csr_unit": "tab:blue", "csc_time": "tab:green"}
    for ax, (n_frames, rows) in zip(axes[0], tables.items(), strict=True):
        rho = np.linspace(1e-4, 0.25, 2000)
        for f in EXACT_FORMATS:
            bits = [payload_bits(f, N_UNITS, n_frames, round(r * N_UNITS * n_frames)) for r in rho]
            ax.plot(100 * rho, np.array(bits) / n_frames, color=colours[f.value], label=f.value)
        rates = [100 * r["rate"] for r in rows]
        ax.plot(rates, [r["entropy_bursty"] for r in rows], "o-", color="tab:red",
                label="entropy (bursty)")
        ax.plot(rates, [r["entropy_iid"] for r in rows], "s--", color="tab:purple", ms=4,
                label="entropy (i.i.d.)")
        for c in marks[n_frames]:
            ax.axvline(100 * c.rate, color="grey", ls=":", lw=1)
            ax.text(100 * c.rate, 82, f"{100 * c.rate:.2f}%", rotation=90, fontsize=7,
                    va="top", ha="right")
        ax.set(xscale="log", xlim=(0.05, 25), ylim=(0, 90), xlabel="event rate S/(N·T) (%)",
               ylabel="payload bits per frame", title=f"N = {N_UNITS}, T = {n_frames}")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="center left")
    fig.tight_layout()
    return fig


def real_output_table(checkpoints: list[str], seconds: float) -> None:
    """Exact formats against entropy coding on the events trained encoders make of the
    built-in test split (the first `seconds` of each piece long enough)."""
    from neuro_codec.coding.entropy import encode_entropy
    from neuro_codec.data.excerpts import split_excerpts
    from neuro_codec.model.arithmetic import encode_events
    from neuro_codec.model.checkpoint import Checkpoint

    clips = split_excerpts(None, 100, seconds, "test")
    n_samples = sum(x.size for _, x in clips)
    total_s = n_samples / SAMPLE_RATE_HZ
    print(f"\nreal events: {len(clips)} test excerpts of {seconds:g} s ({total_s:.0f} s)")
    print(f"{'model':>22} {'event rate':>10} {'best exact bps':>15} {'entropy bps':>12} "
          f"{'gain':>7}")
    for path in checkpoints:
        ckpt = Checkpoint.read(path)
        encoder = ckpt.build_encoder()
        exact = coded = events = cells = 0
        for _, x in clips:
            z = encode_events(encoder, x, ckpt.arithmetic)
            n, t = z.shape
            s = int(z.sum())
            exact += min_exact_bits(n, t, s)
            coded += encode_entropy(z)[1]
            events, cells = events + s, cells + z.size
        print(f"{ckpt.model_id:>22} {events / cells:10.2%} "
              f"{bits_per_second(exact, n_samples):15.0f} "
              f"{bits_per_second(coded, n_samples):12.0f} {1 - coded / exact:7.1%}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/benchmarks", help="folder for the PNG")
    parser.add_argument("--seeds", type=int, default=3,
                        help="generated matrices per rate (default 3)")
    parser.add_argument("--hour-rate", type=float, default=0.05,
                        help="event rate of the one-hour speed test (default 0.05)")
    parser.add_argument("--checkpoint", nargs="*", default=[],
                        help="trained checkpoints: also code their events on real test audio")
    parser.add_argument("--real-seconds", type=float, default=60.0,
                        help="seconds taken from each test piece for --checkpoint (default 60)")
    args = parser.parse_args(argv)
    progress = True

    marks: dict[int, list[Crossover]] = {}
    print("Crossover event rates, N = 80 (first S at which the next format is cheapest)")
    for n_frames in (1024, 256):
        exact = crossovers(exact_costs(N_UNITS, n_frames), N_UNITS, n_frames)
        paper = [c for c in crossovers(paper_cost_curves(N_UNITS, n_frames), N_UNITS, n_frames)
                 if c.n_events > 2]
        marks[n_frames] = exact
        for label, found in (("exact (.snc)", exact), ("paper's B", paper)):
            text = ", ".join(f"{c.before}→{c.to} at S={c.n_events} ({100 * c.rate:.3f} %)"
                             for c in found)
            print(f"  T={n_frames:5d} {label:18s} {text}")
    print("  paper's Figure 1 (T=1024): " + ", ".join(f"{100 * r:.1f} %" for r in
                                                        PAPER_FIG1_T1024))

    tables = {}
    for n_frames in (1024, 256):
        rows = rate_table(n_frames, args.seeds, progress)
        tables[n_frames] = rows
        print(f"\nPayload bits per frame, N = 80, T = {n_frames} (exact formats at S = ρ·N·T; "
              f"entropy: mean of {args.seeds} generated matrices; gain = 1 − entropy/best exact)")
        print(f"{'rate %':>7} {'S':>6} {'dense':>6} {'coo':>7} {'csr_unit':>8} {'csc_time':>8} "
              f"{'best':>6} | {'entropy':>7} {'gain':>6} | {'iid ent':>7} {'gain':>6}")
        for r in rows:
            print(f"{100 * r['rate']:7.1f} {r['S']:6d} {r['dense']:6.1f} {r['coo']:7.1f} "
                  f"{r['csr_unit']:8.1f} {r['csc_time']:8.1f} {r['best_exact']:6.1f} | "
                  f"{r['entropy_bursty']:7.1f} {100 * r['gain_bursty']:5.1f}% | "
                  f"{r['entropy_iid']:7.1f} {100 * r['gain_iid']:5.1f}%")

    speed = speed_table(args.hour_rate, progress)
    print(f"\nOne hour of bursty events: {HOUR_FRAMES} frames × {N_UNITS} units at "
          f"{100 * args.hour_rate:.0f} % (payload only; the .snc header adds 35 bytes + model id)")
    print(f"{'format':>9} {'payload bits':>13} {'bps':>8} {'pack s':>7} {'unpack s':>8}")
    for r in speed:
        print(f"{r['format']:>9} {r['bits']:13d} {r['bps']:8.1f} {r['pack_s']:7.3f} "
              f"{r['unpack_s']:8.3f}")

    if args.checkpoint:
        real_output_table(args.checkpoint, args.real_seconds)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_figure(plot(tables, marks), out / "storage.png", dpi=120)
    print(f"\nsaved {out / 'storage.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
