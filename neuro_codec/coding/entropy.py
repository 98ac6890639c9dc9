"""The entropy-coded event format: an adaptive context model range-coded with `constriction`.

`payload.py` delegates `EventFormat.ENTROPY` here (layout and model: docs/bitstream.md); where
range coding would not be smaller, the payload falls back on the cheapest exact format.
"""

from __future__ import annotations

import math

import constriction
import numpy as np

from neuro_codec.coding.costs import EXACT_FORMATS, EventFormat, cheapest_exact, min_exact_bits
from neuro_codec.coding.formats import decode_exact, encode_exact
from neuro_codec.errors import BitstreamError

PROB_BITS = 16  # k is P(z = 1) in units of 2^-16
PRIOR_WEIGHT = 16  # s: how many bits of evidence the shared estimate q is worth
HALVING_PERIOD_FRAMES = 4096  # counts are halved before frames 4096, 8192, ...
MODE_RANGE_CODED = 4  # first payload byte; 0-3 mean "an exact format follows"
_CHUNK_CELLS = 1 << 20  # encoder vectorises over chunks of at most this many bits (memory)

# The most probable symbol under constriction's 24-bit quantisation of p = k/2^16 has
# probability at most 1 − 2^-16, so every coded bit costs at least this much. A payload far
# shorter than N·T of these cannot be valid; refusing it keeps decoding time bounded.
_MIN_BITS_PER_SYMBOL = -math.log2(1.0 - 2.0**-PROB_BITS) * 0.999
_CODER_SLACK_BITS = 256


