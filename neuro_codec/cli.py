"""The `neuro-codec` command: argparse subcommands gathered from `neuro_codec.commands`.

Each command module registers its own subparsers; this module only dispatches and turns the
project's errors into one line on stderr with exit code 1 (never a traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from neuro_codec.commands import COMMAND_MODULES
from neuro_codec.errors import CodecError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neuro-codec",
        description="Event-based (spiking) audio codec for piano music.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except CodecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
