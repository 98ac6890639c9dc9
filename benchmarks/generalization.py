"""Pianos it has never heard: every codec on the test split played by the training pianos and
by the held-out piano.

    python -m benchmarks.generalization [--clips 16] [--seconds 5.94] [--variants seen held-out]
                                        [--free CKPT] [--sparse CKPT] [--mu-sparse CKPT]
                                        [--rvq CKPT] [--mu 12] [--model LABEL=CKPT …]
                                        [--refiner-steps 1] [--refiner FILE]
                                        [--opus 6 12] [--no-visqol] [--no-clips]
                                        [--out out/generalization]

The test split's MIDI is rendered again (`neuro_codec.data.held_out`, cached under
`<root>/pianos/`): "seen", each piece on one of the pianos training draws from, in turn;
"held-out", every piece on the piano kept out of training (`pianos.HELD_OUT_PIANO`). Both
clean (no synthetic room, −1 dBFS peak), so the piano is what changes. On the same clips of
each (16 clips of 2^17 samples, pieces taken in turn from each source) every shipped model
codes through its real file and decodes with its first stage, beside Opus; a spiking model
with a refiner (the shipped one, or `--refiner FILE`) is decoded again with it in each
`--refiner-steps` K ("FREE + refiner K=1"), so that a generative stage is judged on a piano
its training never played as well.

Per row: payload kbps, SI-SNR, mel distance, ViSQOL, the quiet-bin log-spectral distance (the
noise floor between partials), the output level where the reference is silent (mean, p95) and
before notes that follow a silence (pre-echo). `--model LABEL=CKPT` adds any checkpoint (the
equal-time corpus ablation is scored this way).

Writes `--out`/generalization.csv (per clip), generalization.md (the table) and
generalization.png (ViSQOL, mel distance, quiet-bin LSD and silence level per codec, seen
against held-out), and keeps what was scored, as `benchmarks.rate_quality` does: per piano
set a folder `--out/<variant>/` with each clip's reference and every codec's decoded audio
(16-bit FLAC), every spiking model's `.snc` and the clip's piano under clips/, indexed by
clips.json (`neuro_codec.evaluation.decoded_clips`; `--no-clips`: not).
`neuro-codec report --held-out <--out>/held-out` plays the held-out piano's.
"""

from __future__ import annotations

import argparse
import csv
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.checkpoints import (
    LABELS,
    add_checkpoint_flags,
    add_opus_flag,
    add_refiner_flags,
    chosen_bitrates,
    chosen_checkpoints,
    refined_label,
)
from benchmarks.rate_quality import opus_rows, summary
from neuro_codec.compression import load_model
from neuro_codec.data.audio import SAMPLE_RATE_HZ
from neuro_codec.data.excerpts import split_excerpts
from neuro_codec.data.held_out import VARIANTS, ensure_test_variant
from neuro_codec.data.pianos import HELD_OUT_PIANO, PIANOS
from neuro_codec.errors import CodecError, DataError
from neuro_codec.evaluation.decoded_clips import DecodedClipsWriter, slug
from neuro_codec.evaluation.evaluate import evaluate_clips
from neuro_codec.evaluation.metrics import QUALITY_COLUMNS
from neuro_codec.figures import pyplot, save_figure
from neuro_codec.fileio import atomic_path
from neuro_codec.model.presets import ModelKind

COLUMNS = ("payload_kbps", *QUALITY_COLUMNS)
PLOTTED = (("visqol", "ViSQOL (higher is better)"), ("mel_distance", "mel distance"),
           ("quiet_lsd_db", "quiet-bin LSD (dB)"),
           ("silence_dbfs", "output where the reference is silent (dBFS)"))


