"""`neuro-codec report`: the listening page of a rate–quality run (`evaluation/report.py`).

With `--from DIR` the page plays the clips the run kept and decodes nothing; without it, the
command first runs `benchmarks/rate_quality.py` on `--excerpts` clips into the page's own
folder (`DIR/rate_quality/`), the same code as the main job's table. `--held-out DIR` adds the
clips a `benchmarks/generalization.py` run kept of the piano it held out of training. The page
is built in a temporary folder beside `--out` and renamed into place: a failed run leaves no
half page.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

from neuro_codec.commands.arguments import positive_float, positive_int
from neuro_codec.errors import ReportError, writing
from neuro_codec.fileio import atomic_folder

RATE_QUALITY_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "rate_quality.py"


class _PassFailed(Exception):
    """The rate–quality pass exited non-zero (it said why on stderr itself)."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def register(sub) -> None:
    p = sub.add_parser(
        "report", help="a static listening page: every codec side by side, to hear and to see",
        description="Write a listening page (index.html that opens from the file system): "
                    "the reference and every codec of a rate–quality run on a few excerpts, "
                    "with players, bitrates, metrics, spectrograms and event rasters, the "
                    "rate–quality table and figures, and the selectivity and energy reports.")
    p.add_argument("--out", default="out/report", metavar="DIR",
                   help="the page's folder, replaced as a whole (default out/report)")
    p.add_argument("--from", dest="source", default=None, metavar="DIR",
                   help="a rate–quality run (benchmarks/rate_quality.py --out DIR) whose kept "
                        "clips and numbers the page shows (default: run one on --excerpts "
                        "clips into DIR/rate_quality)")
    p.add_argument("--excerpts", type=positive_int, default=4,
                   help="excerpts on the page, one per piece first (default 4)")
    p.add_argument("--held-out", default=None, metavar="DIR",
                   help="the held-out piano's folder of a generalization run "
                        "(benchmarks/generalization.py --out D → D/held-out): its excerpts, "
                        "numbers and table on the page (default: none)")
    p.add_argument("--held-out-excerpts", type=positive_int, default=2,
                   help="with --held-out: its excerpts on the page, one per piece first "
                        "(default 2)")
    p.add_argument("--energy", default=None, metavar="DIR",
                   help="a `python -m hardware.energy --out` folder: its table on the page "
                        "(default: none; the page says how to make it)")
    p.add_argument("--selectivity", default=None, metavar="DIR",
                   help="a `neuro-codec analyze --out` folder: its figure on the page "
                        "(default: none; the page says how to make it)")
    p.add_argument("--seconds", type=positive_float, default=None,
                   help="without --from: excerpt length (default the benchmark's, 5.94 s)")
    p.add_argument("--root", default=None,
                   help="without --from: dataset folder (default $NEURO_CODEC_DATA, else "
                        "data/builtin)")
    p.add_argument("--no-visqol", action="store_true",
                   help="without --from: skip ViSQOL in the rate–quality pass")
    p.set_defaults(func=run_report)


def _command(args: argparse.Namespace) -> str:
    """The command line that makes this page again, for its footer."""
    words = ["neuro-codec", "report", "--out", args.out]
    for flag, value in (("--from", args.source), ("--held-out", args.held_out),
                        ("--energy", args.energy), ("--selectivity", args.selectivity),
                        ("--seconds", args.seconds), ("--root", args.root)):
        if value is not None:
            words += [flag, str(value)]
    words += ["--excerpts", str(args.excerpts)] + (["--no-visqol"] if args.no_visqol else [])
    words += ([] if args.held_out is None
              else ["--held-out-excerpts", str(args.held_out_excerpts)])
    return shlex.join(words)


def _rate_quality_pass(args: argparse.Namespace, page: Path) -> Path:
    """Run benchmarks/rate_quality.py on --excerpts clips into `page`/rate_quality."""
    from neuro_codec.data.dataset import default_root

    if not RATE_QUALITY_SCRIPT.is_file():
        raise ReportError(f"without --from the page runs {RATE_QUALITY_SCRIPT}, which is not "
                          f"beside this installation: run the benchmark and pass --from DIR")
    root = Path(args.root) if args.root is not None else default_root()
    # Run in the page's folder so that the command the page shows names its own copy.
    cmd = [sys.executable, "-m", "benchmarks.rate_quality", "--clips", str(args.excerpts),
           "--root", str(root.resolve()), "--out", "rate_quality"]
    cmd += ["--seconds", str(args.seconds)] if args.seconds is not None else []
    cmd += ["--no-visqol"] if args.no_visqol else []
    print(f"rate–quality pass: {shlex.join(cmd)}", flush=True)
    # `benchmarks` is a package of the repository, importable from its root.
    path = os.pathsep.join(filter(None, [str(RATE_QUALITY_SCRIPT.parents[1]),
                                         os.environ.get("PYTHONPATH")]))
    code = subprocess.run(cmd, cwd=page, env={**os.environ, "PYTHONPATH": path},
                          check=False).returncode
    if code != 0:
        raise _PassFailed(code)
    return page / "rate_quality"


def run_report(args: argparse.Namespace) -> int:
    from neuro_codec.evaluation.report import (
        check_destination,
        megabytes,
        read_energy,
        read_held_out,
        read_run,
        read_selectivity,
        write_report,
    )

    out = Path(args.out)
    check_destination(out)
    # Every input is read and checked before anything is drawn or written.
    run = None if args.source is None else read_run(args.source)
    held_out = None if args.held_out is None else read_held_out(args.held_out)
    energy = None if args.energy is None else read_energy(args.energy)
    selectivity = None if args.selectivity is None else read_selectivity(args.selectivity)
    try:
        with writing(out), atomic_folder(out) as page:
            if run is None:
                run = read_run(_rate_quality_pass(args, page))
            record = write_report(run, page, args.excerpts, energy, selectivity,
                                  _command(args), progress=True, held_out=held_out,
                                  held_out_excerpts=args.held_out_excerpts)
    except _PassFailed as e:
        return e.code
    excerpts = record["excerpts"] + (record["held_out"] or {}).get("excerpts", [])
    tracks = sum(len(e["tracks"]) for e in excerpts)
    print(f"listening page: {len(record['excerpts'])} excerpts"
          + (f" and {len(excerpts) - len(record['excerpts'])} on the held-out piano"
             if held_out is not None else "")
          + f", {tracks} players, {megabytes(record['bytes'])}")
    print(out.resolve() / "index.html")
    return 0
