"""Copy a refiner training file for the repository: without its optimiser state, and with the
default number of sampling steps K that `neuro-codec decode` uses (chosen from
`python -m benchmarks.refiner`, stored in the file's config).

    python scripts/release_refiner.py runs/refiner/last.pt neuro_codec/checkpoints/refiner.pt \
        --default-steps 2
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from neuro_codec.commands.arguments import non_negative_int
from neuro_codec.errors import run_command
from neuro_codec.model.refiner import RefinerFile


def release(src: str, dst: str, default_steps: int | None = None) -> RefinerFile:
    """Write `src` to `dst` (atomically) without optimiser state, with `default_steps` if given;
    return the written file."""
    saved = RefinerFile.read(src)
    config = saved.config if default_steps is None else dataclasses.replace(
        saved.config, default_steps=default_steps)
    out = dataclasses.replace(saved, config=config, optimizer=None)
    out.save(dst)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("src", help="refiner training file (DIR/last.pt)")
    p.add_argument("dst", help="released refiner file")
    p.add_argument("--default-steps", type=non_negative_int, default=None, metavar="K",
                   help="decode's default refiner steps (default: keep the file's)")
    args = p.parse_args(argv)
    return run_command(lambda: (release(args.src, args.dst, args.default_steps), 0)[1])


if __name__ == "__main__":
    sys.exit(main())
