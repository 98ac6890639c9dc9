"""Copy a training checkpoint for the repository: without its optimiser state (two thirds of a
`small` checkpoint's size), which encode, decode, eval and the Lava side never read.

    python scripts/release_checkpoint.py runs/free-small/last.pt \
        neuro_codec/checkpoints/free-small.pt
"""

from __future__ import annotations

import argparse
import sys

from neuro_codec.errors import run_command
from neuro_codec.model.checkpoint import load_checkpoint, save_checkpoint


def release(src: str, dst: str) -> dict:
    """Write `src` to `dst` (atomically) with `optimizer` set to None; return the written dict."""
    ckpt = load_checkpoint(src)
    ckpt["optimizer"] = None
    save_checkpoint(dst, {k: v for k, v in ckpt.items() if k not in ("format", "version")})
    return ckpt


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("src", help="training checkpoint (DIR/last.pt)")
    p.add_argument("dst", help="released checkpoint")
    args = p.parse_args(argv)
    return run_command(lambda: (release(args.src, args.dst), 0)[1])


if __name__ == "__main__":
    sys.exit(main())
