"""Storage of the event matrix z ∈ {0,1}^(N×T): the paper's bit costs (for the training loss),
the exact payload sizes of the `.snc` formats (docs/bitstream.md, "Payload formats") and the
four exact formats' writers and readers.
`entropy.py` adds the entropy-coded format (which falls back on these), `payload.py` reads and
writes any format, `bitstream.py` the `.snc` file around a payload.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from neuro_codec.errors import BitstreamError

MAX_UNITS = 0xFFFF  # N is a u16 in the .snc header
MAX_FRAMES = 0xFFFF_FFFF  # T is a u32
MAX_CELLS = 0xFFFF_FFFF  # N·T: the largest matrix whose dense payload fits the u32 bit count
# N·T that writers accept and readers decode: 2^28 cells, a 256 MiB uint8 matrix, 21.6 h of
# audio at N = 80, 22,050 Hz, hop 512. It bounds what a (possibly tiny) file can make a reader
# allocate: an all-zero sparse payload of any N·T is 0 bits long.
MAX_DECODED_CELLS = 1 << 28


class EventFormat(str, Enum):
    """Payload formats of the event matrix; the value is the name used on the command line."""

    DENSE = "dense"
    COO = "coo"
    CSR_UNIT = "csr_unit"
    CSC_TIME = "csc_time"
    ENTROPY = "entropy"

    @property
    def code(self) -> int:
        """The format byte of the `.snc` header (0 dense … 4 entropy)."""
        return _FORMAT_CODES[self]

    @classmethod
    def from_code(cls, code: int) -> EventFormat:
        """The format with header byte `code`; BitstreamError if there is none."""
        for fmt, c in _FORMAT_CODES.items():
            if c == code:
                return fmt
        raise BitstreamError(f"unknown format code {code} (known: 0-{len(_FORMAT_CODES) - 1})")

    @classmethod
    def parse(cls, value: str | EventFormat) -> EventFormat:
        """The format named `value` (e.g. "csr_unit"); ValueError naming the known ones."""
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(f.value for f in cls)
            raise ValueError(f"unknown event format {value!r} (known: {names})") from None


_FORMAT_CODES = {
    EventFormat.DENSE: 0,
    EventFormat.COO: 1,
    EventFormat.CSR_UNIT: 2,
    EventFormat.CSC_TIME: 3,
    EventFormat.ENTROPY: 4,
}
EXACT_FORMATS = (EventFormat.DENSE, EventFormat.COO, EventFormat.CSR_UNIT, EventFormat.CSC_TIME)


# ---------------------------------------------------------------------------------------------
# Bit costs


def bit_width(x: int) -> int:
    """w(x) = ⌈log2 x⌉ for x ≥ 2, else 0: the bits of a field holding a value in [0, x)."""
    x = int(x)
    return (x - 1).bit_length() if x >= 2 else 0


def payload_bits(fmt: EventFormat | str, n_units: int, n_frames: int, n_events: int) -> int:
    """Exact payload size of an exact format (docs/bitstream.md), N units, T frames, S events.

        dense    N·T
        coo      S·(w(T) + w(N))
        csr_unit N·w(S+1) + S·w(T)
        csc_time T·w(S+1) + S·w(N)

    Raises:
        ValueError: `fmt` is the entropy format (its size is measured, not computed).
    """
    fmt = EventFormat.parse(fmt)
    n, t, s = int(n_units), int(n_frames), int(n_events)
    if fmt is EventFormat.DENSE:
        return n * t
    if fmt is EventFormat.COO:
        return s * (bit_width(t) + bit_width(n))
    if fmt is EventFormat.CSR_UNIT:
        return n * bit_width(s + 1) + s * bit_width(t)
    if fmt is EventFormat.CSC_TIME:
        return t * bit_width(s + 1) + s * bit_width(n)
    raise ValueError("the entropy format has no closed-form size; measure it with encode_payload")


@dataclass(frozen=True)
class PaperCosts:
    """The paper's storage costs in bits (Lisboa & Bellec 2024, Fig. 1), lg = ⌈log2⌉:

    B_dense = N·T, B_COO = S(lg T + lg N), B_CU = S lg T + (N+1) lg S,
    B_CT = S lg N + (T+1) lg S. Ints, or tensors shaped like S.
    """

    dense: Any  # B_dense, bits
    coo: Any  # B_COO, bits: a (time, unit) index pair per event
    cu: Any  # B_CU, bits: "compress unit", a time per event + N+1 row pointers
    ct: Any  # B_CT, bits: "compress time", a unit per event + T+1 column pointers

    def best(self) -> Any:
        """min(B_dense, B_COO, B_CU, B_CT), elementwise."""
        return _minimum(_minimum(self.dense, self.coo), _minimum(self.cu, self.ct))


def _is_tensor(x: Any) -> bool:
    """Whether `x` is a torch tensor. torch is not imported to find out: a tensor can only
    exist once something else has imported it, and the file code (`.snc` reading and
    writing, `neuro-codec info | pack | unpack`) runs without torch."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _lg(x: Any) -> Any:
    """lg x = ⌈log2 x⌉ for x > 1, else 0 (so lg 0 = lg 1 = 0); a constant for tensors."""
    if _is_tensor(x):
        import torch

        x = x.detach()
        return torch.where(x > 1, torch.ceil(torch.log2(x.clamp_min(1))), torch.zeros_like(x))
    if x <= 1:
        return 0
    if float(x).is_integer():
        return bit_width(int(x))  # exact for large integers, where log2 would round
    return math.ceil(math.log2(x))


