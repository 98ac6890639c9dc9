"""The `neuro-codec` command: argparse subcommands gathered from `neuro_codec.commands`.

Each command module registers its own subparsers; this module only dispatches. A usage error
is argparse's (exit code 2); the project's errors become one line on stderr with exit code 1
(never a traceback; `neuro_codec.errors`).

Commands import what they use when they run, not when they are registered: `--help` (of
`neuro-codec` and of every command), `info`, `pack` and `unpack` need numpy and the `.snc`
code, and never import torch (`python -m benchmarks.startup` times them). A command may also
add its flags when it is parsed (`CommandParser`): each action of `data` does, as their
defaults live beside a torch dataset (`data render --help` imports torch).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from neuro_codec.commands import COMMAND_MODULES
from neuro_codec.errors import run_command


class CommandParser(argparse.ArgumentParser):
    """An argparse parser that may add its arguments on first use.

    `sub.add_parser(name, help=…, arguments=add)` registers a subcommand by its name and help
    alone; `add(parser)` runs when that subcommand is parsed or its usage or help is printed,
    which is when the imports its flags need (their defaults, their choices) are paid for.
    """

    def __init__(self, *args, arguments: Callable[[CommandParser], None] | None = None,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self._add_arguments = arguments

    def _complete(self) -> None:
        if self._add_arguments is not None:
            add, self._add_arguments = self._add_arguments, None
            add(self)

    def parse_known_args(self, args=None, namespace=None):
        self._complete()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._complete()
        return super().format_usage()

    def format_help(self) -> str:
        self._complete()
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="neuro-codec",
        description="Event-based (spiking) audio codec for piano music.",
    )
    # Subparsers are made by the parent's class: every command's parser is a CommandParser.
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
