"""The four exact formats of the event matrix z ∈ {0,1}^(N×T): dense, coo, csr_unit and
csc_time, written and read bit for bit (layouts in docs/bitstream.md, "Payload formats").

Their sizes are `costs.py`'s, their bit fields `bits.py`'s; `entropy.py` adds the entropy-coded
format (which falls back on these), `payload.py` reads and writes any format, `bitstream.py`
the `.snc` file around a payload.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neuro_codec.coding.bits import bits_to_uints, pack_bits, uints_to_bits, unpack_bits
from neuro_codec.coding.costs import (
    EventFormat,
    bit_width,
    cheapest_exact,
    is_tensor,
    payload_bits,
)
from neuro_codec.errors import BitstreamError

MAX_UNITS = 0xFFFF  # N is a u16 in the .snc header
MAX_FRAMES = 0xFFFF_FFFF  # T is a u32
MAX_CELLS = 0xFFFF_FFFF  # N·T: the largest matrix whose dense payload fits the u32 bit count
# N·T that writers accept and readers decode: 2^28 cells, a 256 MiB uint8 matrix, 21.6 h of
# audio at N = 80, 22,050 Hz, hop 512. It bounds what a (possibly tiny) file can make a reader
# allocate: an all-zero sparse payload of any N·T is 0 bits long.
MAX_DECODED_CELLS = 1 << 28


# ---------------------------------------------------------------------------------------------
# Checking the event matrix


def check_event_matrix(z: Any) -> np.ndarray:
    """Return `z` as a uint8 [N, T] matrix of 0/1, or raise BitstreamError saying what is wrong.

    Accepts bool, integer or float arrays (or tensors) whose values are exactly 0 or 1, with
    1 ≤ N ≤ 65535, 1 ≤ T and N·T ≤ MAX_DECODED_CELLS = 2^28 (what `.snc` readers decode).
    """
    if is_tensor(z):
        z = z.detach().cpu().numpy()
    if not isinstance(z, np.ndarray):
        raise BitstreamError(f"event matrix must be a numpy array, got {type(z).__name__}")
    if z.ndim != 2:
        raise BitstreamError(f"event matrix must be 2-D (N units, T frames), got shape {z.shape}")
    n, t = z.shape
    if n < 1 or t < 1:
        raise BitstreamError(f"event matrix is empty: shape {z.shape}")
    if n > MAX_UNITS:
        raise BitstreamError(f"event matrix has {n} units; the .snc format allows {MAX_UNITS}")
    if n * t > MAX_DECODED_CELLS:
        raise BitstreamError(
            f"event matrix has {n}×{t} = {n * t} cells; the .snc format allows at most "
            f"{MAX_DECODED_CELLS} (2^28)"
        )
    if z.dtype == np.bool_:
        return z.astype(np.uint8)
    if z.dtype.kind not in "biuf":
        raise BitstreamError(f"event matrix must be numeric 0/1, got dtype {z.dtype}")
    is_binary = (z == 0) | (z == 1)  # False for 2, -1, 0.5 and NaN
    if not is_binary.all():
        bad = z[~is_binary].ravel()[0].item()  # a Python number: same message on numpy 1 and 2
        raise BitstreamError(f"event matrix must hold only 0 and 1, found {bad!r}")
    return z.astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# The exact formats


def encode_exact(z: np.ndarray, fmt: EventFormat | str) -> tuple[bytes, int]:
    """Write the payload of `z` in exact format `fmt` (layouts in docs/bitstream.md);
    `coding.payload.encode_payload` adds the entropy format.

    Args:
        z: [N, T] event matrix of 0/1.
        fmt: an exact EventFormat (not entropy).
    Returns:
        (payload bytes zero-padded to a byte, payload bits = `payload_bits(fmt, N, T, S)`).
    Raises:
        BitstreamError: z is not a 2-D 0/1 matrix within the format's limits.
        ValueError: the entropy format.
    """
    fmt = EventFormat.parse(fmt)
    if fmt is EventFormat.ENTROPY:
        raise ValueError("encode_exact writes the exact formats; entropy is coding.entropy's")
    z = check_event_matrix(z)
    n, t = z.shape
    if fmt is EventFormat.DENSE:
        # Frame-major: for t, for n.
        return pack_bits([z.T])
    s = int(np.count_nonzero(z))
    w_s1, w_t, w_n = bit_width(s + 1), bit_width(t), bit_width(n)
    if fmt is EventFormat.COO:
        times, units = np.nonzero(z.T)  # row-major over z.T: sorted by (t, n)
        fields = np.concatenate([uints_to_bits(times, w_t), uints_to_bits(units, w_n)], axis=1)
        return pack_bits([fields])
    if fmt is EventFormat.CSR_UNIT:
        ptr = np.cumsum(np.count_nonzero(z, axis=1))  # ptr[1..N]
        _, times = np.nonzero(z)  # sorted by (n, t)
        return pack_bits([uints_to_bits(ptr, w_s1), uints_to_bits(times, w_t)])
    ptr = np.cumsum(np.count_nonzero(z, axis=0))  # csc_time: ptr[1..T]
    _, units = np.nonzero(z.T)  # sorted by (t, n)
    return pack_bits([uints_to_bits(ptr, w_s1), uints_to_bits(units, w_n)])


def check_decoded_shape(n_units: int, n_frames: int, n_events: int) -> tuple[int, int, int]:
    """(N, T, S) as ints, if a reader may build that matrix: N, T ≥ 1, N·T within
    MAX_DECODED_CELLS (what a file can make a reader allocate), S ≤ N·T.

    Raises:
        BitstreamError: otherwise.
    """
    n, t, s = int(n_units), int(n_frames), int(n_events)
    if n < 1 or t < 1:
        raise BitstreamError(f"event matrix must have N ≥ 1 and T ≥ 1, header says {n}×{t}")
    if n * t > MAX_DECODED_CELLS:
        raise BitstreamError(
            f"N·T = {n}×{t} = {n * t} cells exceeds the decoding limit of {MAX_DECODED_CELLS} "
            f"(2^28)"
        )
    if s > n * t:
        raise BitstreamError(f"S = {s} events exceeds N·T = {n * t}")
    return n, t, s


def decode_exact(payload: bytes, n_bits: int, fmt: EventFormat | str, n_units: int,
                 n_frames: int, n_events: int) -> np.ndarray:
    """Read an exact-format payload back into the event matrix, checking everything the
    header implies (`coding.payload.decode_payload` adds the entropy format).

    Args:
        payload: the payload bytes (exactly ⌈n_bits/8⌉, zero-padded).
        n_bits: payload bits from the header.
        fmt, n_units, n_frames, n_events: format, N, T and S from the header.
    Returns:
        [N, T] uint8 matrix of 0/1 with exactly S ones.
    Raises:
        BitstreamError: size mismatch, S > N·T, pointers that decrease or overrun S,
            indices out of range, events unsorted or duplicated, wrong event count.
        ValueError: the entropy format.
    """
    fmt = EventFormat.parse(fmt)
    if fmt is EventFormat.ENTROPY:
        raise ValueError("decode_exact reads the exact formats; entropy is coding.entropy's")
    n, t, s = check_decoded_shape(n_units, n_frames, n_events)
    expected = payload_bits(fmt, n, t, s)
    if n_bits != expected:
        raise BitstreamError(
            f"{fmt.value} payload of N={n}, T={t}, S={s} must be {expected} bits, "
            f"header says {n_bits}"
        )
    bits = unpack_bits(payload, n_bits, fmt.value)
    if fmt is EventFormat.DENSE:
        z = np.ascontiguousarray(bits.reshape(t, n).T)
        found = int(np.count_nonzero(z))
        if found != s:
            raise BitstreamError(f"dense payload holds {found} events, header says S = {s}")
        return z
    if s == 0:  # the sparse formats are 0 bits; skip the 0-bit pointers (T of them)
        return np.zeros((n, t), dtype=np.uint8)
    w_s1, w_t, w_n = bit_width(s + 1), bit_width(t), bit_width(n)
    if fmt is EventFormat.COO:
        fields = bits.reshape(s, w_t + w_n)
        times, units = bits_to_uints(fields[:, :w_t]), bits_to_uints(fields[:, w_t:])
        _check_range(times, t, "coo", "frame index")
        _check_range(units, n, "coo", "unit index")
        _check_increasing(times * n + units, "coo", "events not sorted by (t, n) or duplicated")
    elif fmt is EventFormat.CSR_UNIT:
        units, times = _read_compressed(bits, n, s, w_s1, w_t, t, "csr_unit", "frame")
    else:
        times, units = _read_compressed(bits, t, s, w_s1, w_n, n, "csc_time", "unit")
    z = np.zeros((n, t), dtype=np.uint8)
    z[units, times] = 1
    return z


def _read_compressed(bits: np.ndarray, n_rows: int, s: int, w_ptr: int, w_idx: int,
                     n_cols: int, what: str, col: str) -> tuple[np.ndarray, np.ndarray]:
    """Read ptr[1..rows] then each row's sorted column indices; return (rows, cols) per event."""
    ptr = bits_to_uints(bits[: n_rows * w_ptr].reshape(n_rows, w_ptr))
    cols = bits_to_uints(bits[n_rows * w_ptr:].reshape(s, w_idx))
    counts = np.diff(ptr, prepend=0)
    if (counts < 0).any():
        i = int(np.flatnonzero(counts < 0)[0])
        # Array index i holds ptr[i + 1] (the 1-based pointer names of docs/bitstream.md).
        raise BitstreamError(
            f"{what} payload: pointers decrease: ptr[{i + 1}] = {int(ptr[i])} < "
            f"ptr[{i}] = {int(ptr[i - 1])}"
        )
    if int(ptr[-1]) != s:
        raise BitstreamError(
            f"{what} payload: last pointer is {int(ptr[-1])}, header says S = {s}"
        )
    _check_range(cols, n_cols, what, f"{col} index")
    rows = np.repeat(np.arange(n_rows, dtype=np.int64), counts)
    _check_increasing(rows * n_cols + cols, what, f"{col} indices not sorted or duplicated")
    return rows, cols


def _check_range(values: np.ndarray, limit: int, what: str, name: str) -> None:
    if values.size and int(values.max()) >= limit:
        worst = int(values.max())
        raise BitstreamError(f"{what} payload: {name} {worst} out of range [0, {limit})")


def _check_increasing(keys: np.ndarray, what: str, message: str) -> None:
    if keys.size > 1 and not (np.diff(keys) > 0).all():
        i = int(np.flatnonzero(np.diff(keys) <= 0)[0]) + 1
        raise BitstreamError(f"{what} payload: {message} (event {i})")


def best_format(z: np.ndarray) -> EventFormat:
    """The exact format with the smallest payload for `z` (ties go to the lower code).

    Args:
        z: [N, T] event matrix of 0/1.
    """
    z = check_event_matrix(z)
    return cheapest_exact(*z.shape, int(np.count_nonzero(z)))[0]
