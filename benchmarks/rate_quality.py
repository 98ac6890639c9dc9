"""Rate–quality on the test split, every codec in one run (the paper's Figure 4).

    python -m benchmarks.rate_quality [--clips 16] [--seconds 5.94] [--levels 6 9 12 15 18 21]
                                      [--target-sisnr DB] [--free CKPT] [--sparse CKPT]
                                      [--mu-sparse CKPT] [--rvq CKPT] [--codebooks 1 2 3 4 6 8]
                                      [--refiner-steps 1] [--refiner FILE] [--refined-mu 18]
                                      [--opus 6 12] [--no-visqol] [--no-clips]
                                      [--out out/rate_quality]

Rows: FREE, SPARSE, μ-SPARSE at each `--levels` μ and in its quality-controlled mode (per
clip the largest μ whose first-stage reconstruction keeps SI-SNR ≥ `--target-sisnr`), the RVQ
baseline with its first K codebooks at each `--codebooks` K ("RVQ K=4": K × 10 bits per frame),
and Opus at `--opus` kbps, all on the same clips (16 clips of 2^17 samples, one per
test piece in turn from each source). Every model codes through the real file
(`neuro_codec.compression`: `.snc`, or `.rvq` for RVQ) in its checkpoint's arithmetic, and is
decoded by its first stage; FREE, SPARSE and μ-SPARSE (at `--refined-mu`) are decoded again
with their shipped refiner in each `--refiner-steps` K, where one was trained on them
("FREE + refiner K=1"). Per row: payload and
whole-file kbps (mean ± sd over clips), SI-SNR, mel distance, ViSQOL (means ± sd), event rate,
μ, and the encoder's speed (quality control pays one encode + decode per level it tries).

Writes `--out`/rate_quality.csv (per clip), rate_quality.md (the table), fig4ab.png (bitrate
against SI-SNR and ViSQOL per clip, the paper's Figure 4A/B, with a line through the means of
μ-SPARSE's levels and one through RVQ's K; the table ends with each μ-SPARSE level against
the RVQ curve read at its rate) and fig4c.png (events of one clip
at several μ, Figure 4C), and keeps what was scored for `neuro-codec report --from`: each
clip's reference and every codec's decoded audio (16-bit FLAC) and every spiking model's `.snc`
under clips/, indexed by clips.json (`neuro_codec.evaluation.decoded_clips`; `--no-clips`: not).
"""

from __future__ import annotations

import argparse
import csv
import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from benchmarks.baselines import opus_roundtrip
from benchmarks.checkpoints import (
    LABELS,
    add_checkpoint_flags,
    add_opus_flag,
    add_refiner_flags,
    chosen_bitrates,
    chosen_checkpoints,
    refined_label,
)
from neuro_codec.commands.arguments import positive_int
from neuro_codec.compression import QualityTarget, events, load_model
from neuro_codec.data.audio import SAMPLE_RATE_HZ, bits_per_second
from neuro_codec.data.excerpts import split_excerpts
from neuro_codec.errors import CodecError, DataError
from neuro_codec.evaluation.decoded_clips import DecodedClipsWriter
from neuro_codec.evaluation.evaluate import evaluate_clips, nan_mean, summarize
from neuro_codec.evaluation.metrics import QUALITY_COLUMNS, quality
from neuro_codec.figures import pyplot, save_figure
from neuro_codec.fileio import atomic_path
from neuro_codec.model.presets import ModelKind

METRICS = ("payload_kbps", "file_kbps", *QUALITY_COLUMNS)
DEFAULT_CODEBOOKS = (1, 2, 3, 4, 6, 8)   # RVQ's K: 0.43 … 3.45 kbps, μ-SPARSE's range and more
# The codecs drawn as a curve through their rows' means: (row label prefix, legend, the colour
# map of its points and the part of it they span, the line's colour).
CURVES = ((f"{LABELS[ModelKind.MU_SPARSE]} μ=", "μ-SPARSE levels (means)", "viridis", (0.0, 1.0),
           "0.3"),
          (f"{LABELS[ModelKind.RVQ]} K=", "RVQ codebooks K (means)", "Reds", (0.4, 1.0),
           "darkred"))