def _minimum(a: Any, b: Any) -> Any:
    if _is_tensor(a) or _is_tensor(b):
        import torch

        return torch.minimum(torch.as_tensor(a), torch.as_tensor(b))
    return min(a, b)


def paper_costs(n_events: Any, n_units: int, n_frames: int) -> PaperCosts:
    """The paper's four storage costs for S = `n_events` (int, or a float tensor of any shape).

    The gradient w.r.t. a tensor S flows through the linear S terms only: lg S is a step
    function, so it is treated as a constant (as the paper's loss does).

    Args:
        n_events: S, events per matrix: an int, or a tensor [*batch] (may require grad).
        n_units: N.
        n_frames: T.
    Returns:
        PaperCosts of ints, or of tensors shaped like S.
    """
    s, n, t = n_events, int(n_units), int(n_frames)
    lg_n, lg_t, lg_s = _lg(n), _lg(t), _lg(s)
    dense = n * t
    if _is_tensor(s):
        import torch

        dense = torch.full_like(s, float(dense)).detach()
    return PaperCosts(
        dense=dense,
        coo=s * (lg_t + lg_n),
        cu=s * lg_t + (n + 1) * lg_s,
        ct=s * lg_n + (t + 1) * lg_s,
    )


def sparse_storage_cost(n_events: Any, n_units: int, n_frames: int) -> Any:
    """min(B_COO, B_CU, B_CT): the sparse cost of the SPARSE model's loss (divide by 80·T).

    Args/Returns as `paper_costs`; elementwise over a tensor S, with gradient through the
    cheapest format's S term.
    """
    c = paper_costs(n_events, n_units, n_frames)
    return _minimum(_minimum(c.coo, c.cu), c.ct)


# ---------------------------------------------------------------------------------------------
# Checking the event matrix


def check_event_matrix(z: Any) -> np.ndarray:
    """Return `z` as a uint8 [N, T] matrix of 0/1, or raise BitstreamError saying what is wrong.

    Accepts bool, integer or float arrays (or tensors) whose values are exactly 0 or 1, with
    1 ≤ N ≤ 65535, 1 ≤ T and N·T ≤ MAX_DECODED_CELLS = 2^28 (what `.snc` readers decode).
    """
    if _is_tensor(z):
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
# Bit fields: vectorised, MSB-first


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


def cheapest_exact(n_units: int, n_frames: int, n_events: int) -> tuple[EventFormat, int]:
    """The exact format with the smallest payload for N, T, S and its bits (ties go to the
    lower format code): what `.snc`'s "auto" weighs the entropy format against."""
    return min(((f, payload_bits(f, n_units, n_frames, n_events)) for f in EXACT_FORMATS),
               key=lambda fb: (fb[1], fb[0].code))


def min_exact_bits(n_units: int, n_frames: int, n_events: int) -> int:
    """Payload bits of the cheapest exact format for N, T, S."""
    return cheapest_exact(n_units, n_frames, n_events)[1]


def best_format(z: np.ndarray) -> EventFormat:
    """The exact format with the smallest payload for `z` (ties go to the lower code).

    Args:
        z: [N, T] event matrix of 0/1.
    """
    z = check_event_matrix(z)
    return cheapest_exact(*z.shape, int(np.count_nonzero(z)))[0]
