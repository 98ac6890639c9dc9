"""The refiner against the first stage it refines, in one run.

    python -m benchmarks.refiner [--refiner FILE] [--steps 1 2 4 8] [--clips 16]
                                 [--mu 18] [--free CKPT] [--sparse CKPT] [--mu-sparse CKPT]
                                 [--rvq CKPT] [--no-visqol] [--jobs 2] [--out out/refiner]

For FREE, SPARSE and μ-SPARSE (at level `--mu`: a low rate, where a generative stage should
help most; the RVQ baseline if given), on the same test clips (16 clips of 2^17 samples, one
per test piece in turn from each source): the first stage alone (K = 0) and refined with K
Euler steps for each `--steps`, through the real file (`neuro_codec.compression`). Per row:
payload kbps, SI-SNR, mel distance, ViSQOL, the quiet-bin log-spectral distance (mean dB
error over the bins at or below the reference's median level: the noise floor between the
partials), the level in the reference's silent windows, and the decoder's speed (× real time
on this machine). The refiner is the shipped `neuro_codec/checkpoints/refiner.pt` by default.

Writes `--out`/refiner.csv (per clip), refiner.md (the table, with each row's change from its
first stage) and refiner.png (each metric against K per model, and the spectrograms of one
excerpt: reference, first stage, refined at the refiner's default K).
"""

from __future__ import annotations

import argparse
import csv
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.checkpoints import LABELS, add_checkpoint_flags, chosen_checkpoints
from neuro_codec.compression import decode, encode, load_model
from neuro_codec.data.audio import SAMPLE_RATE_HZ
from neuro_codec.data.excerpts import split_excerpts
from neuro_codec.errors import CodecError, DataError
from neuro_codec.evaluation.evaluate import evaluate_clips, summarize
from neuro_codec.figures import pyplot, save_figure
from neuro_codec.fileio import atomic_path
from neuro_codec.model.presets import ModelKind
from neuro_codec.model.refiner import RefinerFile
from neuro_codec.model.shipped import CHECKPOINT_DIR, REFINER_FILE

COLUMNS = ("payload_kbps", "si_snr_db", "mel_distance", "visqol", "quiet_lsd_db",
           "silence_dbfs", "decode_x_realtime")
HEADERS = ("kbps", "SI-SNR dB", "mel", "ViSQOL", "quiet-bin dB", "silence dBFS", "decode ×RT")


def score(checkpoints: dict[ModelKind, str], refiner: str, clips, steps: Sequence[int],
          mu: int, with_visqol: bool, progress: bool) -> list[dict]:
    """Per clip rows for every (model, K), K = 0 first."""
    rows = []
    for kind, path in checkpoints.items():
        model = load_model(path, refiner=refiner)
        level = mu if kind is ModelKind.MU_SPARSE else None
        for k in [0, *steps]:
            label = f"{LABELS[kind]}" + (f" μ={mu}" if level is not None else "")
            for r in evaluate_clips(model, clips, steps=k, with_visqol=with_visqol,
                                    progress=progress, mu=level):
                rows.append({"model": label, "steps": k, **r})
    return rows


def _score_one(job: tuple) -> list[dict]:
    """`score` of one model in a worker process (one torch thread)."""
    import torch

    torch.set_num_threads(1)
    kind, path, *rest = job
    return score({kind: path}, *rest)


