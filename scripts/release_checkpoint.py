"""Copy a training checkpoint for the repository: in the current checkpoint version and without
its optimiser state (two thirds of a `small` checkpoint's size), which encode, decode, eval and
the Lava side never read. A version-1 checkpoint (written by an older build, e.g. a run still
in progress) is upgraded on the way (`neuro_codec.model.checkpoint.upgrade_checkpoint`); its
weights and model id are kept.

    python scripts/release_checkpoint.py runs/free-small/last.pt \
        neuro_codec/checkpoints/free-small.pt
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from neuro_codec.errors import run_command
from neuro_codec.model.checkpoint import Checkpoint, upgrade_checkpoint


def release(src: str, dst: str) -> Checkpoint:
    """Write `src` (version 1 or current) to `dst` (atomically, current version) with
    `optimizer` set to None; return the written checkpoint."""
    ckpt = dataclasses.replace(upgrade_checkpoint(src), optimizer=None)
    ckpt.save(dst)
    return ckpt


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("src", help="training checkpoint (DIR/last.pt), version 1 or current")
    p.add_argument("dst", help="released checkpoint (current version)")
    args = p.parse_args(argv)
    return run_command(lambda: (release(args.src, args.dst), 0)[1])


if __name__ == "__main__":
    sys.exit(main())