def _prob16(u1, u, g1, g):
    """k = clamp(⌊2^16 (2·U1·(G+1) + s·(2·G1+1)) / (2·(U+s)·(G+1))⌋, 1, 2^16 − 1), int64.

    This is p = (U1 + s·q)/(U + s) with q = (G1 + ½)/(G + 1), in integers so that every reader
    gets the same k.
    """
    gp1 = g + 1
    num = (2 * u1 * gp1 + PRIOR_WEIGHT * (2 * g1 + 1)) << PROB_BITS
    den = 2 * (u + PRIOR_WEIGHT) * gp1
    return np.clip(num // den, 1, (1 << PROB_BITS) - 1)


def _halve(*counts: np.ndarray) -> None:
    for c in counts:
        c >>= 1


def model_probabilities(z: np.ndarray) -> np.ndarray:
    """The model's k[n, t]: P(z[n, t] = 1) = k/2^16 before constriction's quantisation.

    Model v1. Bits are coded frame-major (for t, for n); the context of z[n, t] is
    a = z[n, t−1] (0 at t = 0), and the counts are of the bits of earlier frames:

        U1[n, a], U[n, a]   ones / bits of unit n seen in context a
        G1[a],    G[a]      ones / bits of all units seen in context a
        q = (G1 + ½) / (G + 1)                     shared Krichevsky–Trofimov estimate
        p = (U1 + s·q) / (U + s),  s = 16          the unit's estimate, shrunk towards q
        k = clamp(⌊2^16·p⌋, 1, 2^16 − 1)           in exact integers (`_prob16`)

    Counts are halved (floor) before frames 4096, 8192, …: every intermediate stays below
    2^61, and the model follows slow changes of the event statistics.

    Args:
        z: [N, T] uint8 event matrix.
    Returns:
        [N, T] int64 array of k in [1, 2^16 − 1].
    """
    return _frame_major_probabilities(np.ascontiguousarray(z.T)).T


def _frame_major_probabilities(zt: np.ndarray) -> np.ndarray:
    """k for zt = z.T ([T, N], the coding order), as a [T, N] int64 array.

    Vectorised over chunks of frames: within a halving period, the counts before frame t are
    the counts at the chunk start plus exclusive cumulative sums over the chunk.
    """
    t_total, n = zt.shape
    u1 = np.zeros((2, n), dtype=np.int64)  # U1[n, a], stored [a, n]
    u = np.zeros((2, n), dtype=np.int64)  # U[n, a]
    g1 = np.zeros(2, dtype=np.int64)  # G1[a]
    g = np.zeros(2, dtype=np.int64)  # G[a]
    k = np.empty((t_total, n), dtype=np.int64)
    chunk = max(1, min(HALVING_PERIOD_FRAMES, _CHUNK_CELLS // n))
    t0 = 0
    while t0 < t_total:
        if t0 and t0 % HALVING_PERIOD_FRAMES == 0:
            _halve(u1, u, g1, g)
        t1 = min(t_total, t0 + chunk, (t0 // HALVING_PERIOD_FRAMES + 1) * HALVING_PERIOD_FRAMES)
        x = zt[t0:t1].astype(np.int64)
        a = np.empty_like(x)  # context: the previous frame, 0 before frame 0
        a[1:] = x[:-1]
        a[0] = zt[t0 - 1] if t0 else 0
        ax = a * x
        # Per unit: bits and ones already seen in each context, before each frame of the chunk.
        seen1 = np.cumsum(a, axis=0) - a
        seen0 = np.arange(t1 - t0)[:, None] - seen1
        ones1 = np.cumsum(ax, axis=0) - ax
        ones0 = np.cumsum(x, axis=0) - x - ones1
        in1 = a == 1
        cu = np.where(in1, u[1] + seen1, u[0] + seen0)
        cu1 = np.where(in1, u1[1] + ones1, u1[0] + ones0)
        # Shared: the same per frame, summed over units.
        m1, o1 = a.sum(axis=1), ax.sum(axis=1)
        m0, o0 = n - m1, x.sum(axis=1) - o1
        ex = lambda v: (np.cumsum(v) - v)[:, None]  # noqa: E731 (exclusive cumulative sum)
        cg = np.where(in1, g[1] + ex(m1), g[0] + ex(m0))
        cg1 = np.where(in1, g1[1] + ex(o1), g1[0] + ex(o0))
        k[t0:t1] = _prob16(cu1, cu, cg1, cg)
        u[1] += a.sum(axis=0)
        u[0] += (t1 - t0) - a.sum(axis=0)
        u1[1] += ax.sum(axis=0)
        u1[0] += x.sum(axis=0) - ax.sum(axis=0)
        g += (m0.sum(), m1.sum())
        g1 += (o0.sum(), o1.sum())
        t0 = t1
    return k


def _bernoulli_family():
    # perfect=False: constriction's fast quantisation, left_cumulative(1) =
    # ⌊(1 − p)(2^24 − 2)⌋ + 1, which docs/bitstream.md states for re-implementers.
    return constriction.stream.model.Bernoulli(perfect=False)


def _range_code(z: np.ndarray) -> bytes:
    """Range-code z under the model; the compressed u32 words big-endian, trailing zeros cut.

    Coding stops after the frame of the last event: the reader knows S, so the frames after
    it are known to be silent and cost nothing.
    """
    active = np.flatnonzero(z.any(axis=0))
    if active.size == 0:
        return b""
    zt = np.ascontiguousarray(z[:, : active[-1] + 1].T)
    k = _frame_major_probabilities(zt)
    encoder = constriction.stream.queue.RangeEncoder()
    probs = k.ravel() * (1.0 / (1 << PROB_BITS))  # exact: a power-of-two scale
    encoder.encode(zt.ravel().astype(np.int32), _bernoulli_family(), probs)
    words = encoder.get_compressed().astype(">u4").tobytes()
    return words.rstrip(b"\0")


def encode_entropy(z: np.ndarray) -> tuple[bytes, int]:
    """The entropy-format payload of z: a mode byte, then the range-coded stream, or, where
    that would not be smaller, the best exact format (so it is never more than 8 bits above
    the best exact payload).

    Args:
        z: [N, T] uint8 event matrix of 0/1 (checked by the caller).
    Returns:
        (payload bytes, payload bits); the bits are 8 + 8·(coded bytes) when range-coded.
    """
    n, t = z.shape
    s = int(np.count_nonzero(z))
    best, exact_bits = cheapest_exact(n, t, s)
    coded = _range_code(z)
    if 8 * len(coded) < exact_bits:
        return bytes([MODE_RANGE_CODED]) + coded, 8 + 8 * len(coded)
    inner, inner_bits = encode_exact(z, best)
    return bytes([best.code]) + inner, 8 + inner_bits


def decode_entropy(payload: bytes, n_bits: int, n_units: int, n_frames: int,
                   n_events: int) -> np.ndarray:
    """Read an entropy-format payload back into the [N, T] event matrix.

    Raises:
        BitstreamError: empty payload, unknown mode, a range-coded stream that is not whole
            bytes, not smaller than the best exact format, too short for the frames it must
            hold, or that does not decode to S events.
    """
    if n_bits < 8 or len(payload) < 1:
        raise BitstreamError(f"entropy payload needs a mode byte, has {n_bits} bits")
    mode = payload[0]
    if mode < len(EXACT_FORMATS):
        inner = EventFormat.from_code(mode)
        return decode_exact(payload[1:], n_bits - 8, inner, n_units, n_frames, n_events)
    if mode != MODE_RANGE_CODED:
        raise BitstreamError(f"unknown entropy payload mode {mode} (known: 0-4)")
    if n_bits % 8:
        raise BitstreamError(f"range-coded entropy payload must be whole bytes, has {n_bits} bits")
    if len(payload) * 8 != n_bits:
        raise BitstreamError(
            f"entropy payload of {n_bits} bits needs {n_bits // 8} bytes, got {len(payload)}"
        )
    n, t = n_units, n_frames
    exact_bits = min_exact_bits(n, t, n_events)
    if n_bits - 8 >= exact_bits:
        raise BitstreamError(
            f"range-coded payload of {n_bits - 8} bits is not smaller than the best exact "
            f"format ({exact_bits} bits), so no encoder writes it"
        )
    coded = payload[1:]
    coded += b"\0" * (-len(coded) % 4)
    words = np.frombuffer(coded, dtype=">u4").astype(np.uint32)
    # Every coded bit costs at least _MIN_BITS_PER_SYMBOL: this bounds the frames a valid
    # stream can hold, and so the time a crafted file can make the reader spend.
    max_frames = int((n_bits + _CODER_SLACK_BITS) / (n * _MIN_BITS_PER_SYMBOL)) + 1
    try:
        return _range_decode(words, n, t, n_events, max_frames)
    except BitstreamError:
        raise
    except Exception as e:  # constriction rejects some invalid streams with its own errors
        raise BitstreamError(f"entropy payload does not decode: {e}") from None


def _range_decode(words: np.ndarray, n: int, t_total: int, n_events: int,
                  max_frames: int) -> np.ndarray:
    """Decode frame by frame, rebuilding the model's counts exactly as `model_probabilities`.

    The per-frame work is the hot loop of reading (one call per frame, N bits), so the counts
    are kept in the form `_prob16` multiplies out: num = (U1·2(G+1) + s(2G1+1))·2^16 and
    den = (U+s)·2(G+1), which gives the same integers k.
    """
    decoder = constriction.stream.queue.RangeDecoder(words)
    family = _bernoulli_family()
    z = np.zeros((n, t_total), dtype=np.uint8)  # calloc: frames never reached cost nothing
    # Frames go to a frame-major buffer first: writing columns of z one by one is strided.
    buffer = np.zeros((HALVING_PERIOD_FRAMES, n), dtype=np.uint8)
    flat = np.arange(n, dtype=np.int64) * 2  # index of (n, a=0) in the flattened [N, 2] counts
    u1 = np.zeros(2 * n, dtype=np.int64)  # U1[n, a]
    u_s = np.full(2 * n, PRIOR_WEIGHT, dtype=np.int64)  # U[n, a] + s
    g1 = [0, 0]  # G1[a]
    g = [0, 0]  # G[a]
    a = np.zeros(n, dtype=np.int32)
    k_max = (1 << PROB_BITS) - 1
    scale = 1.0 / (1 << PROB_BITS)
    total = 0
    for t in range(t_total):
        if total == n_events:
            break  # the frames after the last event are silent and not coded
        if t >= max_frames:
            raise BitstreamError(
                f"entropy payload is too short to hold {t} frames of {n} bits"
            )
        if t and t % HALVING_PERIOD_FRAMES == 0:
            z[:, t - HALVING_PERIOD_FRAMES: t] = buffer.T
            u1 >>= 1
            u_s[:] = ((u_s - PRIOR_WEIGHT) >> 1) + PRIOR_WEIGHT
            g1 = [v >> 1 for v in g1]
            g = [v >> 1 for v in g]
        idx = flat + a
        gp2 = np.where(a, 2 * (g[1] + 1), 2 * (g[0] + 1))
        prior = np.where(a, PRIOR_WEIGHT * (2 * g1[1] + 1), PRIOR_WEIGHT * (2 * g1[0] + 1))
        num = u1[idx] * gp2
        num += prior
        num <<= PROB_BITS
        k = num // (u_s[idx] * gp2)
        np.minimum(k, k_max, out=k)
        np.maximum(k, 1, out=k)
        x = decoder.decode(family, k * scale)  # int32 0/1
        buffer[t % HALVING_PERIOD_FRAMES] = x
        ones = int(np.count_nonzero(x))
        total += ones
        if total > n_events:
            raise BitstreamError(
                f"entropy payload decodes to more than S = {n_events} events (frame {t})"
            )
        u1[idx] += x
        u_s[idx] += 1
        m1, o1 = int(np.count_nonzero(a)), int(np.count_nonzero(a & x))
        g = [g[0] + n - m1, g[1] + m1]
        g1 = [g1[0] + ones - o1, g1[1] + o1]
        a = x
    else:
        t = t_total
    start = t - (t % HALVING_PERIOD_FRAMES or HALVING_PERIOD_FRAMES) if t else 0
    z[:, start:t] = buffer[: t - start].T
    if total != n_events:
        raise BitstreamError(
            f"entropy payload decodes to {total} events, header says S = {n_events}"
        )
    return z
