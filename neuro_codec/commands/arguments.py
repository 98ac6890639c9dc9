"""argparse value types shared by every command: a value out of range is a usage error
(argparse's usage line, exit code 2), like a flag that does not exist."""

from __future__ import annotations

import argparse


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be ≥ 0, got {text}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be non-negative, got {text}")
    return value


def positive_int(text: str) -> int:
    value = non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def int_in(lo: int, hi: int, what: str = ""):
    """An argparse type: an integer in [lo, hi] (`what` names the range in the message)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be in [{what or f'{lo}, {hi}'}], got {text}")
        return value

    parse.__name__ = "integer"
    return parse


def utf8_at_most(n_bytes: int):
    """An argparse type: a string of at most `n_bytes` bytes of UTF-8."""
    def parse(text: str) -> str:
        if len(text.encode("utf-8")) > n_bytes:
            raise argparse.ArgumentTypeError(f"longer than {n_bytes} bytes of UTF-8")
        return text

    parse.__name__ = "string"
    return parse
