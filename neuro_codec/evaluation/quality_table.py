"""The shared rate–quality table: one row per (codec, kbps), kept as CSV and drawn as PNG.

`benchmarks/baselines.py` writes the Opus rows and our models' rows into it, and
`neuro-codec eval` adds its row, so that every codec is compared on the same clips and in
one place. Rows are replaced by (codec, kbps); files are written atomically.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from neuro_codec.figures import pyplot, save_figure
from neuro_codec.fileio import write_bytes_atomic

TABLE_NAME = "baselines"
COLUMNS = ("codec", "kbps", "si_snr_db", "mel_distance", "visqol", "file_kbps", "clips",
           "decode_x_realtime")
METRICS = (("si_snr_db", "SI-SNR (dB)"), ("mel_distance", "mel distance"),
           ("visqol", "ViSQOL (MOS-LQO)"))


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
    save_figure(plot_table(merged), out / f"{TABLE_NAME}.png", dpi=120)
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
    if axes is None:
        fig, axes = pyplot().subplots(1, len(METRICS), figsize=(4.2 * len(METRICS), 3.6))
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
