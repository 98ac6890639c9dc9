"""The `neuro-codec` command: argparse subcommands gathered from `neuro_codec.commands`.

Each command module registers its own subparsers; this module only dispatches. A usage error
is argparse's (exit code 2); the project's errors become one line on stderr with exit code 1
(never a traceback; `neuro_codec.errors`).
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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
