"""Opus baselines on the test split: SI-SNR, mel distance and ViSQOL at 6 and 12 kbps.

    python benchmarks/baselines.py [--root DIR] [--data builtin|maestro] [--clips 8]
                                   [--seconds 5.94] [--bitrates 6 12] [--no-visqol]
                                   [--out out/benchmarks]

Each clip (22,050 Hz mono) goes through `opusenc --hard-cbr --bitrate K` and `opusdec` at
48 kHz, Opus' own rate, and is resampled back to 22,050 Hz. opusdec drops the encoder's
pre-skip and trims the end to the stream's granule position, so the decoded signal is
sample-aligned with the input (checked: the SI-SNR peaks at lag 0) and only needs cutting to
the input's length. Metrics are `neuro_codec.metrics`' (the paper's definitions).

The table is kept in `--out/baselines.csv` and drawn in `--out/baselines.png`;
`write_table(rows, out_dir)` adds or replaces rows by (codec, kbps), so later codecs extend
the same table. ViSQOL costs a few seconds per clip, hence the default of 8 clips of
2^17 samples (5.94 s), one per test piece, taken in turn from each source.
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from neuro_codec.audio import SAMPLE_RATE_HZ, load_audio, resample  # noqa: E402
from neuro_codec.errors import CodecError, DataError  # noqa: E402
from neuro_codec.fileio import atomic_path, write_bytes_atomic  # noqa: E402
from neuro_codec.metrics import mel_distance, si_snr_db, visqol_score  # noqa: E402

OPUS_RATE_HZ = 48_000
TABLE_NAME = "baselines"
COLUMNS = ("codec", "kbps", "si_snr_db", "mel_distance", "visqol", "file_kbps", "clips")
METRICS = (("si_snr_db", "SI-SNR (dB)"), ("mel_distance", "mel distance"),
           ("visqol", "ViSQOL (MOS-LQO)"))


def split_excerpts(root: str | Path | None, n_clips: int, seconds: float, split: str = "test",
               data: str = "builtin") -> list[tuple[str, np.ndarray]]:
    """Up to `n_clips` excerpts of `seconds` from the split's pieces.

    The first excerpt of every piece comes before any second one, and pieces are taken in
    turn from each source (generated, music21 piano, music21 chorale, …), so that a handful
    of clips covers every kind of music.

    Returns:
        [(name "piece@start_s", waveform float32 [samples])].
    """
    from neuro_codec.dataset import load_manifest

    n = int(round(seconds * SAMPLE_RATE_HZ))
    pieces = [p for p in load_manifest(root, data=data) if p.split == split]
    by_source: dict[str, list] = {}
    for p in pieces:
        by_source.setdefault(p.source, []).append(p)
    queues = list(by_source.values())
    order = [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]
    if data == "maestro":
        from neuro_codec import maestro

        maestro.prepare_audio(root, order)
    audio: dict[str, np.ndarray] = {}
    clips: list[tuple[str, np.ndarray]] = []
    for k in range(1000):
        added = False
        for p in order:
            if len(clips) == n_clips:
                return clips
            if p.id not in audio:
                audio[p.id] = load_audio(p.wav_path, quiet=True)
            if (k + 1) * n <= audio[p.id].size:
                clips.append((f"{p.id}@{k * seconds:g}s", audio[p.id][k * n:(k + 1) * n]))
                added = True
        if not added:
            break
    return clips


def opus_roundtrip(x: np.ndarray, kbps: float,
                   sample_rate_hz: int = SAMPLE_RATE_HZ) -> tuple[np.ndarray, int]:
    """Code `x` with Opus at a hard constant `kbps` and decode it.

    Returns:
        (decoded float32 [len(x)] at `sample_rate_hz`, size of the .opus file in bits).
    Raises:
        DataError: opus-tools is missing or a tool fails.
    """
    for tool in ("opusenc", "opusdec"):
        if shutil.which(tool) is None:
            raise DataError(f"{tool} is not installed: "
                            "apt-get install --no-install-recommends opus-tools")
    with tempfile.TemporaryDirectory(prefix="neuro_codec_opus_") as tmp:
        src, coded, dec = Path(tmp) / "in.wav", Path(tmp) / "x.opus", Path(tmp) / "out.wav"
        sf.write(str(src), np.asarray(x, dtype=np.float32), sample_rate_hz, subtype="FLOAT")
        for cmd in (["opusenc", "--quiet", "--hard-cbr", "--bitrate", f"{kbps:g}",
                     str(src), str(coded)],
                    ["opusdec", "--quiet", "--rate", str(OPUS_RATE_HZ), "--float",
                     str(coded), str(dec)]):
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise DataError(f"{cmd[0]} failed: {proc.stderr.strip()[-200:]}")
        y, rate = sf.read(str(dec), dtype="float32", always_2d=True)
        bits = coded.stat().st_size * 8
    y = resample(y.mean(axis=1), rate, sample_rate_hz)
    out = np.zeros(len(x), dtype=np.float32)
    out[:min(len(x), len(y))] = y[:len(x)]
    return out, bits


def evaluate_opus(clips: list[tuple[str, np.ndarray]], kbps: float, with_visqol: bool = True,
                  progress: bool = False) -> dict:
    """Mean metrics of Opus at `kbps` over `clips`: one table row."""
    scores: dict[str, list[float]] = {"si_snr_db": [], "mel_distance": [], "visqol": []}
    bits = samples = 0
    for _, x in tqdm(clips, desc=f"opus {kbps:g} kbps", disable=not progress):
        y, n_bits = opus_roundtrip(x, kbps)
        bits, samples = bits + n_bits, samples + len(x)
        scores["si_snr_db"].append(si_snr_db(y, x))
        scores["mel_distance"].append(mel_distance(y, x))
        if with_visqol:
            scores["visqol"].append(visqol_score(y, x))
    return {"codec": "opus", "kbps": float(kbps),
            **{k: float(np.mean(v)) if v else float("nan") for k, v in scores.items()},
            "file_kbps": bits * SAMPLE_RATE_HZ / samples / 1000, "clips": len(clips)}


# --- the shared table ------------------------------------------------------------------------

def read_table(out_dir: str | Path) -> list[dict]:
    """Rows of `out_dir/baselines.csv` (empty if there is none); numbers as floats."""
    path = Path(out_dir) / f"{TABLE_NAME}.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [{k: (v if k == "codec" else float(v) if v not in ("", None) else float("nan"))
                 for k, v in row.items()} for row in csv.DictReader(f)]


def write_table(rows: Sequence[dict], out_dir: str | Path) -> list[dict]:
    """Add `rows` to the table in `out_dir` (replacing rows of the same codec and kbps) and
    rewrite `baselines.csv` and `baselines.png`, atomically.

    Args:
        rows: dicts with codec, kbps, si_snr_db, mel_distance, visqol (nan or absent when not
            measured), and optionally file_kbps and clips.
    Returns:
        the whole table, sorted by codec then kbps.
    """
    table = {(r["codec"], float(r["kbps"])): r for r in read_table(out_dir)}
    for r in rows:
        table[(r["codec"], float(r["kbps"]))] = dict(r)
    merged = [table[k] for k in sorted(table)]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in merged:
        w.writerow([r["codec"]] + [_fmt(r.get(c)) for c in COLUMNS[1:]])
    out = Path(out_dir)
    write_bytes_atomic(out / f"{TABLE_NAME}.csv", buf.getvalue().encode())
    fig = plot_table(merged)
    with atomic_path(out / f"{TABLE_NAME}.png") as tmp:
        fig.savefig(tmp, dpi=120)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return merged


def format_table(rows: Sequence[dict]) -> str:
    """The table as Markdown."""
    lines = ["| codec | kbps | SI-SNR (dB) | mel distance | ViSQOL | file kbps | clips |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['codec']} | {r['kbps']:g} | {_num(r.get('si_snr_db'), 2)} | "
                     f"{_num(r.get('mel_distance'), 4)} | {_num(r.get('visqol'), 2)} | "
                     f"{_num(r.get('file_kbps'), 2)} | {_num(r.get('clips'), 0)} |")
    return "\n".join(lines)


def plot_table(rows: Sequence[dict], axes=None):
    """Rate–quality: each metric against kbps, one line per codec. Returns the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if axes is None:
        fig, axes = plt.subplots(1, len(METRICS), figsize=(4.2 * len(METRICS), 3.6))
    else:
        fig = axes[0].figure
    codecs = sorted({r["codec"] for r in rows})
    for ax, (key, label) in zip(axes, METRICS):
        for codec in codecs:
            pts = sorted((float(r["kbps"]), float(r.get(key, np.nan))) for r in rows
                         if r["codec"] == codec)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=codec)
        ax.set_xlabel("kbps")
        ax.set_title(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _num(v, digits: int) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    return f"{float(v):.{digits}f}"


# --- command line ----------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default=None,
                   help="dataset folder (default $NEURO_CODEC_DATA, else data/builtin)")
    p.add_argument("--data", choices=["builtin", "maestro"], default="builtin",
                   help="dataset kind (default builtin)")
    p.add_argument("--split", choices=["train", "validation", "test"], default="test",
                   help="split to code (default test)")
    p.add_argument("--clips", type=int, default=8,
                   help="number of clips (default 8: ViSQOL takes a few seconds per clip)")
    p.add_argument("--seconds", type=float, default=2**17 / SAMPLE_RATE_HZ,
                   help="clip length in seconds (default 5.944, i.e. 2^17 samples)")
    p.add_argument("--bitrates", type=float, nargs="+", default=[6.0, 12.0],
                   help="Opus bitrates in kbps (default 6 12)")
    p.add_argument("--no-visqol", action="store_true", help="skip ViSQOL (the slow metric)")
    p.add_argument("--out", default="out/benchmarks",
                   help="folder of the CSV and PNG (default out/benchmarks)")
    args = p.parse_args(argv)
    if args.clips < 1 or args.seconds <= 0:
        p.error("--clips must be at least 1 and --seconds positive")
    try:
        clips = split_excerpts(args.root, args.clips, args.seconds, args.split, args.data)
        if not clips:
            raise DataError(f"no {args.split} piece is {args.seconds:g} s long")
        print(f"{len(clips)} clips of {args.seconds:g} s from the {args.split} split: "
              + ", ".join(name for name, _ in clips))
        rows = [evaluate_opus(clips, kbps, not args.no_visqol, progress=True)
                for kbps in args.bitrates]
        table = write_table(rows, args.out)
    except CodecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(format_table(table))
    print(f"saved {Path(args.out) / (TABLE_NAME + '.csv')} and .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
