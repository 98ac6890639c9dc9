"""`python -m hardware.energy`: events, operations and energy per second of audio, from Lava.

For each checkpoint: export the encoder to NIR (`conversion.nir_export`), run it in Lava's
Loihi simulation on the audio (`hardware.simulate`), count per layer what Lava produced
(`hardware.counts`), price it (`hardware.energy_model`) and write report.json, report.md and
energy.png (`hardware.report`). Bad input gets one `error: …` line on stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hardware.counts import Connectivity, NetworkCounts, count_encoder_run, count_simulation
from hardware.energy_model import CONSTANTS, EnergyModel
from hardware.report import build_report, markdown, write_outputs
from neuro_codec.data.audio import SAMPLE_RATE_HZ, load_audio
from neuro_codec.model.checkpoint import at_level, build_encoder, load_checkpoint
from neuro_codec.errors import CodecError, run_command


class EnergyError(CodecError):
    """Input the energy report cannot use (missing pieces of the stack, empty audio, …)."""


@dataclass(frozen=True)
class Clip:
    name: str
    audio: np.ndarray  # [samples] float32 at SAMPLE_RATE_HZ


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one `error: …` line and exit code 1 like any bad input."""

    def error(self, message):
        raise _UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m hardware.energy",
        description="Run encoders in Lava's Loihi simulation and report events, operations "
                    "and estimated energy per second of audio (see docs/energy.md).")
    p.add_argument("--checkpoint", nargs="+", required=True, metavar="CKPT",
                   help="one or more checkpoints (e.g. a FREE and a SPARSE one, side by side)")
    p.add_argument("input", nargs="?", default=None, metavar="IN.wav",
                   help="an audio file (resampled to 22,050 Hz mono); it may also follow the "
                        "checkpoints, as in `--checkpoint A.pt B.pt IN.wav`")
    p.add_argument("--split", choices=("train", "validation", "test"), default=None,
                   help="every piece of this split of the built-in dataset")
    p.add_argument("--root", default=None,
                   help="built-in dataset folder for --split (default: $NEURO_CODEC_DATA or "
                        "data/builtin)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder for report.json, report.md and energy.png")
    p.add_argument("--precision", choices=("float", "fixed"), default="float",
                   help="Lava's floating-point or Loihi fixed-point model (default: float)")
    p.add_argument("--max-seconds", type=float, default=None, metavar="S",
                   help="use at most S seconds of audio in all (default: all of it)")
    p.add_argument("--backend", choices=("lava", "snntorch"), default="lava",
                   help="what produces the spikes: Lava (the product) or the snnTorch encoder "
                        "(a cross-check; the report names the backend). Default: lava")
    p.add_argument("--static-power", action="store_true",
                   help=f"add Loihi static power "
                        f"({CONSTANTS['loihi_static_power_per_core_mw'].value} mW per core, one "
                        f"core per layer); it dominates a network this small. Default: off")
    p.add_argument("--hops", type=float, default=1.0,
                   help="tile hops per spike sent to another layer (default: 1)")
    p.add_argument("--mu", type=int, default=None, help="the level mu-sparse checkpoints run "
                   "at (default: their middle level; other models ignore it)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _load_clips(args) -> list[Clip]:
    """The audio to run, cut to --max-seconds in all."""
    if args.input is not None:
        audio = load_audio(args.input)
        if args.max_seconds is not None:
            audio = audio[:int(round(args.max_seconds * SAMPLE_RATE_HZ))]
        return [Clip(Path(args.input).stem, audio)]
    from neuro_codec.data.excerpts import split_audio

    pieces = split_audio(args.root, args.split, args.max_seconds)
    if not pieces:
        raise EnergyError(f"the {args.split} split of the built-in dataset has no pieces")
    return [Clip(name, audio) for name, audio in pieces]


def _lava_stack():
    """(encoder_to_nir, simulate_audio), or a clear error when the Lava side is missing."""
    try:
        from conversion.nir_export import encoder_to_nir
        from hardware.simulate import simulate_audio
    except ImportError as e:
        raise EnergyError(f"the Lava simulation is not available ({e}); "
                          f"--backend snntorch counts the torch run instead") from None
    return encoder_to_nir, simulate_audio


def measure(encoder, clips: list[Clip], backend: str = "lava", precision: str = "float",
            progress: bool = False, label: str = "") -> tuple[Connectivity, NetworkCounts,
                                                               float, float]:
    """Run one encoder over the clips and sum the counts.

    Returns:
        (connectivity, counts, seconds of audio, wall-clock seconds of simulation).
    """
    counts, seconds, wall = None, 0.0, 0.0
    if backend == "lava":
        encoder_to_nir, simulate_audio = _lava_stack()
        graph = encoder_to_nir(encoder)
        conn = Connectivity.from_nir(graph)
        if conn.structure() != Connectivity.from_encoder(encoder).structure():
            print("note: the NIR graph's connectivity differs from the torch module's; "
                  "counting the NIR graph (what Lava ran)", file=sys.stderr)
    elif backend == "snntorch":
        conn = None
    else:
        raise ValueError(f"backend must be 'lava' or 'snntorch', got {backend!r}")
    for clip in tqdm(clips, desc=label or backend, unit="clip", disable=not progress):
        if backend == "lava":
            result = simulate_audio(graph, clip.audio, precision=precision)
            c = count_simulation(conn, result)
            seconds += result.n_audio_samples / result.sample_rate_hz
            wall += result.wall_time_s
        else:
            t0 = time.perf_counter()
            conn, c = count_encoder_run(encoder, clip.audio)
            wall += time.perf_counter() - t0
            seconds += len(clip.audio) / SAMPLE_RATE_HZ
        counts = c if counts is None else counts + c
    return conn, counts, seconds, wall


AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff")


def _resolve_input(args) -> None:
    """`--checkpoint A.pt IN.wav` puts the audio among the checkpoints: move it back."""
    if args.input is None and args.checkpoint[-1].lower().endswith(AUDIO_SUFFIXES):
        args.input = args.checkpoint.pop()
    if not args.checkpoint:
        raise _UsageError("--checkpoint needs at least one checkpoint")
    if (args.input is None) == (args.split is None):
        raise _UsageError("give either an audio file IN.wav or --split, not both or neither")


def run(args) -> int:
    _resolve_input(args)
    if args.max_seconds is not None and not args.max_seconds > 0:
        raise EnergyError(f"--max-seconds must be > 0, got {args.max_seconds}")
    if not args.hops >= 0:
        raise EnergyError(f"--hops must be ≥ 0, got {args.hops}")
    if args.backend == "snntorch" and args.precision != "float":
        raise EnergyError("--precision fixed needs --backend lava (snnTorch runs in float)")
    if args.backend == "lava":
        _lava_stack()   # fail before loading anything heavy
    encoders = []
    for path in args.checkpoint:
        ckpt = load_checkpoint(path)
        if any(ckpt["model_id"] == m for _, m, _ in encoders):
            raise EnergyError(f"{path}: model {ckpt['model_id']} was given twice")
        encoder = build_encoder(ckpt, str(path))
        if encoder.config.mu_levels:    # μ-SPARSE: the level --mu gives (default the middle)
            encoder, _ = at_level(encoder, args.mu, str(path))
        encoders.append((encoder, ckpt["model_id"], str(ckpt["model"])))
    clips = _load_clips(args)
    if not clips or sum(len(c.audio) for c in clips) == 0:
        raise EnergyError("no audio to run")
    model = (EnergyModel.with_static_power(hops_per_inter_layer_spike=args.hops)
             if args.static_power else EnergyModel(hops_per_inter_layer_spike=args.hops))
    reports = []
    for encoder, model_id, kind in encoders:
        conn, counts, seconds, wall = measure(encoder, clips, args.backend, args.precision,
                                              progress=not args.quiet, label=model_id)
        reports.append(build_report(
            model_id, kind, counts, conn, seconds,
            SAMPLE_RATE_HZ / encoder.config.frame_samples, precision=args.precision,
            backend="lava-loihi2sim" if args.backend == "lava" else "snntorch",
            wall_time_s=wall, energy_model=model))
    paths = write_outputs(reports, args.out, model)
    sys.stdout.write(markdown(reports))
    print(f"wrote {', '.join(str(p) for p in paths.values())}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(lambda: run(build_parser().parse_args(argv)),
                       also=(_UsageError, ValueError, OSError))


if __name__ == "__main__":
    sys.exit(main())
