"""`python -m hardware.energy`: events, operations and energy per second of audio, from Lava.

For each checkpoint: export the encoder to NIR (`conversion.nir_export`), run it in Lava's
Loihi simulation on the audio (`hardware.simulate`), count per layer what Lava produced
(`hardware.counts`), price it (`hardware.energy_model`) and write report.json, report.md and
energy.png (`hardware.report`). Each checkpoint runs in its own arithmetic
(`Checkpoint.arithmetic`, as `neuro-codec encode` does) unless `--precision` overrides it, so
that the events counted are the events the `.snc` stores; `--backend snntorch` computes the
same rasters without Lava (Loihi fixed point: `simulate_fixed_point`; float: the float64
encoder). Usage errors are argparse's (exit 2); bad input gets one `error: …` line on stderr
and exit code 1.
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

from hardware.counts import (
    Connectivity,
    NetworkCounts,
    count_events,
    count_simulation,
    encoder_rasters,
)
from hardware.energy_model import CONSTANTS, EnergyModel
from hardware.report import build_report, markdown, write_outputs
from neuro_codec.commands.arguments import non_negative_float, positive_float
from neuro_codec.data.audio import SAMPLE_RATE_HZ, load_audio
from neuro_codec.errors import CodecError, run_command, writing
from neuro_codec.fileio import atomic_path
from neuro_codec.model.arithmetic import Arithmetic
from neuro_codec.model.checkpoint import load_encoder

BACKENDS = ("lava", "snntorch")


class EnergyError(CodecError):
    """Input the energy report cannot use (missing pieces of the stack, empty audio, …)."""


@dataclass(frozen=True)
class Clip:
    name: str
    audio: np.ndarray  # [samples] float32 at SAMPLE_RATE_HZ


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m hardware.energy",
        description="Run encoders in Lava's Loihi simulation and report events, operations "
                    "and estimated energy per second of audio (see docs/energy.md).")
    p.add_argument("--checkpoint", nargs="+", required=True, metavar="CKPT",
                   help="one or more checkpoints (e.g. a FREE and a SPARSE one, side by side)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--audio", default=None, metavar="IN.wav",
                     help="an audio file (resampled to 22,050 Hz mono)")
    src.add_argument("--split", choices=("train", "validation", "test"), default=None,
                     help="every piece of this split of the built-in dataset")
    p.add_argument("--root", default=None,
                   help="built-in dataset folder for --split (default: $NEURO_CODEC_DATA or "
                        "data/builtin)")
    p.add_argument("--out", default="out/energy", metavar="DIR",
                   help="output folder for report.json, report.md and energy.png "
                        "(default out/energy)")
    p.add_argument("--precision", choices=[a.value for a in Arithmetic], default=None,
                   help="override every checkpoint's arithmetic: Lava's floating-point or Loihi "
                        "fixed-point model (default: each checkpoint's own, as `neuro-codec "
                        "encode` uses it)")
    p.add_argument("--max-seconds", type=positive_float, default=None, metavar="S",
                   help="use at most S seconds of audio in all (default: all of it)")
    p.add_argument("--backend", choices=BACKENDS, default="lava",
                   help="what produces the spikes: Lava (the product) or the snnTorch encoder "
                        "in the same arithmetic (a cross-check; the report names the backend). "
                        "Default: lava")
    p.add_argument("--static-power", action="store_true",
                   help=f"add Loihi static power "
                        f"({CONSTANTS['loihi_static_power_per_core_mw'].value} mW per core, one "
                        f"core per layer); it dominates a network this small. Default: off")
    p.add_argument("--hops", type=non_negative_float, default=1.0,
                   help="tile hops per spike sent to another layer (default: 1)")
    p.add_argument("--mu", type=int, default=None, help="the level mu-sparse checkpoints run "
                   "at (default: their middle level; other models ignore it)")
    p.add_argument("--save-events", action="store_true",
                   help="also write the z that was counted, DIR/events/<model id>/<clip>.npy "
                        "((N, T) uint8, as `hardware.simulate --events-out`). Default: off")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _load_clips(args) -> list[Clip]:
    """The audio to run, cut to --max-seconds in all."""
    if args.audio is not None:
        audio = load_audio(args.audio)
        if args.max_seconds is not None:
            audio = audio[:int(round(args.max_seconds * SAMPLE_RATE_HZ))]
        return [Clip(Path(args.audio).stem, audio)]
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


def measure(encoder, clips: list[Clip], backend: str = "lava",
            arithmetic: Arithmetic | str = Arithmetic.FLOAT, progress: bool = False,
            label: str = "", events: dict[str, np.ndarray] | None = None,
            ) -> tuple[Connectivity, NetworkCounts, float, float]:
    """Run one encoder over the clips in `arithmetic` and sum the counts.

    Args:
        events: if given, filled with {clip name: z [N, T] uint8} of what was counted.
    Returns:
        (connectivity, counts, seconds of audio, wall-clock seconds of simulation).
    """
    arithmetic = Arithmetic(arithmetic)
    counts, seconds, wall = None, 0.0, 0.0
    if backend == "lava":
        encoder_to_nir, simulate_audio = _lava_stack()
        graph = encoder_to_nir(encoder)
        conn = Connectivity.from_nir(graph)
        if conn.structure() != Connectivity.from_encoder(encoder).structure():
            print("note: the NIR graph's connectivity differs from the torch module's; "
                  "counting the NIR graph (what Lava ran)", file=sys.stderr)
    elif backend == "snntorch":
        conn = Connectivity.from_encoder(encoder)
    else:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    for clip in tqdm(clips, desc=label or backend, unit="clip", disable=not progress):
        if backend == "lava":
            result = simulate_audio(graph, clip.audio, arithmetic=arithmetic)
            c = count_simulation(conn, result)
            z = result.z
            seconds += result.n_audio_samples / result.sample_rate_hz
            wall += result.wall_time_s
        else:
            t0 = time.perf_counter()
            layers, inputs = encoder_rasters(encoder, clip.audio, arithmetic)
            c = count_events(conn, layers, inputs)
            z = layers[-1]
            wall += time.perf_counter() - t0
            seconds += len(clip.audio) / SAMPLE_RATE_HZ
        if events is not None:
            events[clip.name] = np.asarray(z, dtype=np.uint8)
        counts = c if counts is None else counts + c
    return conn, counts, seconds, wall


def run(args) -> int:
    if args.backend == "lava":
        _lava_stack()   # fail before loading anything heavy
    encoders = []
    for path in args.checkpoint:
        # μ-SPARSE: the level --mu gives (default the middle); other kinds ignore it
        loaded = load_encoder(path, args.mu, args.precision, mu_only_where_levels=True)
        if any(loaded.model_id == m for _, m, _, _ in encoders):
            raise EnergyError(f"{path}: model {loaded.model_id} was given twice")
        encoders.append((loaded.encoder, loaded.model_id, loaded.label, loaded.arithmetic))
    clips = _load_clips(args)
    if not clips or sum(len(c.audio) for c in clips) == 0:
        raise EnergyError("no audio to run")
    model = (EnergyModel.with_static_power(hops_per_inter_layer_spike=args.hops)
             if args.static_power else EnergyModel(hops_per_inter_layer_spike=args.hops))
    reports, events = [], {}
    for encoder, model_id, kind, arithmetic in encoders:
        z = events.setdefault(model_id, {}) if args.save_events else None
        conn, counts, seconds, wall = measure(encoder, clips, args.backend, arithmetic,
                                              progress=not args.quiet, label=model_id, events=z)
        reports.append(build_report(
            model_id, kind, counts, conn, seconds,
            SAMPLE_RATE_HZ / encoder.config.frame_samples, precision=arithmetic.value,
            backend="lava-loihi2sim" if args.backend == "lava" else "snntorch",
            wall_time_s=wall, energy_model=model))
    out = Path(args.out)
    with writing(out):
        paths = write_outputs(reports, out, model)
        for model_id, by_clip in events.items():
            for name, z in by_clip.items():
                with atomic_path(out / "events" / model_id / f"{name}.npy") as tmp:
                    np.save(tmp, z, allow_pickle=False)
    sys.stdout.write(markdown(reports))
    print(f"wrote {', '.join(str(p) for p in paths.values())}"
          + (f" and {out / 'events'}" if events else ""), file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
