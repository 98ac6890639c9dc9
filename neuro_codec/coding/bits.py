"""Bit fields of the payloads: fixed-width unsigned integers packed MSB-first into bytes.

`formats.py` (the four exact event formats) and `rvq_file.py` (the RVQ codes) write and read
their payloads with these; the field widths are `costs.py`'s.
"""

from __future__ import annotations

import numpy as np

from neuro_codec.errors import BitstreamError


def uints_to_bits(values: np.ndarray, width: int) -> np.ndarray:
    """Fixed-width MSB-first bits of non-negative integers < 2^width (width ≤ 64).

    Returns:
        [len(values), width] uint8 array of 0/1.
    """
    values = np.asarray(values, dtype=np.uint64)
    if width == 0:
        return np.zeros((values.size, 0), dtype=np.uint8)
    as_bytes = values.astype(">u8").view(np.uint8).reshape(-1, 8)
    return np.unpackbits(as_bytes, axis=1)[:, 64 - width:]


def bits_to_uints(bits: np.ndarray) -> np.ndarray:
    """Inverse of `uints_to_bits`: [M, width] 0/1 → [M] int64 (width ≤ 63)."""
    m, width = bits.shape
    if width == 0:
        return np.zeros(m, dtype=np.int64)
    # Pad to the narrowest of 8/16/32/64 bits, not always 64: a reader's scratch memory is
    # then 8, 16 or 32 bytes per field of the widths .snc uses (≤ 32 bits), not 64.
    n_bytes = next(b for b in (1, 2, 4, 8) if width <= 8 * b)
    padded = np.zeros((m, 8 * n_bytes), dtype=np.uint8)
    padded[:, 8 * n_bytes - width:] = bits
    return np.packbits(padded, axis=1).view(f">u{n_bytes}").ravel().astype(np.int64)


def pack_bits(blocks: list[np.ndarray]) -> tuple[bytes, int]:
    """Concatenate bit blocks (any shape, raveled in C order) and pack them MSB-first.

    Returns:
        (bytes zero-padded to a whole byte, number of bits).
    """
    flat = [b.ravel() for b in blocks if b.size]
    bits = np.concatenate(flat) if flat else np.zeros(0, dtype=np.uint8)
    return np.packbits(bits).tobytes(), int(bits.size)


def unpack_bits(payload: bytes, n_bits: int, what: str) -> np.ndarray:
    """The first `n_bits` bits of `payload`, checking its length and its zero padding.

    Args:
        what: the payload's name in the messages (e.g. "coo").
    Returns:
        [n_bits] uint8 array of 0/1.
    Raises:
        BitstreamError: the payload is not ⌈n_bits/8⌉ bytes, or a padding bit is set.
    """
    n_bytes = -(-n_bits // 8)
    if len(payload) != n_bytes:
        raise BitstreamError(
            f"{what} payload of {n_bits} bits needs {n_bytes} bytes, got {len(payload)}"
        )
    bits = np.unpackbits(np.frombuffer(payload, dtype=np.uint8))
    if bits[n_bits:].any():
        raise BitstreamError(f"{what} payload: padding bits after bit {n_bits} are not zero")
    return bits[:n_bits]
