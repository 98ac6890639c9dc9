"""Training speed of the `small` recipe on one thread: steps/s of the current step against the
reference (the step before the fast loop), and where a step's time goes.

    python -m benchmarks.train_speed [--models free,sparse] [--steps 12] [--repeats 3]

Both paths train the same model from the same weights on the same batches, interleaved
(path A, path B, A, B, …) so that a busy machine slows both alike. The reference path is the
current code with the old pieces put back: the 7 torchaudio mel transforms and 3 torch.stft
calls of the loss (a Hann window built per call), snnTorch's `Leaky` called per step in the
encoder, and AdamW's per-parameter loop. steps/s are per CPU second of the process (what one
thread delivers; wall-clock steps/s too). Prints Markdown tables (steps/s; the step split into
encoder, decoder, loss, backward, optimiser; torch.profiler's top operations by self CPU time)
and saves CSV + PNG under --out.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import statistics
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from neuro_codec.data.audio import SAMPLE_RATE_HZ
from neuro_codec.figures import pyplot, save_figure
from neuro_codec.fileio import atomic_path
from neuro_codec.model import codec as codec_module
from neuro_codec.model import encoder as encoder_module
from neuro_codec.model.decoder import istft
from neuro_codec.model.losses import STFT_SIZES, LossConfig, silence_loss
from neuro_codec.model.spectral import MEL_WINDOWS, mel_transforms
from neuro_codec.training.batches import draw_batch, make_dataset
from neuro_codec.training.config import TrainConfig
from neuro_codec.training.loop import _model_and_optimizer, _sparsity

PATHS = ("reference", "current")
SECTIONS = ("encoder", "decoder", "loss", "backward", "optimiser")


def reference_reconstruction_loss(estimate: torch.Tensor, reference: torch.Tensor,
                                  cfg: LossConfig) -> dict[str, torch.Tensor]:
    """The loss as it was computed before the fast loop: each mel scale a torchaudio
    MelSpectrogram of estimate and reference, each complex STFT a torch.stft with a fresh
    window. The same function as `losses.reconstruction_loss` (tests/test_losses.py)."""
    mel = estimate.new_zeros(())
    for transform in mel_transforms(SAMPLE_RATE_HZ, str(estimate.device)):
        mel = mel + (torch.log(transform(estimate).clamp(min=cfg.mel_floor))
                     - torch.log(transform(reference).clamp(min=cfg.mel_floor))).abs().mean()
    stft = estimate.new_zeros(())
    for n_fft in STFT_SIZES:
        window = torch.hann_window(n_fft, device=estimate.device)
        s_hat, s = (torch.stft(x, n_fft, n_fft // 4, window=window, return_complex=True)
                    for x in (estimate, reference))
        stft = stft + (s_hat - s).abs().mean() / (s.abs().mean() + 1e-8)
    terms = {"mel": mel / len(MEL_WINDOWS), "stft": stft / len(STFT_SIZES),
             "wave": (estimate - reference).abs().mean(),
             "silence": (silence_loss(estimate, reference, cfg.silence_floor_dbfs)
                         if cfg.silence_weight else estimate.new_zeros(()))}
    terms["loss"] = (cfg.mel_weight * terms["mel"] + cfg.stft_weight * terms["stft"]
                     + cfg.wave_weight * terms["wave"] + cfg.silence_weight * terms["silence"])
    return terms


def reference_lif_steps(lif, current: torch.Tensor, rec) -> torch.Tensor:
    """The encoder's layer loop as it was: snnTorch's `Leaky` module called once per step."""
    mem = torch.zeros_like(current[:, 0])
    spk = torch.zeros_like(current[:, 0])
    out = []
    for t in range(current.shape[1]):
        cur = current[:, t] if rec is None else current[:, t] + rec(spk)
        spk, mem = lif(cur, mem)
        out.append(spk)
    return torch.stack(out, dim=1)


@contextlib.contextmanager
def reference_path():
    """Put the reference loss and encoder loop in place of the current ones (restored after)."""
    saved = codec_module.reconstruction_loss, encoder_module._lif_steps
    codec_module.reconstruction_loss = reference_reconstruction_loss
    encoder_module._lif_steps = reference_lif_steps
    try:
        yield
    finally:
        codec_module.reconstruction_loss, encoder_module._lif_steps = saved


class Run:
    """One path's model, optimiser and step (the loop's: batch, forward, backward, AdamW)."""

    def __init__(self, cfg: TrainConfig, path: str, dataset):
        self.cfg, self.path, self.dataset = cfg, path, dataset
        self.model, self.opt = _model_and_optimizer(cfg, torch.device("cpu"))
        if path == "reference":   # AdamW's default CPU implementation: a loop per parameter
            self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, betas=cfg.betas,
                                         eps=cfg.eps, weight_decay=cfg.weight_decay)
        self.model.train()
        self.step_index = 0

    def context(self):
        return reference_path() if self.path == "reference" else contextlib.nullcontext()

    def step(self, seconds: dict[str, float] | None = None) -> float:
        """One training step; with `seconds`, adds each section's CPU seconds to it."""
        cfg, model, step = self.cfg, self.model, self.step_index
        self.step_index += 1
        clock = _Clock(seconds)
        with self.context():
            audio = draw_batch(self.dataset, cfg.effective_batch_size, cfg.seed, step, 0)
            z = model.encoder(audio)
            clock.lap("encoder")
            x_hat = istft(model.first_stage(z), model.cfg, audio.shape[-1])
            clock.lap("decoder")
            terms = codec_module.reconstruction_loss(x_hat, audio, model.loss_config)
            beta, penalty = _sparsity(cfg, step, z, None)
            loss = terms["loss"] + beta * penalty
            clock.lap("loss")
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            clock.lap("backward")
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            self.opt.step()
            clock.lap("optimiser")
        return loss.item()


