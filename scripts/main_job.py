"""The main job on the built-in data, start to end.

    render the built-in dataset → encode a test excerpt with each shipped checkpoint (.snc)
    → run the same encoder in Lava's Loihi simulation (same z?) → energy report
    → decode → rate–quality table of every codec against Opus (benchmarks/rate_quality.py:
    CSV, Markdown, PNGs, and the decoded clips it scored) → the same codecs on the test split
    played by the training pianos and by the held-out piano (benchmarks/generalization.py:
    silence, pre-echo and the noise floor between partials too) → spectrogram plot → selectivity of
    FREE's and SPARSE's events for piano notes (`neuro-codec analyze`) → the listening page
    (`neuro-codec report`: every codec side by side, to hear and to see, and played by the
    held-out piano), whose path it prints last. The RVQ baseline is coded to `.rvq` and skips Lava.

Each stage runs as its own process through the project's commands, exactly as a user would
run them (and so that Lava's multiprocessing start method is set in a fresh interpreter).
Outputs go to out/main/.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CHECKPOINTS = ROOT / "neuro_codec" / "checkpoints"

from benchmarks.checkpoints import shipped_flags  # noqa: E402
from neuro_codec.model.shipped import SHIPPED_PRESET  # noqa: E402


def stage(title: str, cmd: list[str]) -> None:
    print(f"\n=== {title}\n$ {' '.join(cmd)}", flush=True)
    t0 = time.time()
    r = subprocess.run(cmd, cwd=ROOT)
    if r.returncode != 0:
        sys.exit(f"main job: stage '{title}' failed with exit code {r.returncode}")
    print(f"({time.time() - t0:.1f} s)", flush=True)


def stages_side_by_side(stages: list[tuple[str, list[str]]]) -> None:
    """Run independent stages at once, one CPU thread each, then print each one's output in
    order. The two table stages are the main job's longest and each keeps one core busy (ViSQOL
    and the decoders are single-threaded at these sizes), so on a 2-core machine this halves
    their time; their output goes to a log each, so that it does not interleave."""
    import os
    import tempfile

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        for i, (title, cmd) in enumerate(stages):
            print(f"\n=== {title} (side by side)\n$ {' '.join(cmd)}", flush=True)
            log = open(Path(tmp) / f"{i}.log", "w+")
            runs.append((title, log, subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log,
                                                      stderr=subprocess.STDOUT)))
        failed = []
        for title, log, proc in runs:
            code = proc.wait()
            log.seek(0)
            print(f"\n--- output of '{title}'", flush=True)
            sys.stdout.write(log.read())
            log.close()
            if code != 0:
                failed.append(f"stage '{title}' failed with exit code {code}")
    if failed:
        sys.exit("main job: " + "; ".join(failed))
    print(f"({time.time() - t0:.1f} s for {len(stages)} stages side by side)", flush=True)


def plot_spectrograms(reference: Path, decoded: list[Path], png: Path) -> None:
    import numpy as np

    from neuro_codec.data.audio import SAMPLE_RATE_HZ, load_audio
    from neuro_codec.figures import pyplot, save_figure

    paths = [reference, *decoded]
    fig, axes = pyplot().subplots(len(paths), 1, figsize=(10, 2.4 * len(paths)), sharex=True)
    axes = np.atleast_1d(axes)
    for ax, path in zip(axes, paths):
        ax.specgram(load_audio(path, quiet=True), NFFT=1024, Fs=SAMPLE_RATE_HZ, noverlap=768,
                    cmap="magma", vmin=-120)
        ax.set_ylim(0, 8000)
        ax.set_ylabel("Hz")
        ax.set_title(path.name, fontsize=9)
    axes[-1].set_xlabel("s")
    fig.tight_layout()
    save_figure(fig, png, dpi=100)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=16,
                    help="test clips in the table (default 16, from at least 8 pieces)")
    ap.add_argument("--seconds", type=float, default=10.0,
                    help="length of the excerpt coded end to end (default 10)")
    ap.add_argument("--energy-seconds", type=float, default=60.0,
                    help="audio for the Lava energy report (default 60)")
    ap.add_argument("--steps", type=int, default=None,
                    help="refiner steps of the excerpt's decodes (default: decode's, the "
                         "shipped refiner file's K)")
    ap.add_argument("--excerpts", type=int, default=4,
                    help="excerpts on the listening page, from different pieces (default 4)")
    ap.add_argument("--out", default="out/main", help="output folder (default out/main)")
    args = ap.parse_args(argv)
    out = ROOT / args.out
    out.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    nc = [py, "-m", "neuro_codec"]
    steps = [] if args.steps is None else ["--steps", str(args.steps)]

    stage("render the built-in dataset", nc + ["data", "render"])
    # The models, not the refiner that ships beside them (refiner.pt, another file format).
    ckpts = sorted(CHECKPOINTS.glob(f"*-{SHIPPED_PRESET}.pt"))
    if not ckpts:
        print("no shipped checkpoint under neuro_codec/checkpoints: model stages skipped")

    from neuro_codec.data.audio import save_audio
    from neuro_codec.data.excerpts import split_excerpts

    name, excerpt = split_excerpts(None, 1, args.seconds, "test")[0]
    ref = out / "excerpt.wav"
    save_audio(ref, excerpt)
    print(f"\nexcerpt: {name} ({args.seconds:g} s) → {ref}")
    from neuro_codec.model.checkpoint import Checkpoint
    from neuro_codec.model.presets import ModelKind

    # Checkpoints fine-tuned with --loihi-fixed define their events by Loihi's fixed point:
    # their Lava run is the fixed_pt one, and it must equal the .snc spike for spike.
    read = {c: Checkpoint.read(c) for c in ckpts}
    precision = {c: read[c].arithmetic.value for c in ckpts}
    kinds = {c: read[c].kind for c in ckpts}
    spiking = [c for c in ckpts if kinds[c] is not ModelKind.RVQ]
    decoded = []
    for ckpt in ckpts:
        tag = ckpt.stem
        if kinds[ckpt] is ModelKind.RVQ:   # the baseline: its own container, no Lava
            rvq, wav = out / f"{tag}.rvq", out / f"{tag}.wav"
            stage(f"{tag}: encode (RVQ baseline)", nc + ["encode", str(ref), str(rvq),
                                                         "--checkpoint", str(ckpt)])
            stage(f"{tag}: decode", nc + ["decode", str(rvq), str(wav), "--checkpoint",
                                          str(ckpt), *steps])
            decoded.append(wav)
            continue
        snc, z_lava, wav = out / f"{tag}.snc", out / f"{tag}-lava-z.npy", out / f"{tag}.wav"
        stage(f"{tag}: encode", nc + ["encode", str(ref), str(snc), "--checkpoint",
                                                 str(ckpt)])
        stage(f"{tag}: .snc header", nc + ["info", str(snc)])
        stage(f"{tag}: the same encoder in Lava's Loihi simulation",
              [py, "-m", "hardware.simulate", "--checkpoint", str(ckpt), str(ref),
               "--events-out", str(z_lava)])     # in the checkpoint's own arithmetic
        import numpy as np

        from neuro_codec.coding.bitstream import read_snc

        same = np.array_equal(read_snc(snc)[1], np.load(z_lava))
        print(f"Lava ({precision[ckpt]}) z equals the z in the .snc, spike for spike: {same}")
        if not same:
            sys.exit(f"main job: {tag}: Lava's {precision[ckpt]} z differs from the .snc")
        stage(f"{tag}: decode", nc + ["decode", str(snc), str(wav), "--checkpoint", str(ckpt),
                                      *steps])
        decoded.append(wav)
    if spiking:
        stage("events, operations and energy per second of audio (Lava)",
              [py, "-m", "hardware.energy", "--checkpoint", *map(str, spiking), "--split",
               "test", "--max-seconds", str(args.energy_seconds), "--out", str(out / "energy")])
        print((out / "energy" / "report.md").read_text())
    shipped = shipped_flags()   # the shipped checkpoint of each kind, or "none" where missing
    stages_side_by_side([
        ("rate–quality table: FREE, SPARSE, μ-SPARSE (levels and quality-controlled), RVQ, "
         "Opus 6/12 kbps on the same test clips",
         [py, "-m", "benchmarks.rate_quality", "--clips", str(args.clips), "--out",
          str(out / "rate_quality"), *shipped]),
        ("pianos it has never heard: every codec on the test split played by the training "
         "pianos and by the held-out piano",
         [py, "-m", "benchmarks.generalization", "--clips", str(args.clips), "--out",
          str(out / "generalization"), *shipped]),
    ])
    plot_spectrograms(ref, decoded, out / "spectrograms.png")
    figure5 = [c for c in spiking if kinds[c] in (ModelKind.FREE, ModelKind.SPARSE)]
    if figure5:
        stage("selectivity of the events for piano notes (the paper's Figure 5)",
              nc + ["analyze", "--checkpoint", *map(str, figure5), "--out",
                    str(out / "analysis")])
    page = out / "report"
    held_out = out / "generalization" / "held-out"
    stage("listening page: every codec side by side, to hear and to see",
          nc + ["report", "--from", str(out / "rate_quality"), "--out", str(page),
                "--excerpts", str(args.excerpts)]
          + (["--held-out", str(held_out)] if (held_out / "clips.json").is_file() else [])
          + (["--energy", str(out / "energy")] if spiking else [])
          + (["--selectivity", str(out / "analysis")] if figure5 else []))
    print(f"\nmain job done: {out} (rate_quality/, generalization/, energy/, analysis/, "
          f"report/, spectrograms.png, *.snc, *.rvq, *.wav)")
    print(f"listening page (open it in a browser): {(page / 'index.html').resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
