"""`neuro-codec data ...`: the built-in dataset."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("data", help="build and inspect datasets")
    p.add_subparsers(dest="data_command", metavar="ACTION")
