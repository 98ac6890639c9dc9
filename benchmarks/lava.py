"""Lava fidelity and speed: the encoder in Loihi 2's simulation against snnTorch.

    python -m benchmarks.lava CKPT [CKPT ...] [--audio IN.wav] [--seconds 20] [--out DIR]

Per checkpoint, on the audio (a file, else the built-in test split, else synthetic tones):
spike agreement of Lava's floating-point and fixed-point runs with the snnTorch encoder (z and
every hidden layer; float64 reference), whether the fixed-point run equals the integer replica
of neuro_codec.model.fixed_point, the payload bitrate of z (smallest exact format) in both
precisions, the SI-SNR of each z's first-stage decoding when the checkpoint has a decoder, and
simulation speed (steps/s, × real time; goal ≥ 5×). Prints a Markdown table, saves CSV + PNG
under --out.
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

# Run as a module (`python -m benchmarks.lava`): as a script, this file's folder would head
# sys.path and this file, lava.py, would shadow the `lava` package hardware.simulate imports.
from conversion.nir_export import encoder_to_nir
from hardware.simulate import simulate_audio
from neuro_codec.coding.costs import payload_bits
from neuro_codec.coding.formats import best_format
from neuro_codec.data.audio import SAMPLE_RATE_HZ, bits_per_second, load_audio
from neuro_codec.data.audio import n_frames as frames_of_samples
from neuro_codec.errors import CodecError
from neuro_codec.figures import pyplot, save_figure
from neuro_codec.fileio import atomic_path
from neuro_codec.model.arithmetic import Arithmetic
from neuro_codec.model.checkpoint import Checkpoint
from neuro_codec.model.fixed_point import simulate_fixed_point

SPEED_GOAL = 5.0


@dataclass
class Row:
    checkpoint: str
    label: str                         # model id, with the file when ids repeat
    model_id: str
    audio: str
    seconds: float
    float_equal: bool                  # every layer spike for spike
    float_agreement: list[float]       # per layer, fraction of neuron-steps equal
    fixed_agreement: list[float]
    fixed_equals_replica: bool
    float_payload_bps: float
    fixed_payload_bps: float
    float_steps_per_s: float
    fixed_steps_per_s: float
    float_realtime: float
    fixed_realtime: float
    si_snr_float_db: float | None = None
    si_snr_fixed_db: float | None = None
    note: str = ""


def _audio(path: str, seconds: float) -> tuple[str, np.ndarray]:
    n = int(seconds * SAMPLE_RATE_HZ)
    if path:
        return Path(path).name, load_audio(path)[:n]
    try:
        from neuro_codec.data.excerpts import split_audio

        pieces = split_audio(None, "test", seconds)
        if pieces:
            label = f"builtin test ({len(pieces)} piece{'s' if len(pieces) > 1 else ''})"
            return label, np.concatenate([x for _, x in pieces])
    except CodecError:
        pass
    from neuro_codec.data.synthetic import SyntheticTones

    return "synthetic tones", SyntheticTones(n_clips=1, clip_samples=n, seed=7)[0]["audio"].numpy()


def _payload_bps(z: np.ndarray, n_samples: int) -> float:
    bits = payload_bits(best_format(z), z.shape[0], z.shape[1], int(z.sum()))
    return bits_per_second(bits, n_samples)


def _si_snr(ckpt: Checkpoint, z: np.ndarray, audio: np.ndarray, n_samples: int) -> float:
    from neuro_codec.evaluation.metrics import si_snr_db

    codec = ckpt.build_codec()
    n_frames = frames_of_samples(n_samples, codec.hop)
    zt = torch.from_numpy(z[:, :n_frames].astype(np.float32)).unsqueeze(0)
    x = codec.decode(zt, n_samples)
    return si_snr_db(x[0].numpy(), audio[:n_samples])


def bench(path: str, audio_name: str, audio: np.ndarray, decode_seconds: float,
          progress: bool) -> Row:
    ckpt = Checkpoint.read(path)
    encoder = ckpt.build_encoder()
    graph = encoder_to_nir(encoder, model_id=ckpt.model_id)
    with torch.no_grad():
        _, trace = encoder.double()(torch.from_numpy(audio.astype(np.float64)),
                                    return_trace=True)
    ref = [t[0].numpy().astype(np.uint8) for t in trace.layers]
    fl = simulate_audio(graph, audio, Arithmetic.FLOAT, progress=progress)
    fx = simulate_audio(graph, audio, Arithmetic.FIXED, progress=progress)
    _, replica = simulate_fixed_point(encoder, audio)
    n_steps = fl.n_frames
    row = Row(
        checkpoint=path, label=ckpt.model_id, model_id=ckpt.model_id, audio=audio_name,
        seconds=audio.size / SAMPLE_RATE_HZ,
        float_equal=all(np.array_equal(a, b) for a, b in zip(fl.layers, ref)),
        float_agreement=[float((a == b).mean()) for a, b in zip(fl.layers, ref)],
        fixed_agreement=[float((a == b).mean()) for a, b in zip(fx.layers, ref)],
        fixed_equals_replica=all(np.array_equal(a, b[0].numpy()) for a, b in
                                 zip(fx.layers, replica.layers)),
        float_payload_bps=_payload_bps(fl.z, audio.size),
        fixed_payload_bps=_payload_bps(fx.z, audio.size),
        float_steps_per_s=n_steps / fl.wall_time_s, fixed_steps_per_s=n_steps / fx.wall_time_s,
        float_realtime=fl.realtime_factor, fixed_realtime=fx.realtime_factor,
    )
    if ckpt.has_codec:
        n = min(audio.size, int(decode_seconds * SAMPLE_RATE_HZ))
        row.si_snr_float_db = _si_snr(ckpt, fl.z, audio, n)
        row.si_snr_fixed_db = _si_snr(ckpt, fx.z, audio, n)
    else:
        row.note = "no decoder in checkpoint: SI-SNR skipped"
    return row


def print_table(rows: list[Row]) -> None:
    print("| model | audio (s) | float = snnTorch | float agreement (layers…z) | "
          "fixed agreement (layers…z) | fixed = replica | payload bps float / fixed (Δ) | "
          "SI-SNR dB float / fixed | steps/s float / fixed | × real time float / fixed |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        fa = " ".join(f"{100 * a:.2f}" for a in r.float_agreement)
        xa = " ".join(f"{100 * a:.2f}" for a in r.fixed_agreement)
        delta = 100 * (r.fixed_payload_bps / max(r.float_payload_bps, 1e-9) - 1)
        snr = (f"{r.si_snr_float_db:.2f} / {r.si_snr_fixed_db:.2f}"
               if r.si_snr_float_db is not None else "— (no decoder)")
        print(f"| {r.label} | {r.seconds:.1f} | {'yes' if r.float_equal else 'NO'} | {fa} | "
              f"{xa} | {'yes' if r.fixed_equals_replica else 'NO'} | "
              f"{r.float_payload_bps:.0f} / {r.fixed_payload_bps:.0f} ({delta:+.1f} %) | {snr} | "
              f"{r.float_steps_per_s:.0f} / {r.fixed_steps_per_s:.0f} | "
              f"{r.float_realtime:.1f} / {r.fixed_realtime:.1f} |")


def plot(rows: list[Row]):
    fig, (ax_a, ax_s) = pyplot().subplots(1, 2, figsize=(11, 4))
    width = 0.8 / max(len(rows), 1)
    for k, r in enumerate(rows):
        x = np.arange(len(r.fixed_agreement)) + k * width
        ax_a.bar(x, 100 * np.array(r.fixed_agreement), width, label=f"{r.label} fixed")
        ax_a.plot(x, 100 * np.array(r.float_agreement), "k_", markersize=12)
    n_layers = max(len(r.fixed_agreement) for r in rows)
    ax_a.set_xticks(np.arange(n_layers) + 0.4 - width / 2,
                    [f"layer {i}" if i < n_layers - 1 else "z" for i in range(n_layers)])
    ax_a.axhline(99, color="r", lw=0.8, ls="--", label="99 % target")
    lo = min(min(r.fixed_agreement) for r in rows) * 100
    ax_a.set_ylim(max(0, lo - 2), 100.5)
    ax_a.set_ylabel("neuron-steps equal to snnTorch (%)")
    ax_a.set_title("spike agreement (bars: fixed point; —: float)")
    ax_a.legend(fontsize=7)
    labels = [r.label.replace(" (", "\n(") for r in rows]
    x = np.arange(len(rows))
    ax_s.bar(x - 0.2, [r.float_realtime for r in rows], 0.4, label="float")
    ax_s.bar(x + 0.2, [r.fixed_realtime for r in rows], 0.4, label="fixed")
    ax_s.axhline(SPEED_GOAL, color="r", lw=0.8, ls="--", label=f"goal {SPEED_GOAL:.0f}×")
    ax_s.set_xticks(x, labels, fontsize=7)
    ax_s.set_ylabel("× real time (Loihi2SimCfg, CPU)")
    ax_s.set_title("Lava simulation speed")
    ax_s.legend(fontsize=7)
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoints", nargs="+", help="checkpoint files (.pt)")
    ap.add_argument("--audio", default="", help="wav file (default: built-in test split, else "
                    "synthetic tones)")
    ap.add_argument("--seconds", type=float, default=20.0, help="seconds of audio (default 20)")
    ap.add_argument("--decode-seconds", type=float, default=5.94,
                    help="seconds decoded for SI-SNR (default 5.94)")
    ap.add_argument("--out", default="out/benchmarks", help="folder for CSV and PNG")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    try:
        name, audio = _audio(args.audio, args.seconds)
        rows = [bench(p, name, audio, args.decode_seconds, not args.quiet)
                for p in args.checkpoints]
        ids = [r.model_id for r in rows]
        for r in rows:
            if ids.count(r.model_id) > 1:
                where = Path(r.checkpoint)
                r.label = f"{r.model_id} ({where.parent.name}/{where.name})"
    except (CodecError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"\nLava vs snnTorch; audio: {name}; agreement in % of neuron-steps")
    print_table(rows)
    for r in rows:
        if r.note:
            print(f"note ({r.label}): {r.note}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "lava.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(asdict(rows[0])))
        w.writeheader()
        for r in rows:
            w.writerow(asdict(r))
    save_figure(plot(rows), out / "lava.png", dpi=120)
    print(f"saved {out / 'lava.csv'} and {out / 'lava.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
