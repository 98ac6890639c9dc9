"""Subcommands of `neuro-codec`; each module exposes `register(subparsers)`."""

from neuro_codec.commands import analysis, codec, data, report, storage

COMMAND_MODULES = [data, storage, codec, analysis, report]