def opus_rows(clips, kbps: float, with_visqol: bool, progress: bool, keep=None) -> list[dict]:
    rows = []
    for name, x in tqdm(clips, desc=f"opus {kbps:g} kbps", disable=not progress):
        y, bits = opus_roundtrip(x, kbps)
        if keep is not None:
            keep(name, y)
        kbps_file = bits_per_second(bits, x.size) / 1e3
        rows.append({"clip": name, "format": "opus", "payload_kbps": kbps_file,
                     "file_kbps": kbps_file, "event_rate": float("nan"),
                     "mu": float("nan"), **quality(y, x, with_visqol),
                     "encode_x_realtime": float("nan"), "decode_x_realtime": float("nan")})
    return rows


def summary(codec: str, rows: list[dict]) -> dict:
    """The table's row of a codec: means and sample sds over its clips, NaNs left out."""
    keys = (*METRICS, "event_rate", "mu", "encode_x_realtime")
    return {"codec": codec, "clips": len(rows), **summarize(rows, keys, with_sd=True)}


def markdown(table: list[dict]) -> str:
    def pm(r, k, digits):
        if np.isnan(r[k]):
            return "–"
        sd = r[k + "_sd"]
        return f"{r[k]:.{digits}f}" + ("" if np.isnan(sd) else f" ± {sd:.{digits}f}")

    def mean(r, k, digits):
        return "–" if np.isnan(r[k]) else f"{r[k]:.{digits}f}"

    lines = ["| codec | payload kbps | file kbps | SI-SNR dB | mel distance | ViSQOL | "
             "quiet-bin LSD dB | silence dBFS (mean / p95) | pre-echo dBFS | "
             "event rate | mean μ | encode × RT |", "|---|" + "---:|" * 11]
    for r in table:
        lines.append(
            f"| {r['codec']} | {pm(r, 'payload_kbps', 3)} | {pm(r, 'file_kbps', 3)} | "
            f"{pm(r, 'si_snr_db', 2)} | {pm(r, 'mel_distance', 4)} | {pm(r, 'visqol', 2)} | "
            f"{mean(r, 'quiet_lsd_db', 1)} | {mean(r, 'silence_dbfs', 1)} / "
            f"{mean(r, 'silence_p95_dbfs', 1)} | {mean(r, 'pre_echo_dbfs', 1)} | "
            + ("–" if np.isnan(r["event_rate"]) else f"{r['event_rate']:.4f}") + " | "
            + ("–" if np.isnan(r["mu"]) else f"{r['mu']:.1f}") + " | "
            + ("–" if np.isnan(r["encode_x_realtime"]) else f"{r['encode_x_realtime']:.0f}")
            + " |")
    return "\n".join(lines) + "\n"


def against_curve(table: list[dict], points: str, curve: str,
                  keys: Sequence[str] = ("si_snr_db", "mel_distance", "visqol")) -> list[dict]:
    """Each row of `table` whose codec starts with `points` against the curve through the rows
    starting with `curve` (their means, linear in payload kbps), read at the row's own rate:
    {codec, payload_kbps, then per key: the row's mean, the curve's, and the difference}; the
    curve's values are NaN outside its range of rates (no extrapolation). How μ-SPARSE's
    levels compare with one RVQ model's K at the same rate."""
    line = sorted((r for r in table if on_curve(r["codec"], curve)),
                  key=lambda r: r["payload_kbps"])
    # np.interp needs rising rates: rows at one rate are averaged into one point
    rates = np.unique([r["payload_kbps"] for r in line])
    curve_values = {k: [np.mean([c[k] for c in line if c["payload_kbps"] == rate])
                        for rate in rates] for k in keys}
    out = []
    for r in table:
        if not on_curve(r["codec"], points) or not line:
            continue
        row = {"codec": r["codec"], "payload_kbps": r["payload_kbps"]}
        inside = rates[0] <= r["payload_kbps"] <= rates[-1]
        for k in keys:
            at = (float(np.interp(r["payload_kbps"], rates, curve_values[k])) if inside
                  else float("nan"))
            row.update({k: r[k], f"{k}_curve": at, f"{k}_delta": r[k] - at})
        out.append(row)
    return out


