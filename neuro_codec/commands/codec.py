"""`neuro-codec encode | decode | eval`: waveforms to `.snc` (or `.rvq`) files and back, and
evaluation; all through `neuro_codec.compression`.

Without `--checkpoint`, encode and eval use a shipped checkpoint (`--model`, default SPARSE)
and decode the shipped checkpoint whose model id the file names (`neuro_codec.model.shipped`).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from neuro_codec.commands.arguments import non_negative_int, positive_float, positive_int
from neuro_codec.data.audio import CLIP_SAMPLES, SAMPLE_RATE_HZ, load_audio, save_audio
from neuro_codec.errors import CodecError, writing
from neuro_codec.fileio import atomic_path, read_coded_file

if TYPE_CHECKING:
    import torch

    from neuro_codec.compression import QualityTarget

# The model, the compression API and torch are imported by the handlers, which run only for
# the command given; the flags take their defaults and choices from torch-free modules
# (`model.kind`, `model.shipped`), so that `encode --help` starts without torch.


def _device(name: str) -> torch.device:
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise CodecError(f"--device {name}: no CUDA device is available")
    return torch.device(name)


def _checkpoint(args) -> Path:
    """--checkpoint PATH, else the shipped checkpoint of --model (default SPARSE)."""
    from neuro_codec.model.shipped import DEFAULT_KIND, shipped_path

    if args.checkpoint is not None:
        return Path(args.checkpoint)
    return shipped_path(args.model or DEFAULT_KIND)


def _file_model_id(data: bytes, source: str) -> str:
    """The model id a `.snc` or `.rvq` file's header names (the header alone is parsed)."""
    from neuro_codec.coding.bitstream import parse_header
    from neuro_codec.coding.rvq_file import is_rvq, parse_rvq_header

    try:
        header = parse_rvq_header(data) if is_rvq(data[:4]) else parse_header(data)
    except CodecError as e:
        raise type(e)(f"{source}: {e}") from None
    return header.model_id


def _target(args) -> QualityTarget | None:
    from neuro_codec.compression import QualityTarget

    if args.target_sisnr is None and args.target_mel is None:
        return None
    return QualityTarget(si_snr_db=args.target_sisnr, mel_distance=args.target_mel)


def _encode(args) -> int:
    from neuro_codec import compression
    from neuro_codec.fileio import write_bytes_atomic
    from neuro_codec.model.presets import ModelKind

    model = compression.load_model(_checkpoint(args))
    x = load_audio(args.input)
    coded = compression.encode(model, x, mu=args.mu, target=_target(args), fmt=args.format,
                            segment_samples=round(args.segment_seconds * SAMPLE_RATE_HZ),
                            progress=True, codebooks=args.codebooks)
    with writing(args.output):
        write_bytes_atomic(args.output, coded.data)
    seconds = x.size / SAMPLE_RATE_HZ
    h = coded.header
    if model.kind is ModelKind.RVQ:
        what = (f"{h.n_codebooks}x{h.n_frames} codes of {h.codebook_bits} bits (.rvq, "
                f"{h.n_codebooks} of {model.codec.codebooks} codebooks)")
    else:
        what = (f"{h.n_units}x{h.n_frames} events, S={h.n_events} "
                f"({h.n_events / max(1, coded.z.size):.2%}), format {h.format.value}")
        if coded.mu:
            levels = sorted(set(coded.mu))
            what += f", μ {levels[0]}" if len(levels) == 1 else (
                f", μ per {h.mu_segment_frames}-frame segment: {list(coded.mu)}")
    print(f"{args.output}: {what}, {h.payload_bits / seconds / 1e3:.3f} kbps payload, "
          f"{len(coded.data) * 8 / seconds / 1e3:.3f} kbps file")
    return 0