def score_in_parallel(checkpoints: dict[ModelKind, str], refiner: str, clips,
                      steps: Sequence[int], mu: int, with_visqol: bool, jobs: int
                      ) -> list[dict]:
    """`score`, the models spread over `jobs` processes of one thread each (spawned: a forked
    torch can hang in its thread pool); rows in the order of `checkpoints`. Each process's
    decode speed is then one thread's."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    work = [(kind, path, refiner, clips, steps, mu, with_visqol, False)
            for kind, path in checkpoints.items()]
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        return [row for rows in pool.map(_score_one, work) for row in rows]


def table(rows: list[dict]) -> list[dict]:
    """Means per (model, K) with each metric's change from that model's K = 0."""
    out = []
    for model in dict.fromkeys(r["model"] for r in rows):
        base = None
        for k in sorted({r["steps"] for r in rows if r["model"] == model}):
            mean = summarize([r for r in rows if r["model"] == model and r["steps"] == k])
            row = {"model": model, "steps": k, **{c: mean[c] for c in COLUMNS}}
            base = base or row
            row["delta"] = {c: row[c] - base[c] for c in COLUMNS}
            out.append(row)
    return out


def markdown(summary: list[dict], n_clips: int, command: str) -> str:
    lines = [f"Refiner against its first stage: {n_clips} test clips; K = 0 is the first stage; "
             "(Δ) is the change from it.", "", f"`{command}`", "",
             "| model | K | " + " | ".join(HEADERS) + " |",
             "|---|---:|" + "---:|" * len(HEADERS)]
    for r in summary:
        cells = []
        for c in COLUMNS:
            v, d = r[c], r["delta"][c]
            fmt = "{:.5f}" if c == "mel_distance" else "{:.3f}" if c == "payload_kbps" else "{:.2f}"
            text = fmt.format(v)
            if r["steps"] and c not in ("payload_kbps", "decode_x_realtime"):
                rel = f", {100 * d / abs(r[c] - d):+.0f} %" if c in ("mel_distance",
                                                                      "quiet_lsd_db") else ""
                text += f" ({d:+.4g}{rel})"
            cells.append(text)
        lines.append(f"| {r['model']} | {r['steps']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(summary: list[dict], excerpt, refiner: str, checkpoint: str, default_k: int,
         out: Path) -> None:
    """Metrics against K per model (top), spectrograms of one excerpt (bottom)."""
    from neuro_codec.evaluation.report_figures import SpectrogramConfig, power_spectrogram

    plt = pyplot()
    fig = plt.figure(figsize=(16, 8.5))
    grid = fig.add_gridspec(2, 4, height_ratios=(1, 1.1))
    for i, (c, title) in enumerate((("mel_distance", "mel distance ↓"),
                                    ("visqol", "ViSQOL ↑"),
                                    ("quiet_lsd_db", "quiet-bin LSD dB ↓"),
                                    ("si_snr_db", "SI-SNR dB ↑"))):
        ax = fig.add_subplot(grid[0, i])
        for model in dict.fromkeys(r["model"] for r in summary):
            mine = [r for r in summary if r["model"] == model]
            ax.plot([r["steps"] for r in mine], [r[c] for r in mine], "o-", label=model)
        ax.set_xlabel("refiner steps K (0: first stage)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    fig.axes[0].legend(fontsize=8)
    name, x = excerpt
    model = load_model(checkpoint, refiner=refiner)
    data = encode(model, x).data
    waves = [("reference", x), ("first stage", decode(model, data, steps=0)[0]),
             (f"refined, K = {default_k}", decode(model, data, steps=default_k)[0])]
    cfg = SpectrogramConfig()
    peak = power_spectrogram(x, cfg)[2].max()
    for i, (label, w) in enumerate(waves):
        ax = fig.add_subplot(grid[1, i])
        f, t, p = power_spectrogram(w, cfg)
        ax.pcolormesh(t, f / 1000, 10 * np.log10(np.maximum(p / peak, 1e-12)), vmin=-80,
                      vmax=0, cmap="magma", shading="auto")
        ax.set_title(f"{label} ({name})", fontsize=9)
        ax.set_xlabel("s")
        ax.set_ylabel("kHz")
    fig.tight_layout()
    save_figure(fig, out / "refiner.png")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.refiner",
                                description=__doc__.split("\n")[0])
    p.add_argument("--refiner", default=str(CHECKPOINT_DIR / REFINER_FILE), metavar="FILE",
                   help="refiner file (default the shipped refiner.pt)")
    p.add_argument("--steps", type=int, nargs="+", default=[1, 2, 4, 8],
                   help="refiner steps K scored beside the first stage (default 1 2 4 8)")
    p.add_argument("--root", default=None, help="dataset folder (default data/builtin)")
    p.add_argument("--clips", type=int, default=16, help="clips (default 16, ≥ 8 pieces)")
    p.add_argument("--seconds", type=float, default=2**17 / SAMPLE_RATE_HZ,
                   help="clip length in seconds (default 5.94)")
    p.add_argument("--mu", type=int, default=18, help="μ-SPARSE's level (default 18)")
    add_checkpoint_flags(p)
    p.set_defaults(rvq="none")
    p.add_argument("--no-visqol", action="store_true", help="skip ViSQOL (the slow metric)")
    p.add_argument("--jobs", type=int, default=1, help="score the models in this many "
                   "processes of one thread each (default 1: one process, all threads)")
    p.add_argument("--out", default="out/refiner", help="output folder (default out/refiner)")
    args = p.parse_args(argv)
    try:
        saved = RefinerFile.read(args.refiner)
        clips = split_excerpts(args.root, args.clips, args.seconds, "test")
        if not clips:
            raise DataError("no test clips")
        checkpoints = chosen_checkpoints(args)
        if args.jobs > 1:
            rows = score_in_parallel(checkpoints, args.refiner, clips, args.steps, args.mu,
                                     not args.no_visqol, args.jobs)
        else:
            rows = score(checkpoints, args.refiner, clips, args.steps, args.mu,
                         not args.no_visqol, progress=True)
    except CodecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "refiner.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    summary = table(rows)
    command = "python -m benchmarks.refiner " + shlex.join(argv or sys.argv[1:])
    text = markdown(summary, len(clips), command.strip())
    with atomic_path(out / "refiner.md") as tmp:
        tmp.write_text(text)
    print(text)
    first = next(iter(checkpoints.values()))
    plot(summary, clips[0], args.refiner, first, saved.config.default_steps, out)
    print(f"wrote {out}/refiner.csv, refiner.md, refiner.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