def on_curve(codec: str, prefix: str) -> bool:
    """Whether a row label is a point of the curve `prefix` ("μ-SPARSE μ=" + a level, "RVQ K="
    + a number of codebooks), and not a row derived from one ("μ-SPARSE μ=18 + refiner K=1")."""
    return re.fullmatch(re.escape(prefix) + r"\d+", codec) is not None


def curve_markdown(rows: list[dict], curve_name: str) -> str:
    """`against_curve`'s rows as a table: each metric's value, the curve's at the same rate,
    and whether the row is at least level with it (ViSQOL and SI-SNR ≥, mel distance ≤)."""
    def cell(r, k, digits, higher_is_better):
        if np.isnan(r[k]):
            return "–"
        if np.isnan(r[f"{k}_curve"]):
            return f"{r[k]:.{digits}f} (outside)"
        level = r[k] >= r[f"{k}_curve"] if higher_is_better else r[k] <= r[f"{k}_curve"]
        return (f"{r[k]:.{digits}f} vs {r[f'{k}_curve']:.{digits}f} "
                f"({'level' if level else 'below'})")

    lines = [f"| codec | payload kbps | SI-SNR dB vs {curve_name} | mel distance vs "
             f"{curve_name} | ViSQOL vs {curve_name} |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['codec']} | {r['payload_kbps']:.3f} | {cell(r, 'si_snr_db', 2, True)} "
                     f"| {cell(r, 'mel_distance', 4, False)} | {cell(r, 'visqol', 2, True)} |")
    return "\n".join(lines) + "\n"


