"""`neuro-codec data render | info`: build the built-in dataset and summarise a dataset."""

from __future__ import annotations

import argparse
import time
from collections import Counter

from neuro_codec.commands.arguments import non_negative_int, positive_float, positive_int
from neuro_codec.data.pieces import SPLITS, Piece

# neuro_codec.data.dataset imports torch (its clip dataset): each action's flags, whose
# defaults come from it, are added when that action is parsed or its help printed
# (`cli.CommandParser`), so that `neuro-codec data --help` lists the actions without torch.


def _data_arguments(p) -> None:
    actions = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    actions.add_parser(
        "render", help="render the built-in piano dataset (generated + music21 pieces)",
        description="Render the built-in dataset with fluidsynth: cached and idempotent, "
                    "re-running with the same arguments renders nothing.",
        arguments=_render_arguments)
    actions.add_parser("info", help="pieces, minutes and sources per split of a dataset",
                       arguments=_info_arguments)


def _render_arguments(r) -> None:
    from neuro_codec.data.dataset import DATA_ENV, DEFAULT_MINUTES, DEFAULT_SEED, DEFAULT_WORKERS

    r.add_argument("--root", default=None,
                   help=f"dataset folder (default ${DATA_ENV}, else data/builtin)")
    r.add_argument("--minutes", type=positive_float, default=DEFAULT_MINUTES,
                   help=f"total size in minutes, half corpus, half generated "
                        f"(default {DEFAULT_MINUTES:g})")
    r.add_argument("--seed", type=non_negative_int, default=DEFAULT_SEED,
                   help=f"seed of the generated pieces and of the split (default {DEFAULT_SEED})")
    r.add_argument("--workers", type=positive_int, default=DEFAULT_WORKERS,
                   help=f"rendering processes (default {DEFAULT_WORKERS})")
    r.set_defaults(func=run_render)


def _info_arguments(i) -> None:
    from neuro_codec.data.dataset import DATA_ENV

    i.add_argument("--root", default=None,
                   help=f"dataset folder (default ${DATA_ENV}, else data/builtin; "
                        f"for MAESTRO the folder holding maestro-v3.0.0.csv)")
    i.add_argument("--data", choices=["builtin", "maestro"], default="builtin",
                   help="which dataset the folder holds (default builtin)")
    i.set_defaults(func=run_info)


def register(sub) -> None:
    sub.add_parser("data", help="build and inspect datasets", arguments=_data_arguments)


def run_render(args: argparse.Namespace) -> int:
    from neuro_codec.data.dataset import default_root, ensure_builtin

    root = args.root if args.root is not None else default_root()
    t0 = time.perf_counter()
    pieces = ensure_builtin(root, minutes=args.minutes, seed=args.seed, progress=True,
                            workers=args.workers)
    print(f"built-in dataset at {root} ({time.perf_counter() - t0:.1f} s)")
    print(summary(pieces))
    return 0


def run_info(args: argparse.Namespace) -> int:
    from neuro_codec.data.dataset import default_root, load_manifest

    root = args.root if args.root is not None else (None if args.data == "maestro"
                                                    else default_root())
    print(summary(load_manifest(root, data=args.data)))
    return 0


def summary(pieces: list[Piece]) -> str:
    """A table of pieces, minutes and pieces per source for each split, and the total."""
    lines = [f"{'split':<11}{'pieces':>7}{'minutes':>9}  sources"]
    for name in (*SPLITS, "total"):
        ps = [p for p in pieces if name in ("total", p.split)]
        sources = Counter(p.source for p in ps)
        lines.append(f"{name:<11}{len(ps):>7}{sum(p.duration_s for p in ps) / 60:>9.1f}  "
                     + ", ".join(f"{s} {n}" for s, n in sorted(sources.items())))
    return "\n".join(lines)

