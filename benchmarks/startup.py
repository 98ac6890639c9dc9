"""How long the small commands take to answer, and what they import.

    python -m benchmarks.startup [--repeat 5] [--out out/benchmarks]

`neuro-codec --help` (and `encode --help`), `info`, `pack` and `unpack` need numpy and the
`.snc` code, not torch: each should answer in under 0.5 s (`GOAL_S`). Every command runs in a
fresh interpreter (`python -m neuro_codec …`) `--repeat` times on a small event matrix
(80 × 256, 5 % events) and its `.snc`; the table gives the median and the fastest wall time,
beside a bare interpreter (`python -c pass`) and `import neuro_codec`. One more run of each,
through a probe that lists `sys.modules` at exit, names the heavy libraries it imported. Saves
startup.csv and startup.png under --out. The times include the machine's load: compare runs on
one machine.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from neuro_codec.figures import pyplot, save_figure
from neuro_codec.fileio import atomic_path

GOAL_S = 0.5
HEAVY = ("torch", "torchaudio", "snntorch", "scipy", "matplotlib")

# Runs the CLI as `neuro-codec` does, then writes the heavy modules it imported on stderr's
# last line (also after argparse's SystemExit for --help).
PROBE = """import sys
try:
    from neuro_codec.cli import main
    code = main(sys.argv[1:])
finally:
    heavy = [m for m in {heavy!r} if m in sys.modules]
    sys.stderr.write("\\nheavy imports: " + " ".join(heavy) + "\\n")
sys.exit(code)
"""


def commands(folder: Path) -> list[tuple[str, list[str]]]:
    """(label, argv after `python`) of each timed command; `pack` runs first and makes the
    `.snc` that `info` and `unpack` read."""
    z, snc = folder / "z.npy", folder / "z.snc"
    rng = np.random.default_rng(0)
    np.save(z, (rng.random((80, 256)) < 0.05).astype(np.uint8), allow_pickle=False)
    cli = ["-m", "neuro_codec"]
    return [
        ("python -c pass", ["-c", "pass"]),
        ("import neuro_codec", ["-c", "import neuro_codec"]),
        ("neuro-codec pack", [*cli, "pack", str(z), str(snc)]),
        ("neuro-codec info", [*cli, "info", str(snc)]),
        ("neuro-codec unpack", [*cli, "unpack", str(snc), str(folder / "back.npy")]),
        ("neuro-codec --help", [*cli, "--help"]),
        ("neuro-codec encode --help", [*cli, "encode", "--help"]),
    ]


def run_once(argv: list[str]) -> float:
    """Wall time of one run in seconds; a failing command stops the benchmark."""
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, *argv], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"startup: {' '.join(argv)} failed with exit code {r.returncode}:\n"
                 f"{r.stderr[-2000:]}")
    return seconds


def heavy_imports(argv: list[str]) -> str:
    """The heavy libraries a CLI run imports (from the probe), or "–" for the reference rows."""
    if argv[:2] != ["-m", "neuro_codec"]:
        return "–"
    r = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv[2:]],
                       capture_output=True, text=True)
    line = r.stderr.strip().splitlines()[-1]
    return line.removeprefix("heavy imports:").strip() or "none"


def plot(rows: list[dict]):
    """Median wall time per command (bars), the fastest run (ticks) and the goal line."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.4))
    labels = [r["command"] for r in rows]
    y = np.arange(len(rows))
    ax.barh(y, [r["median_s"] for r in rows], color="tab:blue", label="median")
    ax.plot([r["min_s"] for r in rows], y, "k|", markersize=14, label="fastest")
    ax.axvline(GOAL_S, color="tab:red", ls="--", lw=1, label=f"goal {GOAL_S:g} s")
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel("wall time (s), fresh interpreter")
    ax.set_title("startup of the small commands")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="runs per command (default 5)")
    ap.add_argument("--out", default="out/benchmarks", help="folder for startup.csv and "
                    "startup.png (default out/benchmarks)")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, cmd in commands(Path(tmp)):
            times = [run_once(cmd) for _ in range(args.repeat)]
            rows.append({"command": label, "median_s": statistics.median(times),
                         "min_s": min(times), "heavy_imports": heavy_imports(cmd)})

    print(f"\nstartup: median and fastest of {args.repeat} runs, {sys.executable}")
    print("| command | median (s) | fastest (s) | heavy imports |")
    print("|---|---:|---:|---|")
    for r in rows:
        print(f"| {r['command']} | {r['median_s']:.3f} | {r['min_s']:.3f} | "
              f"{r['heavy_imports']} |")

    out = Path(args.out)
    with atomic_path(out / "startup.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    save_figure(plot(rows), out / "startup.png")
    print(f"saved {out / 'startup.csv'} and {out / 'startup.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
