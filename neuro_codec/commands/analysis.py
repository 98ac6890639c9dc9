"""`neuro-codec analyze`: selectivity and synchrony of a model's events with the key strikes.

Encodes the clips of a split (as `encode` would: the checkpoint's own arithmetic), takes the
note onsets from the aligned MIDI, and prints and plots the summary of
`neuro_codec.evaluation.selectivity`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from neuro_codec.commands.arguments import positive_int
from neuro_codec.errors import CodecError, writing
from neuro_codec.figures import save_figure
from neuro_codec.fileio import write_bytes_atomic


def model_events(checkpoint: str, clips: list[dict], progress: bool = False):
    """(label, z [clips, N, T]) of a checkpoint on dataset items, in its arithmetic (a
    μ-SPARSE model at its middle level, as `neuro-codec encode` codes by default)."""
    from tqdm.auto import tqdm

    from neuro_codec.model.arithmetic import encode_events
    from neuro_codec.model.checkpoint import load_encoder

    loaded = load_encoder(checkpoint)
    z = np.stack([encode_events(loaded.encoder, c["audio"].numpy(), loaded.arithmetic)
                  [:, : c["onsets"].shape[1]]
                  for c in tqdm(clips, disable=not progress, desc=f"encode {loaded.label}")])
    level = "" if loaded.mu is None else f", μ {loaded.mu}"
    return f"{loaded.label} ({loaded.model_id}{level})", z


def _analyze(args) -> int:
    from neuro_codec.data import dataset as ds
    from neuro_codec.evaluation.selectivity import (
        MIN_PEAK_PAIRS,
        NOTE_NAMES,
        NOTE_PITCHES,
        event_onset_correlation,
        peak_prominence,
        plot_selectivity,
        summarize,
    )

    root = args.root or ds.default_root()
    if args.data == "builtin":
        ds.ensure_builtin(root, progress=True)
    data = ds.ClipDataset(root, args.split, clip_samples=2**17, data=args.data)
    if len(data) == 0:
        raise CodecError(f"split {args.split!r} has no clip of 2^17 samples")
    idx = np.linspace(0, len(data) - 1, min(args.clips, len(data))).round().astype(int)
    clips = [data[int(i)] for i in dict.fromkeys(idx)]
    onsets = np.stack([c["onsets"].numpy()[list(NOTE_PITCHES)] for c in clips])
    results, summaries = {}, {}
    print(f"{len(clips)} clips of 5.94 s from {args.split}; {int(onsets.sum())} onsets of "
          f"{', '.join(NOTE_NAMES)}")
    for path in args.checkpoint:
        label, z = model_events(path, clips, progress=True)
        corr, lags = event_onset_correlation(z, onsets)
        phi = peak_prominence(corr, lags)
        s = summarize(corr, lags, phi, clips=len(clips),
                      events_per_clip=float(z.sum(axis=(1, 2)).mean()))
        results[label], summaries[label] = (corr, lags, phi), s
        print(f"\n{label}: {s.events_per_clip:.0f} events per clip")
        print(f"  units selective for a note (φ > 3/{len(NOTE_NAMES)}, ≥ {MIN_PEAK_PAIRS} "
              f"event–onset pairs at the peak): "
              f"{s.selective_units} of {s.units}  "
              + " ".join(f"{n}:{k}" for n, k in s.selective_by_note.items()))
        print(f"  correlation at τ ∈ [−1, 0]: {s.peak_at_zero:.4g}, baseline (|τ| > 5): "
              f"{s.baseline:.4g}, ratio {s.peak_over_baseline:.2f}")
    out = Path(args.out)
    fig = plot_selectivity(results)
    with writing(out):
        out.mkdir(parents=True, exist_ok=True)
        save_figure(fig, out / "selectivity.png", dpi=110)
        write_bytes_atomic(out / "selectivity.json", json.dumps(
            {k: v.to_dict() for k, v in summaries.items()}, indent=2).encode())
    print(f"\nsaved {out / 'selectivity.png'} and selectivity.json")
    return 0


def register(sub) -> None:
    p = sub.add_parser("analyze", help="selectivity of the events for piano notes "
                       "(the paper's Figure 5)")
    p.add_argument("--checkpoint", nargs="+", required=True,
                   help="trained checkpoints, drawn side by side (e.g. FREE and SPARSE)")
    p.add_argument("--split", default="test", choices=("train", "validation", "test"),
                   help="data split (default test)")
    p.add_argument("--data", default="builtin", choices=("builtin", "maestro"),
                   help="dataset (default builtin)")
    p.add_argument("--root", default="", help="dataset folder (default data/builtin)")
    p.add_argument("--clips", type=positive_int, default=200,
                   help="clips of 5.94 s, evenly spread over the split (default 200)")
    p.add_argument("--out", default="out/analysis", metavar="DIR",
                   help="folder for the PNG and JSON (default out/analysis)")
    p.set_defaults(func=_analyze)
