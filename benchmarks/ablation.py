"""Ablation of the encoder levers at equal training time.

Every row is the FREE `small` recipe with one thing changed, trained for the same wall time on
one CPU thread (two rows side by side on the 2-core machine), then scored on the same test
clips, decoded by the first stage: payload kbps, SI-SNR, mel distance, ViSQOL and decoder speed
on the CPU. The table in docs/model.md also has rows with the joint diffusion refiner, measured
by a release that still had it.

    python -m benchmarks.ablation --train --minutes 12    # trains the rows, then the table
    python -m benchmarks.ablation                         # the table from runs/ablation/*

Prints a Markdown table; saves out/benchmarks/ablation.csv and ablation.png.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from neuro_codec.data.audio import SAMPLE_RATE_HZ
from neuro_codec.errors import CodecError, run_command
from neuro_codec.figures import pyplot, save_figure
from neuro_codec.fileio import atomic_path
from neuro_codec.model.presets import ModelKind

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Row:
    name: str
    lever: str
    train_args: tuple[str, ...] = ()


ROWS = (
    Row("banded-gabor", "recipe: 256 banded (constant-Q) Gabor-initialised LIF, 256 recurrent "
        "LIF, frame-rate first stage"),
    Row("dense-gabor", "the first layer sees the whole frame (dense 512 → 256)",
        ("--set-encoder", "input_support=dense")),
    Row("banded-random", "banded support, random (not Gabor) initialisation",
        ("--set-encoder", "input_init=random")),
)


def train_rows(rows: Sequence[Row], out: Path, minutes: float, parallel: int = 2) -> None:
    """Train `rows` for `minutes` each, `parallel` at a time, one torch thread each."""
    for i in range(0, len(rows), parallel):
        procs = []
        for row in rows[i:i + parallel]:
            cmd = [sys.executable, "-m", "neuro_codec.train", "--model", ModelKind.FREE.value,
                   "--config", "small", "--steps", "100000", "--ckpt-every", "1000",
                   "--log-every", "50", "--val-clips", "0", "--threads", "1", "--max-minutes",
                   str(minutes),
                   "--out", str(out / row.name), *row.train_args]
            print("$ " + " ".join(cmd), flush=True)
            log = open(out / f"{row.name}.out", "w")
            procs.append((row, subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=log), log))
        for row, proc, log in procs:
            if proc.wait() != 0:
                raise CodecError(f"row {row.name} failed; see {out / (row.name + '.out')}")
            log.close()


def score_rows(rows: Sequence[Row], out: Path, clips, progress: bool = True) -> list[dict]:
    from neuro_codec.compression import load_model
    from neuro_codec.evaluation.evaluate import evaluate_clips, summarize
    from neuro_codec.model.checkpoint import Checkpoint

    results = []
    for row in rows:
        path = out / row.name / "last.pt"
        if not path.is_file():
            print(f"{row.name}: no checkpoint at {path}, skipped", file=sys.stderr)
            continue
        ckpt = Checkpoint.read(path)
        minutes = float(ckpt.extra["last_log"]["seconds"]) / 60
        mean = summarize(evaluate_clips(load_model(path, refiner=None), clips, steps=0,
                                        progress=progress))
        results.append({
            "row": row.name, "train_minutes": round(minutes, 1), "train_steps": ckpt.step,
            "kbps": mean["payload_kbps"], "event_rate": mean["event_rate"],
            "si_snr_db": mean["si_snr_db"], "mel_distance": mean["mel_distance"],
            "visqol": mean["visqol"], "decode_x_realtime": mean["decode_x_realtime"],
            "lever": row.lever,
        })
    return results


COLUMNS = ("row", "train_minutes", "train_steps", "kbps", "event_rate", "si_snr_db",
           "mel_distance", "visqol", "decode_x_realtime")


def format_table(results: list[dict], columns: Sequence[str] = COLUMNS) -> str:
    def cell(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r[c]) for c in columns) + " |" for r in results]
    return "\n".join(lines)


def row_parser(description: str, rows: Sequence[Row], runs: str, minutes: float,
               threads: int) -> argparse.ArgumentParser:
    """The flags every equal-time row benchmark takes (this one's and `front_end`'s)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--train", action="store_true", help="train the rows first")
    p.add_argument("--minutes", type=float, default=minutes,
                   help=f"training minutes per row with --train (default {minutes:g})")
    p.add_argument("--rows", nargs="*", default=[r.name for r in rows],
                   help="rows to train and score (default all)")
    p.add_argument("--runs", default=runs, help=f"row folders (default {runs})")
    p.add_argument("--clips", type=int, default=16, help="test clips (default 16)")
    p.add_argument("--seconds", type=float, default=2**17 / SAMPLE_RATE_HZ,
                   help="clip length (default 5.944 s)")
    p.add_argument("--threads", type=int, default=threads,
                   help=f"torch threads when scoring (default {threads})")
    p.add_argument("--out", default="out/benchmarks", help="folder of the CSV and PNG")
    return p


