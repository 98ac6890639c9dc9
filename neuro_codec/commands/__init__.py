"""Subcommands of `neuro-codec`; each module exposes `register(subparsers)`."""

from neuro_codec.commands import analysis, codec, data, storage

COMMAND_MODULES = [data, storage, codec, analysis]