class _Clock:
    def __init__(self, seconds: dict[str, float] | None):
        self.seconds, self.t = seconds, time.process_time()

    def lap(self, name: str) -> None:
        if self.seconds is not None:
            now = time.process_time()
            self.seconds[name] = self.seconds.get(name, 0.0) + now - self.t
            self.t = now


def measure(runs: dict[str, Run], steps: int, repeats: int) -> dict[str, dict[str, float]]:
    """Median steps/s (per CPU second and per wall second) of each path, interleaved."""
    cpu: dict[str, list[float]] = {p: [] for p in runs}
    wall: dict[str, list[float]] = {p: [] for p in runs}
    for run in runs.values():   # warm-up: caches, allocator, first-call costs
        run.step()
    for _ in range(repeats):
        for path, run in runs.items():
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(steps):
                run.step()
            cpu[path].append(steps / (time.process_time() - c0))
            wall[path].append(steps / (time.perf_counter() - w0))
    return {p: {"cpu": statistics.median(cpu[p]), "wall": statistics.median(wall[p])}
            for p in runs}


def split(run: Run, steps: int) -> dict[str, float]:
    """Mean CPU milliseconds per step in each of SECTIONS."""
    seconds: dict[str, float] = {}
    for _ in range(steps):
        run.step(seconds)
    return {k: 1e3 * seconds[k] / steps for k in SECTIONS}


def top_ops(run: Run, steps: int, rows: int) -> list[tuple[str, float, int]]:
    """torch.profiler's top operations by self CPU time: (name, ms per step, calls per step)."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            run.step()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    return [(e.key, e.self_cpu_time_total / 1e3 / steps, round(e.count / steps))
            for e in events[:rows]]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="free,sparse", help="model kinds to time (the small "
                    "preset each)")
    ap.add_argument("--steps", type=int, default=12, help="steps per timed repeat")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repeats (median)")
    ap.add_argument("--profile-steps", type=int, default=5, help="steps of the time split and "
                    "of the profile (0: none)")
    ap.add_argument("--top", type=int, default=12, help="rows of the profile table")
    ap.add_argument("--paths", default=",".join(PATHS), help="paths to time: reference, "
                    "current or both")
    ap.add_argument("--out", default="out/benchmarks", help="folder for CSV and PNG")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    paths = [p for p in args.paths.split(",") if p]
    unknown = set(paths) - set(PATHS)
    if unknown:
        ap.error(f"unknown path(s) {sorted(unknown)}; choose from {', '.join(PATHS)}")

    rows, splits = [], {}
    for model in args.models.split(","):
        cfg = TrainConfig(model=model, preset="small")
        dataset = make_dataset(cfg)
        runs = {p: Run(cfg, p, dataset) for p in paths}
        speed = measure(runs, args.steps, args.repeats)
        for p in paths:
            rows.append((model, p, speed[p]["cpu"], speed[p]["wall"]))
            if args.profile_steps:
                splits[(model, p)] = split(runs[p], args.profile_steps)
        if args.profile_steps:
            for p in paths:
                print(f"\ntop operations, {model} {p} (self CPU ms per step, calls per step)")
                print("| operation | ms/step | calls/step |\n|---|---|---|")
                for name, ms, calls in top_ops(runs[p], args.profile_steps, args.top):
                    print(f"| {name} | {ms:.1f} | {calls} |")

    base = {m: c for m, p, c, _ in rows if p == "reference"}
    print("\ntraining speed, small preset, 1 thread (median of interleaved repeats)")
    print("| model | path | steps/s (CPU time) | steps/s (wall) | speed-up |")
    print("|---|---|---|---|---|")
    for model, p, c, w in rows:
        up = f"{c / base[model]:.2f}×" if model in base else ""
        print(f"| {model} | {p} | {c:.2f} | {w:.2f} | {up} |")
    if splits:
        print("\nstep split (CPU ms per step)")
        print("| model | path | " + " | ".join(SECTIONS) + " | total |")
        print("|---|---|" + "---|" * (len(SECTIONS) + 1))
        for (model, p), ms in splits.items():
            print(f"| {model} | {p} | " + " | ".join(f"{ms[k]:.1f}" for k in SECTIONS)
                  + f" | {sum(ms.values()):.1f} |")

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "train_speed.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", "path", "steps_per_cpu_second", "steps_per_wall_second",
                    *(f"{k}_ms" for k in SECTIONS)])
        for model, p, c, wall in rows:
            ms = splits.get((model, p), {})
            w.writerow([model, p, f"{c:.3f}", f"{wall:.3f}",
                        *(f"{ms[k]:.2f}" if ms else "" for k in SECTIONS)])
    if splits:
        save_figure(plot_split(splits), out_dir / "train_speed.png")
        print(f"\nwrote {out_dir / 'train_speed.csv'} and {out_dir / 'train_speed.png'}")
    return 0


def plot_split(splits: dict[tuple[str, str], dict[str, float]], ax=None):
    """Stacked bars: CPU ms per step in each section, one bar per (model, path)."""
    if ax is None:
        fig, ax = pyplot().subplots(figsize=(8, 0.6 * len(splits) + 1.6))
    else:
        fig = ax.figure
    labels = [f"{m} {p}" for m, p in splits]
    left = [0.0] * len(splits)
    for k in SECTIONS:
        widths = [ms[k] for ms in splits.values()]
        ax.barh(labels, widths, left=left, label=k)
        left = [a + b for a, b in zip(left, widths)]
    ax.set_xlabel("CPU ms per training step (1 thread)")
    ax.set_title("where a small-recipe step's time goes")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    raise SystemExit(main())
