"""argparse value types shared by every command: a value out of range is a usage error
(argparse's usage line, exit code 2), like a flag that does not exist."""

from __future__ import annotations

import argparse


def _checked(cast: type, ok, need: str):
    """An argparse type: `cast(text)` that satisfies `ok`, else "must be <need>, got <text>"."""
    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            kind = "an integer" if cast is int else "a number"
            raise argparse.ArgumentTypeError(f"not {kind}: {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {need}, got {text}")
        return value

    parse.__name__ = "integer" if cast is int else "number"
    return parse


positive_float = _checked(float, lambda v: v > 0, "> 0")
non_negative_float = _checked(float, lambda v: v >= 0, "≥ 0")
non_negative_int = _checked(int, lambda v: v >= 0, "non-negative")
positive_int = _checked(int, lambda v: v >= 1, "at least 1")


def int_in(lo: int, hi: int, what: str = ""):
    """An argparse type: an integer in [lo, hi] (`what` names the range in the message)."""
    return _checked(int, lambda v: lo <= v <= hi, f"in [{what or f'{lo}, {hi}'}]")


def utf8_at_most(n_bytes: int):
    """An argparse type: a string of at most `n_bytes` bytes of UTF-8."""
    def parse(text: str) -> str:
        if len(text.encode("utf-8")) > n_bytes:
            raise argparse.ArgumentTypeError(f"longer than {n_bytes} bytes of UTF-8")
        return text

    parse.__name__ = "string"
    return parse
