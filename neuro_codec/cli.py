"""The `neuro-codec` command: argparse subcommands gathered from `neuro_codec.commands`.

Each command module registers its own subparsers; this module only dispatches and turns the
project's errors into one line on stderr with exit code 1 (never a traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from neuro_codec.commands import COMMAND_MODULES
from neuro_codec.errors import run_command


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
    return run_command(lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
