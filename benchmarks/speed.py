"""Encoder and decoder speed (real-time factors), and what the refiner's steps cost in SI-SNR.

    python -m benchmarks.speed [--checkpoint CKPT] [--refiner FILE] [--refiner-steps 1,2,4,8]
                               [--audio IN.wav] [--seconds 5.94]

Encoder: the snnTorch module (`forward`, float32 and float64) and the float64 fast path that
`neuro-codec encode` uses (spike-for-spike equal), on `--encoder-seconds` of audio.
Decoder: the first stage alone (0 steps) and with the flow-matching refiner (`--refiner`,
default the shipped refiner.pt when it exists) at `--refiner-steps` Euler steps, on the CPU
and, when one is present, on the GPU; SI-SNR of each against the original. Prints a Markdown
table and saves CSV + PNG under --out.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
import torch

from neuro_codec.data.audio import SAMPLE_RATE_HZ, load_audio
from neuro_codec.data.excerpts import split_excerpts
from neuro_codec.errors import CodecError
from neuro_codec.evaluation.metrics import si_snr_db
from neuro_codec.figures import pyplot, save_figure
from neuro_codec.fileio import atomic_path
from neuro_codec.model.arithmetic import Arithmetic, encode_events
from neuro_codec.model.checkpoint import Checkpoint
from neuro_codec.model.codec import Codec
from neuro_codec.model.presets import get_preset


def _test_audio(seconds: float) -> tuple[str, np.ndarray]:
    try:
        clips = split_excerpts(None, 1, seconds, "test")
        if clips:
            return clips[0]
    except CodecError:  # no rendered data: fall back to synthetic tones
        pass
    from neuro_codec.data.synthetic import SyntheticTones

    n = int(seconds * SAMPLE_RATE_HZ)
    clips = SyntheticTones(n_clips=1, clip_samples=n, seed=7)
    return "synthetic", clips[0]["audio"].numpy()


def _time(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def _refiner(choice: str):
    """The flow-matching refiner to time: a file, the shipped one if it exists, or None."""
    from neuro_codec.model.refiner import RefinerFile
    from neuro_codec.model.shipped import shipped_refiner_path

    if choice == "none":
        return None
    path = shipped_refiner_path() if choice == "shipped" else choice
    return None if path is None else RefinerFile.read(path).build()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", default="", help="trained checkpoint (default: a randomly "
                    "initialised small preset)")
    ap.add_argument("--audio", default="", help="audio file (default: a built-in test piece)")
    ap.add_argument("--seconds", type=float, default=5.94, help="decoded clip length")
    ap.add_argument("--encoder-seconds", type=float, default=60.0, help="audio for the "
                    "encoder timing")
    ap.add_argument("--refiner", default="shipped", help="flow-matching refiner file, or "
                    "'none' (default: the shipped refiner.pt, if it exists)")
    ap.add_argument("--refiner-steps", default="1,2,4,8", help="its Euler step counts (the "
                    "first stage alone, 0 steps, is always timed)")
    ap.add_argument("--out", default="out/benchmarks", help="folder for CSV and PNG")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    arithmetic = Arithmetic.FLOAT
    if args.checkpoint:
        ckpt = Checkpoint.read(args.checkpoint)
        codec, label = ckpt.build_codec(), ckpt.model_id
        arithmetic = ckpt.arithmetic
    else:
        preset = get_preset("small")
        codec, label = Codec(preset.encoder, preset.decoder).eval(), "small (random weights)"
    name, audio = ("file", load_audio(args.audio)) if args.audio else _test_audio(args.seconds)
    n_enc = int(args.encoder_seconds * SAMPLE_RATE_HZ)
    long = np.resize(audio, n_enc)
    rows = []

    enc = codec.encoder
    with torch.no_grad():
        x32 = torch.from_numpy(long).float().unsqueeze(0)
        t = _time(lambda: enc.float()(x32))
        rows.append(("encoder", "snnTorch forward, float32", "cpu", args.encoder_seconds / t, ""))
        x64 = x32.double()
        t = _time(lambda: enc.double()(x64))
        rows.append(("encoder", "snnTorch forward, float64", "cpu", args.encoder_seconds / t, ""))
        enc.float()
    t = _time(lambda: enc.run_float64(long), repeat=3)
    rows.append(("encoder", "float64 fast path (encode)", "cpu", args.encoder_seconds / t, ""))
    t = _time(lambda: encode_events(enc, long, Arithmetic.FIXED))
    rows.append(("encoder", "Loihi fixed-point replica (encode, --loihi-fixed models)", "cpu",
                 args.encoder_seconds / t, ""))

    n = int(args.seconds * SAMPLE_RATE_HZ)
    clip = audio[:n]
    z = torch.from_numpy(encode_events(enc, clip, arithmetic)).float().unsqueeze(0)
    refiner = _refiner(args.refiner)
    settings = [0] + ([int(s) for s in args.refiner_steps.split(",")]
                      if refiner is not None else [])
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        codec.to(device)
        if refiner is not None:
            refiner.to(device)
        for steps in settings:
            gen = torch.Generator(device=device).manual_seed(0)
            out = {}
            flow = refiner if steps else None

            def run(out=out, device=device, steps=steps, gen=gen, flow=flow):
                out["x"] = codec.decode(z.to(device), n, steps=steps, generator=gen,
                                        refiner=flow)

            t = _time(run, repeat=2)
            snr = si_snr_db(out["x"][0].cpu().numpy(), clip)
            setting = ("first stage" if steps == 0 else
                       f"+ flow-matching refiner, {steps} Euler steps")
            rows.append(("decoder", setting, device, args.seconds / t,
                         f"{snr:.2f}"))
        codec.to("cpu")

    print(f"\nspeed: {label}; audio {name}; torch threads {args.threads}")
    print("| part | setting | device | × real time | SI-SNR (dB) |")
    print("|---|---|---|---|---|")
    for part, setting, device, rtf, snr in rows:
        print(f"| {part} | {setting} | {device} | {rtf:.1f} | {snr} |")

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "speed.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["part", "setting", "device", "realtime_factor", "si_snr_db"])
        w.writerows(rows)
    fig, ax = pyplot().subplots(figsize=(8, 3.8))
    labels = [f"{p}: {s} ({d})" for p, s, d, _, _ in rows]
    ax.barh(labels, [r[3] for r in rows])
    ax.axvline(1.0, color="k", lw=0.8)
    ax.axvline(200.0, color="tab:red", lw=0.8, ls="--", label="encoder goal 200×")
    ax.axvline(10.0, color="tab:green", lw=0.8, ls=":", label="decoder goal 10× (CPU)")
    ax.set_xscale("log")
    ax.set_xlabel("× real time (log)")
    ax.set_title(f"speed: {label}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    save_figure(fig, out_dir / "speed.png", dpi=110)
    print(f"saved {out_dir / 'speed.csv'} and {out_dir / 'speed.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