def _decode(args) -> int:
    from neuro_codec import compression
    from neuro_codec.model.shipped import find_shipped

    data = read_coded_file(args.input)
    checkpoint = args.checkpoint or find_shipped(_file_model_id(data, str(args.input)))
    model = compression.load_model(checkpoint, _device(args.device), refiner=_refiner(args))
    x, header = compression.decode(model, data, steps=args.steps, seed=args.seed,
                                   source=str(args.input))
    with writing(args.output):
        save_audio(args.output, x, header.sample_rate_hz)
    steps = model.effective_steps(args.steps)
    how = ("the first stage alone" if steps == 0 else
           f"the first stage + {steps} flow-matching refiner steps (Euler)")
    print(f"{args.output}: {x.size / header.sample_rate_hz:.2f} s decoded with {how}")
    return 0


def _eval(args) -> int:
    from neuro_codec import compression
    from neuro_codec.data.excerpts import split_excerpts
    from neuro_codec.evaluation.evaluate import evaluate_clips, summarize, table_row
    from neuro_codec.evaluation.quality_table import format_table, write_table

    model = compression.load_model(_checkpoint(args), _device(args.device),
                                   refiner=_refiner(args))
    ckpt = {"model": model.kind.value, "model_id": model.model_id}
    clips = split_excerpts(args.root or None, args.clips, args.seconds, args.split, args.data)
    if not clips:
        raise CodecError(f"no clips of {args.seconds} s in split {args.split!r}")
    rows = evaluate_clips(model, clips, steps=args.steps, with_visqol=not args.no_visqol,
                          progress=True, mu=args.mu, target=_target(args))
    mean = summarize(rows)
    name = f"{ckpt['model']} ({ckpt['model_id']})"
    print(f"\n{name}: {len(rows)} clips of {args.seconds:g} s from {args.split}, "
          f"{model.effective_steps(args.steps)} refiner steps")
    cols = ("payload_kbps", "file_kbps", "event_rate", "si_snr_db", "mel_distance", "visqol")
    print("| " + " | ".join(("codec",) + cols) + " |")
    print("|" + "---|" * (len(cols) + 1))
    print(f"| {ckpt['model']} | " + " | ".join(f"{mean[c]:.4g}" for c in cols) + " |")
    out = Path(args.out)
    with writing(out):
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(out / f"eval-{ckpt['model_id']}.csv") as tmp, open(tmp, "w",
                                                                            newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        _plot_eval(rows, name, out / f"eval-{ckpt['model_id']}.png")
    print(f"per-clip table: {out / ('eval-' + ckpt['model_id'] + '.csv')}")
    with writing(args.table):
        table = write_table([table_row(ckpt["model"], rows)], args.table)
    print(f"\nshared rate–quality table ({args.table}/baselines.csv, with the Opus rows of "
          f"benchmarks/baselines.py):\n{format_table(table)}")
    return 0


def _plot_eval(rows: list[dict], title: str, path: Path) -> None:
    from neuro_codec.figures import pyplot, save_figure

    fig, axes = pyplot().subplots(1, 2, figsize=(10, 3.6))
    kbps = [r["payload_kbps"] for r in rows]
    axes[0].scatter(kbps, [r["si_snr_db"] for r in rows])
    axes[0].set_xlabel("payload kbps")
    axes[0].set_ylabel("SI-SNR (dB)")
    axes[1].scatter(kbps, [r["mel_distance"] for r in rows])
    axes[1].set_xlabel("payload kbps")
    axes[1].set_ylabel("mel distance")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def _add_level_options(p) -> None:
    g = p.add_argument_group("mu-sparse models")
    g.add_argument("--mu", type=int, default=None, help="compression level μ (higher: fewer "
                   "events; default the middle level)")
    g.add_argument("--target-sisnr", type=float, default=None, metavar="DB",
                   help="quality-controlled μ: per segment, the largest μ whose reconstruction "
                        "keeps SI-SNR ≥ DB")
    g.add_argument("--target-mel", type=float, default=None, metavar="D",
                   help="quality-controlled μ with a mel-distance ceiling (with --target-sisnr, "
                        "both must hold)")
    g.add_argument("--segment-seconds", type=positive_float,
                   default=CLIP_SAMPLES / SAMPLE_RATE_HZ,
                   help="quality control's segment length (default 5.94 s; each segment is "
                        "encoded from a reset state)")


def _add_model_options(p) -> None:
    from neuro_codec.model.kind import MODEL_KINDS
    from neuro_codec.model.shipped import DEFAULT_KIND

    g = p.add_mutually_exclusive_group()
    g.add_argument("--model", choices=MODEL_KINDS, default=None,
                   help="use the shipped checkpoint of this kind, "
                        f"neuro_codec/checkpoints/<kind>-small.pt (default {DEFAULT_KIND.value})")
    g.add_argument("--checkpoint", default=None, metavar="CKPT",
                   help="a trained checkpoint (.pt) instead of a shipped one")


def _encode_arguments(p) -> None:
    p.add_argument("input", help="audio file (any rate/channels; resampled and downmixed)")
    p.add_argument("output", help="output .snc file (.rvq for an RVQ checkpoint)")
    _add_model_options(p)
    p.add_argument("--format", default="auto",
                   choices=("auto", "dense", "coo", "csr_unit", "csc_time", "entropy"),
                   help="event storage format (default auto: the smallest)")
    _add_level_options(p)
    g = p.add_argument_group("RVQ models")
    g.add_argument("--codebooks", type=positive_int, default=None, metavar="K",
                   help="code with the model's first K codebooks, 1 ≤ K ≤ its codebooks: K × "
                        "10 bits per frame, K × 0.431 kbps, for the shipped rvq-small (default "
                        "all)")
    p.set_defaults(func=_encode)


def _add_refiner_options(p) -> None:
    p.add_argument("--steps", type=non_negative_int, default=None, help="refiner steps, 0 for "
                   "the first stage alone (default: the refiner file's K; 0 without a refiner)")
    p.add_argument("--refiner", default="shipped", metavar="FILE",
                   help="flow-matching refiner file to decode with, or 'none' (default: the "
                        "shipped refiner.pt, for the models it was trained on)")


def _refiner(args):
    return None if args.refiner == "none" else args.refiner


def _decode_arguments(p) -> None:
    p.add_argument("input", help=".snc file, or a .rvq file of RVQ codes")
    p.add_argument("output", help="output WAV file")
    p.add_argument("--checkpoint", default=None, metavar="CKPT",
                   help="checkpoint whose model id made the file (default: the shipped "
                        "checkpoint with the model id the file names)")
    _add_refiner_options(p)
    p.add_argument("--seed", type=int, default=0, help="the refiner's noise seed (default 0)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.set_defaults(func=_decode)


def _eval_arguments(p) -> None:
    _add_model_options(p)
    p.add_argument("--split", default="test", choices=("train", "validation", "test"),
                   help="data split (default test)")
    p.add_argument("--data", default="builtin", choices=("builtin", "maestro"),
                   help="dataset (default builtin)")
    p.add_argument("--root", default="", help="dataset folder (default data/builtin)")
    p.add_argument("--clips", type=positive_int, default=16, help="number of clips (default 16)")
    p.add_argument("--seconds", type=positive_float, default=CLIP_SAMPLES / SAMPLE_RATE_HZ,
                   help="clip length (default 5.944 s = 2^17 samples)")
    _add_refiner_options(p)
    p.add_argument("--no-visqol", action="store_true", help="skip ViSQOL (faster)")
    _add_level_options(p)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--out", default="out/eval", metavar="DIR",
                   help="folder for the per-clip CSV and PNG (default out/eval)")
    p.add_argument("--table", default="out/benchmarks", metavar="DIR", help="folder of the shared "
                   "rate–quality table the mean row is added to (default out/benchmarks)")
    p.set_defaults(func=_eval)


def register(sub) -> None:
    sub.add_parser("encode", help="audio file → .snc events (spiking encoder; .rvq codes "
                   "for the RVQ baseline)", arguments=_encode_arguments)
    sub.add_parser("decode", help=".snc events (or .rvq codes) → audio (frame-rate decoder)",
                   arguments=_decode_arguments)
    sub.add_parser("eval", help="rate and quality of a checkpoint on a data split",
                   arguments=_eval_arguments)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: neuro-codec encode|decode|eval")