def parse_rows(p: argparse.ArgumentParser, rows: Sequence[Row], argv) -> argparse.Namespace:
    args = p.parse_args(argv)
    unknown = set(args.rows) - {r.name for r in rows}
    if unknown:
        p.error(f"unknown rows: {', '.join(sorted(unknown))}")
    return args


def prepare_rows(args, rows: Sequence[Row]) -> tuple[list[Row], Path, list]:
    """The rows asked for, their folder (trained first with --train) and the test clips."""
    from neuro_codec.data.excerpts import split_excerpts

    chosen = [r for r in rows if r.name in args.rows]
    runs = ROOT / args.runs
    runs.mkdir(parents=True, exist_ok=True)
    if args.train:
        train_rows(chosen, runs, args.minutes)
    torch.set_num_threads(args.threads)
    clips = split_excerpts(None, args.clips, args.seconds, "test")
    pieces = {name.split("@")[0] for name, _ in clips}
    print(f"{len(clips)} test clips of {args.seconds:g} s from {len(pieces)} pieces")
    return chosen, runs, clips


def save_results(results: list[dict], columns: Sequence[str], folder: str, stem: str,
                 fig) -> None:
    """Print the table; write `folder/stem.csv` (with each row's lever) and `stem.png`."""
    if not results:
        raise CodecError("no trained row was scored; run with --train")
    print(format_table(results, columns))
    out = ROOT / folder
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / f"{stem}.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[*columns, "lever"], extrasaction="ignore")
        w.writeheader()
        w.writerows(results)
    save_figure(fig, out / f"{stem}.png", dpi=110)
    print(f"saved {out / (stem + '.csv')} and {stem}.png")


def plot(results: list[dict]):
    labels = [r["row"] for r in results]
    fig, axes = pyplot().subplots(1, 3, figsize=(15, 0.5 * len(results) + 2))
    for ax, (key, title) in zip(axes, (("si_snr_db", "SI-SNR (dB, higher is better)"),
                                       ("mel_distance", "mel distance (lower is better)"),
                                       ("visqol", "ViSQOL (higher is better)"))):
        ax.barh(range(len(results)), [r[key] for r in results], color="C0")
        ax.set_yticks(range(len(results)), labels if ax is axes[0] else [""] * len(results),
                      fontsize=7)
        ax.invert_yaxis()
        ax.set_title(title)
        ax.grid(alpha=0.3, axis="x")
    fig.suptitle("ablation at equal training time (FREE small, one CPU thread per row)")
    fig.tight_layout()
    return fig


def main(argv: Sequence[str] | None = None) -> int:
    p = row_parser(__doc__.split("\n\n")[0], ROWS, "runs/ablation", 12.0, threads=2)
    args = parse_rows(p, ROWS, argv)
    return run_command(lambda: _run(args))


def _run(args) -> int:
    rows, runs, clips = prepare_rows(args, ROWS)
    results = score_rows(rows, runs, clips)
    save_results(results, COLUMNS, args.out, "ablation", plot(results) if results else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
