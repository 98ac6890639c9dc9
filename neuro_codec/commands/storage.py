"""`neuro-codec pack | unpack | info`: event matrices to and from `.snc` files."""

from __future__ import annotations


def register(sub) -> None:
    return None
