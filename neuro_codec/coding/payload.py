"""Any event payload, exact or entropy-coded: the dispatch `.snc` reads and writes through.

It sits above `formats.py` (the exact formats) and `entropy.py` (which falls back on them), so
that neither imports the other's reader.
"""

from __future__ import annotations

import numpy as np

from neuro_codec.coding.costs import EventFormat
from neuro_codec.coding.entropy import decode_entropy, encode_entropy
from neuro_codec.coding.formats import (
    check_decoded_shape,
    check_event_matrix,
    decode_exact,
    encode_exact,
)


def encode_payload(z: np.ndarray, fmt: EventFormat | str) -> tuple[bytes, int]:
    """The payload of `z` in `fmt`: (bytes zero-padded to a byte, bits). See `encode_exact`
    and `entropy.encode_entropy`.

    Raises:
        BitstreamError: z is not a 2-D 0/1 matrix within the format's limits.
    """
    fmt = EventFormat.parse(fmt)
    if fmt is EventFormat.ENTROPY:
        return encode_entropy(check_event_matrix(z))
    return encode_exact(z, fmt)


def decode_payload(payload: bytes, n_bits: int, fmt: EventFormat | str, n_units: int,
                   n_frames: int, n_events: int) -> np.ndarray:
    """A payload back into the [N, T] uint8 event matrix, checking everything the header
    implies (see `decode_exact`, `entropy.decode_entropy`).

    Raises:
        BitstreamError: anything wrong with the payload or the shape it claims.
    """
    fmt = EventFormat.parse(fmt)
    if fmt is EventFormat.ENTROPY:
        n, t, s = check_decoded_shape(n_units, n_frames, n_events)
        return decode_entropy(payload, n_bits, n, t, s)
    return decode_exact(payload, n_bits, fmt, n_units, n_frames, n_events)