def plot_rate_quality(per_codec: dict[str, list[dict]], path: Path) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    keys = ("si_snr_db", "visqol", "mel_distance")
    curves = {prefix: [name for name in per_codec if on_curve(name, prefix)]
              for prefix, *_ in CURVES}
    for i, (name, rows) in enumerate(per_codec.items()):
        style = dict(marker="os^vDP*X"[i % 8], s=30, alpha=0.8)
        for prefix, _, cmap, (lo, hi), _ in CURVES:   # a curve's points: small, coloured along it
            if name in curves[prefix]:
                names = curves[prefix]
                style = dict(marker=".", s=14, alpha=0.6, color=plt.colormaps[cmap](
                    lo + (hi - lo) * names.index(name) / max(1, len(names) - 1)))
        kbps = [r["payload_kbps"] for r in rows]
        for ax, key in zip(axes, keys):
            ax.scatter(kbps, [r[key] for r in rows], label=name, **style)
    for prefix, legend, _, _, color in CURVES:
        if not curves[prefix]:
            continue
        # the curve through its rows' means, in the order of their rates
        mean = {k: [nan_mean(r[k] for r in per_codec[n]) for n in curves[prefix]]
                for k in ("payload_kbps", *keys)}
        order = np.argsort(mean["payload_kbps"], kind="stable")
        for ax, key in zip(axes, keys):
            ax.plot(np.asarray(mean["payload_kbps"])[order], np.asarray(mean[key])[order], "-",
                    color=color, lw=1, label=legend)
    for ax, label in zip(axes, ("SI-SNR (dB)", "ViSQOL (48 kHz)", "mel distance")):
        ax.set_xlabel("payload kbps")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[2].legend(fontsize=7, ncol=2)
    fig.suptitle("bitrate against quality, one point per test clip (cf. the paper's Fig. 4A/B)")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def plot_rasters(model, x: np.ndarray, levels: Sequence[int], name: str, path: Path) -> None:
    fig, axes = pyplot().subplots(len(levels), 1, figsize=(12, 1.6 * len(levels)), sharex=True)
    axes = np.atleast_1d(axes)
    for ax, mu in zip(axes, levels):
        z = events(model, x, mu)
        t, n = np.nonzero(z.T)
        ax.scatter(t * model.hop / SAMPLE_RATE_HZ, n, s=1.5, c="k", marker="|")
        ax.set_ylabel(f"μ={mu}\nunit")
        ax.set_ylim(-1, z.shape[0])
        ax.set_title(f"{int(z.sum())} events, rate {z.mean():.4f}", fontsize=8, loc="right")
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(f"μ-SPARSE events of {name} at several levels (cf. the paper's Fig. 4C)")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def rvq_codebooks(asked: Sequence[int] | None, available: int, model_id: str) -> list[int]:
    """The K of RVQ's rows: those asked for, or `DEFAULT_CODEBOOKS` up to the model's `available`
    (and that Q itself, if it is not among them).

    Raises:
        CodecError: a K asked for above what the model has.
    """
    if asked is None:
        return sorted({k for k in DEFAULT_CODEBOOKS if k <= available} | {available})
    too_many = [k for k in asked if k > available]
    if too_many:
        raise CodecError(f"--codebooks {too_many[0]}: {model_id} has {available} codebooks")
    return list(asked)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default=None, help="dataset folder (default data/builtin)")
    p.add_argument("--split", choices=["train", "validation", "test"], default="test",
                   help="split (default test)")
    p.add_argument("--clips", type=int, default=16, help="clips (default 16, ≥ 8 pieces)")
    p.add_argument("--seconds", type=float, default=2**17 / SAMPLE_RATE_HZ,
                   help="clip length (default 5.944 s = 2^17 samples)")
    add_checkpoint_flags(p)
    p.add_argument("--levels", type=int, nargs="+", default=[6, 9, 12, 15, 18, 21],
                   help="μ-SPARSE levels, one row each (default 6 9 12 15 18 21)")
    p.add_argument("--codebooks", type=positive_int, nargs="+", default=None, metavar="K",
                   help="RVQ: code with the model's first K codebooks, one row each, K ≤ its "
                        "codebooks (default "
                        f"{' '.join(map(str, DEFAULT_CODEBOOKS))}, those the model has)")
    add_refiner_flags(p)
    p.add_argument("--refined-mu", type=int, default=18,
                   help="μ-SPARSE's level in the refined rows (default 18)")
    p.add_argument("--target-sisnr", type=float, default=-2.0, metavar="DB",
                   help="quality-controlled μ-SPARSE's SI-SNR floor (default -2 dB)")
    add_opus_flag(p)
    p.add_argument("--no-visqol", action="store_true", help="skip ViSQOL (the slow metric)")
    p.add_argument("--no-clips", action="store_true", help="do not keep the decoded clips "
                   "(default: keep them under --out/clips for `neuro-codec report --from`)")
    p.add_argument("--out", default="out/rate_quality", help="output folder "
                   "(default out/rate_quality)")
    args = p.parse_args(argv)
    if args.clips < 1 or args.seconds <= 0:
        p.error("--clips must be at least 1 and --seconds positive")
    vq = not args.no_visqol
    checkpoints = chosen_checkpoints(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        rvq = None
        if ModelKind.RVQ in checkpoints:   # its K are checked before any clip is read
            rvq = load_model(checkpoints[ModelKind.RVQ])
            codebooks = rvq_codebooks(args.codebooks, rvq.codec.codebooks, rvq.model_id)
        clips = split_excerpts(args.root, args.clips, args.seconds, args.split)
        if not clips:
            raise DataError(f"no {args.split} piece is {args.seconds:g} s long")
        pieces = {name.split("@")[0] for name, _ in clips}
        print(f"{len(clips)} clips of {args.seconds:g} s from {len(pieces)} {args.split} pieces")
        store = None if args.no_clips else DecodedClipsWriter(
            out, shlex.join(["python", "-m", "benchmarks.rate_quality", *(
                sys.argv[1:] if argv is None else argv)]))
        for name, x in clips if store else ():
            store.reference(name, x)
        keep = store.sink if store else (lambda codec: None)
        per_codec: dict[str, list[dict]] = {}
        for kbps in chosen_bitrates(args):
            label = f"Opus {kbps:g} kbps"
            per_codec[label] = opus_rows(clips, kbps, vq, True, keep(label))
        for kind, path in checkpoints.items():
            if kind not in (ModelKind.MU_SPARSE, ModelKind.RVQ):
                label = LABELS[kind]
                per_codec[label] = evaluate_clips(load_model(path), clips, steps=0,
                                                  with_visqol=vq, progress=True,
                                                  keep=keep(label))
        for kind, path in checkpoints.items():
            if kind is ModelKind.RVQ or not args.refiner_steps:
                continue
            model = load_model(path, refiner=args.refiner)
            if model.refiner is None:
                print(f"{LABELS[kind]}: no refiner was trained on {model.model_id}; no "
                      "refined row", file=sys.stderr)
                continue
            mu = args.refined_mu if kind is ModelKind.MU_SPARSE else None
            for k in args.refiner_steps:
                label = refined_label(f"{LABELS[kind]}{'' if mu is None else f' μ={mu}'}", k)
                per_codec[label] = evaluate_clips(model, clips, steps=k, with_visqol=vq,
                                                  progress=True, mu=mu, keep=keep(label))
        for k in codebooks if rvq else ():
            label = f"{LABELS[ModelKind.RVQ]} K={k}"
            per_codec[label] = evaluate_clips(rvq, clips, steps=0, with_visqol=vq,
                                              progress=True, keep=keep(label), codebooks=k)
        if ModelKind.MU_SPARSE in checkpoints:
            model = load_model(checkpoints[ModelKind.MU_SPARSE])
            for mu in args.levels:
                label = f"{LABELS[ModelKind.MU_SPARSE]} μ={mu}"
                per_codec[label] = evaluate_clips(model, clips, steps=0, with_visqol=vq,
                                                  progress=True, mu=mu, keep=keep(label))
            label = f"{LABELS[ModelKind.MU_SPARSE]} SI-SNR ≥ {args.target_sisnr:g} dB"
            per_codec[label] = evaluate_clips(
                model, clips, steps=0, with_visqol=vq, progress=True,
                target=QualityTarget(si_snr_db=args.target_sisnr), keep=keep(label))
            plot_rasters(model, clips[0][1], args.levels, clips[0][0], out / "fig4c.png")
    except CodecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    fields = ["codec", "clip", "format", *METRICS, "event_rate", "mu", "encode_x_realtime",
              "decode_x_realtime"]
    with atomic_path(out / "rate_quality.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for codec, rows in per_codec.items():
            w.writerows({"codec": codec, **r} for r in rows)
    table = [summary(codec, rows) for codec, rows in per_codec.items()]
    text = markdown(table)
    mu_vs_rvq = against_curve(table, CURVES[0][0], CURVES[1][0])
    if mu_vs_rvq:
        text += ("\nμ-SPARSE's levels against the RVQ curve at the same payload rate (its K "
                 "interpolated linearly in kbps):\n\n" + curve_markdown(mu_vs_rvq, "RVQ"))
    with atomic_path(out / "rate_quality.md") as tmp:
        Path(tmp).write_text(text)
    plot_rate_quality(per_codec, out / "fig4ab.png")
    if store:   # last: its index says the run finished
        store.write_index()
    print(text)
    print(f"saved {out}/rate_quality.csv, rate_quality.md, fig4ab.png"
          + (", fig4c.png" if ModelKind.MU_SPARSE in checkpoints else "")
          + ("" if args.no_clips else ", clips.json and clips/"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