def markdown(table: list[dict]) -> str:
    """One row per (codec, pianos): means ± sd over clips."""
    def cell(r, k, digits, sd=True):
        if np.isnan(r[k]):
            return "–"
        s = r[k + "_sd"]
        return f"{r[k]:.{digits}f}" + ("" if not sd or np.isnan(s) else f" ± {s:.{digits}f}")

    lines = ["| codec | pianos | payload kbps | SI-SNR dB | mel distance | ViSQOL | "
             "quiet-bin LSD dB | silence dBFS (mean / p95) | pre-echo dBFS |",
             "|---|---|" + "---:|" * 7]
    for r in table:
        lines.append(f"| {r['codec']} | {r['pianos']} | {cell(r, 'payload_kbps', 3)} | "
                     f"{cell(r, 'si_snr_db', 2)} | {cell(r, 'mel_distance', 4)} | "
                     f"{cell(r, 'visqol', 2)} | {cell(r, 'quiet_lsd_db', 1)} | "
                     f"{cell(r, 'silence_dbfs', 1, False)} / "
                     f"{cell(r, 'silence_p95_dbfs', 1, False)} | "
                     f"{cell(r, 'pre_echo_dbfs', 1, False)} |")
    return "\n".join(lines) + "\n"


def plot(table: list[dict], variants: Sequence[str], path: Path) -> None:
    """Grouped bars: one group per codec, one bar per piano set, ± sd over clips."""
    plt = pyplot()
    codecs = list(dict.fromkeys(r["codec"] for r in table))
    by = {(r["codec"], r["pianos"]): r for r in table}
    fig, axes = plt.subplots(1, len(PLOTTED), figsize=(4.2 * len(PLOTTED), 4.4))
    width = 0.8 / len(variants)
    x = np.arange(len(codecs))
    for ax, (key, label) in zip(axes, PLOTTED):
        for i, v in enumerate(variants):
            rows = [by.get((c, v)) for c in codecs]
            ax.bar(x + (i - (len(variants) - 1) / 2) * width,
                   [r[key] if r else np.nan for r in rows], width,
                   yerr=[r[key + "_sd"] if r else 0 for r in rows], capsize=2,
                   label=v, color=("0.35", "0.75", "0.55")[i % 3], edgecolor="k", lw=0.5)
        ax.set_xticks(x, codecs, rotation=40, ha="right", fontsize=8)
        ax.set_title(label, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        if key == "silence_dbfs":
            ax.set_ylim(-125, -30)
    axes[0].legend(title="pianos", fontsize=8)
    fig.suptitle(f"test split on the training pianos (seen) and on {HELD_OUT_PIANO} (held out)")
    fig.tight_layout()
    save_figure(fig, path)


def _labelled(items: list[str]) -> list[tuple[str, str]]:
    out = []
    for item in items:
        label, sep, path = item.partition("=")
        if not sep or not label or not path:
            raise argparse.ArgumentTypeError(f"--model {item!r} is not LABEL=CKPT")
        out.append((label, path))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default=None, help="built-in dataset folder (default data/builtin)")
    p.add_argument("--clips", type=int, default=16, help="clips per piano set (default 16)")
    p.add_argument("--seconds", type=float, default=2**17 / SAMPLE_RATE_HZ,
                   help="clip length (default 5.944 s = 2^17 samples)")
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS),
                   help="piano sets (default: seen held-out)")
    add_checkpoint_flags(p)
    p.add_argument("--mu", type=int, default=12, help="μ-SPARSE's level (default 12)")
    p.add_argument("--model", action="append", default=[], metavar="LABEL=CKPT",
                   help="another checkpoint, one row per piano set (repeatable)")
    add_refiner_flags(p)
    add_opus_flag(p)
    p.add_argument("--no-visqol", action="store_true", help="skip ViSQOL (the slow metric)")
    p.add_argument("--no-clips", action="store_true", help="do not keep the decoded clips "
                   "(default: keep them under --out/<variant>/ for `neuro-codec report "
                   "--held-out`)")
    p.add_argument("--out", default="out/generalization",
                   help="output folder (default out/generalization)")
    args = p.parse_args(argv)
    if args.clips < 1 or args.seconds <= 0:
        p.error("--clips must be at least 1 and --seconds positive")
    try:
        extra = _labelled(args.model)
    except argparse.ArgumentTypeError as e:
        p.error(str(e))
    vq = not args.no_visqol
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    models = [(LABELS[kind] + (f" μ={args.mu}" if kind is ModelKind.MU_SPARSE else ""), path)
              for kind, path in chosen_checkpoints(args).items()] + extra
    args.opus = chosen_bitrates(args)
    given = [f"Opus {kbps:g} kbps" for kbps in args.opus] + [label for label, _ in models]
    if len(set(given)) < len(given):   # one row per codec name: a second would replace the first
        p.error(f"codec names {given} repeat: give --model another label")
    refiner = args.refiner if args.refiner_steps else None
    try:
        loaded = [(label, load_model(path, refiner=refiner)) for label, path in models]
    except CodecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    rows = [(label, model, 0) for label, model in loaded]
    for label, model in loaded:
        if model.kind is not ModelKind.RVQ and model.refiner is not None:
            rows += [(refined_label(label, k), model, k) for k in args.refiner_steps]
        elif model.kind is not ModelKind.RVQ and refiner is not None:
            print(f"{label}: no refiner was trained on {model.model_id}; no refined row",
                  file=sys.stderr)
    labels = [f"Opus {kbps:g} kbps" for kbps in args.opus] + [label for label, _, _ in rows]
    if len(set(labels)) < len(labels) or not args.no_clips and (
            len(set(map(slug, labels))) < len(labels) or "reference" in map(slug, labels)):
        p.error(f"codec names {labels} clash in the kept clips' file names: give --model "
                f"other labels")
    command = shlex.join(["python", "-m", "benchmarks.generalization",
                          *(sys.argv[1:] if argv is None else argv)])
    stores: list[DecodedClipsWriter] = []
    per: dict[tuple[str, str], list[dict]] = {}
    try:
        for variant in args.variants:
            root = ensure_test_variant(args.root, variant, progress=True)
            clips = split_excerpts(root, args.clips, args.seconds, "test")
            if not clips:
                raise DataError(f"no test piece of {root} is {args.seconds:g} s long")
            played_by = _pianos_of(root, clips)
            pianos = sorted({PIANOS[pc].name for pc in played_by})
            print(f"{variant}: {len(clips)} clips of {args.seconds:g} s from "
                  f"{len({n.split('@')[0] for n, _ in clips})} pieces, pianos "
                  f"{', '.join(pianos)}")
            # The variants share clip names (the same pieces): one kept-clips folder each.
            store = None if args.no_clips else DecodedClipsWriter(out / variant, command)
            for (name, x), piano in zip(clips, played_by) if store else ():
                store.reference(name, x, piano=piano)
            keep = store.sink if store else (lambda codec: None)
            stores += [store] if store else []
            for kbps in args.opus:
                label = f"Opus {kbps:g} kbps"
                per[(label, variant)] = opus_rows(clips, kbps, vq, True, keep(label))
            for label, model, steps in rows:
                mu = args.mu if model.mu_levels else None
                per[(label, variant)] = evaluate_clips(model, clips, steps=steps,
                                                       with_visqol=vq, progress=True, mu=mu,
                                                       keep=keep(label))
    except CodecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    fields = ["codec", "pianos", "clip", *COLUMNS, "event_rate"]
    with atomic_path(out / "generalization.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for (codec, variant), rows in per.items():
            w.writerows({"codec": codec, "pianos": variant, **r} for r in rows)
    order = sorted(per, key=lambda k: (list(dict.fromkeys(c for c, _ in per)).index(k[0]),
                                       args.variants.index(k[1])))
    table = [{**summary(codec, per[(codec, v)]), "pianos": v} for codec, v in order]
    text = markdown(table)
    with atomic_path(out / "generalization.md") as tmp:
        Path(tmp).write_text(text)
    plot(table, args.variants, out / "generalization.png")
    for store in stores:   # last: an index says its run finished
        store.write_index()
    print(text)
    print(f"saved {out}/generalization.csv, generalization.md, generalization.png"
          + "".join(f", {v}/clips.json and {v}/clips/" for v in args.variants
                    if not args.no_clips))
    return 0


def _pianos_of(root: Path, clips: list[tuple[str, np.ndarray]]) -> list[str]:
    """The piano of each clip's piece, from the variant's manifest."""
    from neuro_codec.data.dataset import load_manifest

    piano = {p.id: p.piano for p in load_manifest(root)}
    return [piano[name.split("@")[0]] for name, _ in clips]


if __name__ == "__main__":
    sys.exit(main())
