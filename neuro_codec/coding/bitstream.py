"""The `.snc` file (docs/bitstream.md): a little-endian header, an event payload, a CRC-32.

Payloads come from `formats.py` (exact formats) and `entropy.py` through `payload.py`; what
`.snc` shares with `.rvq` (sizes, bitrates, header checks, CRC seal) from `container.py`; the
byte layout is in docs/bitstream.md. Version 1 holds the events alone; version 2 adds a
compression level μ per segment of frames (the μ-SPARSE model). Readers name what is wrong and
raise BitstreamError.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from neuro_codec.coding.container import (
    CRC_BYTES,
    U32,
    CodedFileHeader,
    check_audio_header,
    check_audio_samples,
    check_decoded_size,
    check_field,
    check_header_fields,
    check_header_length,
    check_sealed,
    check_start,
    check_version,
    read_model_id,
    seal,
)
from neuro_codec.coding.container import MAX_MODEL_ID_BYTES as MAX_MODEL_ID_BYTES
from neuro_codec.coding.container import file_bitrate_bps as file_bitrate_bps
from neuro_codec.coding.container import payload_bitrate_bps as payload_bitrate_bps
from neuro_codec.coding.costs import EventFormat, cheapest_exact, payload_bits
from neuro_codec.coding.formats import MAX_DECODED_CELLS, check_event_matrix
from neuro_codec.coding.payload import decode_payload, encode_payload
from neuro_codec.data.audio import HOP_SAMPLES, SAMPLE_RATE_HZ
from neuro_codec.errors import BitstreamError
from neuro_codec.fileio import read_coded_file, write_bytes_atomic

MAGIC = b"SNC1"
VERSION = 1  # events only: what every file without μ is written as
VERSION_MU = 2  # version 1 + a u32 segment length and one u8 μ per segment
VERSIONS = (VERSION, VERSION_MU)
# magic, version, format, N, T, S, sample rate, hop, audio samples, model id length
_FIXED = struct.Struct("<4sBBHIIIHIB")
FIXED_HEADER_BYTES = _FIXED.size + U32.size  # 31: the version-1 header with an empty model id
MAX_MU = 255  # μ is a u8


@dataclass(frozen=True)
class SncHeader(CodedFileHeader):
    """The header of a `.snc` file."""

    version: int  # file format version: 1, or 2 when the file holds μ
    format: EventFormat  # payload format
    n_units: int  # N, rows of z (u16)
    n_frames: int  # T, columns of z, one per hop (u32)
    n_events: int  # S, ones in z (u32)
    sample_rate_hz: int  # audio sample rate, Hz (u32)
    hop_samples: int  # audio samples per frame (u16)
    n_audio_samples: int  # length of the coded audio, samples (u32)
    model_id: str  # encoder that made z, UTF-8, at most 255 bytes ("" if none)
    payload_bits: int  # payload size in bits, before zero padding to a byte (u32)
    mu: tuple[int, ...] = ()  # version 2: compression level μ ∈ [0, 255] per segment; () in v1
    mu_segment_frames: int = 0  # version 2: frames per μ segment, 1..T (u32); 0 in v1

    @property
    def header_bytes(self) -> int:
        """Bytes before the payload: 31 + model id length, + 4 + number of μ in version 2."""
        size = FIXED_HEADER_BYTES + len(self.model_id.encode("utf-8"))
        if self.version == VERSION_MU:
            size += U32.size + len(self.mu)
        return size

    def mu_per_frame(self) -> np.ndarray:
        """μ of every frame: segment i covers frames [i·F, (i+1)·F), F = mu_segment_frames,
        the last one cut at T.

        Returns:
            [T] int64 array of μ ∈ [0, 255].
        Raises:
            BitstreamError: a version-1 header, which has no μ (test `header.mu` first).
        """
        if self.version != VERSION_MU:
            raise BitstreamError(f"a version-{self.version} .snc header has no μ (version 2 has)")
        mu = np.asarray(self.mu, dtype=np.int64)
        return np.repeat(mu, self.mu_segment_frames)[: self.n_frames]

    @property
    def event_rate(self) -> float:
        """S / (N·T), the fraction of ones in z."""
        return self.n_events / (self.n_units * self.n_frames)


# ---------------------------------------------------------------------------------------------
# Writing


def _mu_segments(mu: Sequence[int] | int | None, mu_segment_frames: int,
                 t: int) -> tuple[tuple[int, ...], int]:
    """(μ per segment, frames per segment) for the header; ((), 0) when there is no μ.

    A segment longer than the clip is stored as T frames: the same μ for every frame, and
    the one form the reader accepts.
    """
    seg = check_field("mu_segment_frames", mu_segment_frames, 0, 0xFFFF_FFFF)
    if mu is None:
        if seg:
            raise BitstreamError(f"mu_segment_frames = {seg} given without mu")
        return (), 0
    if isinstance(mu, (int, np.integer)) and not isinstance(mu, bool):
        values = [mu]
    elif (isinstance(mu, np.ndarray) and mu.ndim == 1
          or isinstance(mu, Sequence) and not isinstance(mu, str)):
        values = list(mu)
    else:
        raise BitstreamError(f"mu must be an integer or a 1-D sequence of integers, got {mu!r}")
    levels = tuple(check_field("mu", v, 0, MAX_MU) for v in values)
    if seg == 0:
        if len(levels) != 1:
            raise BitstreamError(
                f"mu has {len(levels)} values; with mu_segment_frames = 0 (one segment of all "
                f"T = {t} frames) it must have 1"
            )
        return levels, t
    expected = -(-t // seg)
    if len(levels) != expected:
        raise BitstreamError(
            f"mu has {len(levels)} values; T = {t} frames in segments of {seg} make "
            f"{expected} segments, one μ each"
        )
    return levels, min(seg, t)


def encode_snc(z: np.ndarray, fmt: EventFormat | str = "auto",
               sample_rate_hz: int = SAMPLE_RATE_HZ, hop_samples: int = HOP_SAMPLES,
               n_audio_samples: int | None = None, model_id: str = "", *,
               mu: Sequence[int] | int | None = None,
               mu_segment_frames: int = 0) -> tuple[SncHeader, bytes]:
    """Build a `.snc` file in memory; see `pack_snc`. Returns (header, file bytes)."""
    sample_rate_hz, hop_samples, model_bytes = check_header_fields(sample_rate_hz, hop_samples,
                                                                   model_id)
    if fmt != "auto":
        try:
            fmt = EventFormat.parse(fmt)
        except ValueError as e:
            raise BitstreamError(str(e)) from None
    z = check_event_matrix(z)
    n, t = z.shape
    n_audio_samples = check_audio_samples(n_audio_samples, hop_samples, t,
                                          "the event matrix has")
    levels, seg = _mu_segments(mu, mu_segment_frames, t)
    s = int(np.count_nonzero(z))

    if fmt == "auto":
        best, best_bits = cheapest_exact(n, t, s)
        payload, bits = encode_payload(z, EventFormat.ENTROPY)
        fmt = EventFormat.ENTROPY
        if bits >= best_bits:  # ties go to the exact format (lower code)
            fmt = best
            payload, bits = encode_payload(z, best)
    else:
        payload, bits = encode_payload(z, fmt)
    if bits > 0xFFFF_FFFF:
        raise BitstreamError(f"{fmt.value} payload of {bits} bits does not fit the u32 field")

    version = VERSION_MU if levels else VERSION
    header = SncHeader(version, fmt, n, t, s, sample_rate_hz, hop_samples, n_audio_samples,
                       model_id, bits, levels, seg)
    head = _FIXED.pack(MAGIC, version, fmt.code, n, t, s, sample_rate_hz, hop_samples,
                       n_audio_samples, len(model_bytes)) + model_bytes
    if levels:
        head += U32.pack(seg) + bytes(levels)
    body = head + U32.pack(bits) + payload
    return header, seal(body)


def pack_snc(z: np.ndarray, fmt: EventFormat | str = "auto",
             sample_rate_hz: int = SAMPLE_RATE_HZ, hop_samples: int = HOP_SAMPLES,
             n_audio_samples: int | None = None, model_id: str = "", *,
             mu: Sequence[int] | int | None = None, mu_segment_frames: int = 0) -> bytes:
    """The `.snc` file of an event matrix, as bytes: version 1, or version 2 when `mu` is given.

    Args:
        z: [N, T] event matrix of 0/1 (any numeric or bool dtype), N·T ≤ MAX_DECODED_CELLS.
        fmt: "auto" (the smallest payload, ties to the lower format code) or an EventFormat.
        sample_rate_hz: audio sample rate, Hz.
        hop_samples: audio samples per frame.
        n_audio_samples: length of the audio, samples; defaults to T·hop. Must make T frames:
            ⌈n_audio_samples / hop⌉ = T.
        model_id: the encoder that made z (UTF-8, ≤ 255 bytes).
        mu: compression level(s) μ ∈ [0, 255] of the μ-SPARSE model: None (a version-1 file),
            one integer, or one per segment of `mu_segment_frames` frames, in time order.
        mu_segment_frames: frames per μ segment; 0 (default) means one segment of all T
            frames, which takes one μ; otherwise `mu` holds ⌈T / mu_segment_frames⌉ values
            (a segment longer than T is stored as T).
    Raises:
        BitstreamError: z is not a 2-D 0/1 matrix, a value does not fit its header field, the
            audio length does not make T frames, or μ is out of range or of the wrong length.
    """
    return encode_snc(z, fmt, sample_rate_hz, hop_samples, n_audio_samples, model_id, mu=mu,
                      mu_segment_frames=mu_segment_frames)[1]


def write_snc(path: str | os.PathLike, z: np.ndarray, fmt: EventFormat | str = "auto",
              sample_rate_hz: int = SAMPLE_RATE_HZ, hop_samples: int = HOP_SAMPLES,
              n_audio_samples: int | None = None, model_id: str = "", *,
              mu: Sequence[int] | int | None = None, mu_segment_frames: int = 0) -> SncHeader:
    """Write `pack_snc(z, ...)` to `path` atomically (temporary file, then rename).

    Returns:
        The header written.
    """
    header, data = encode_snc(z, fmt, sample_rate_hz, hop_samples, n_audio_samples, model_id,
                              mu=mu, mu_segment_frames=mu_segment_frames)
    write_bytes_atomic(path, data)
    return header


# ---------------------------------------------------------------------------------------------
# Reading


def parse_header(data: bytes) -> SncHeader:
    """Check a whole `.snc` file (sizes, CRC, header consistency) and return its header.

    The payload itself is not decoded; `unpack_snc` does that. A header that passes bounds
    what decoding it can allocate: N·T ≤ MAX_DECODED_CELLS, T = ⌈audio samples / hop⌉, and
    for the exact formats exactly the payload bits their N, T, S need, present in the file.

    Raises:
        BitstreamError: wrong magic, unknown version or format, truncated file, trailing
            bytes, CRC mismatch, or a header that contradicts itself or exceeds the limits.
    """
    check_start(data, MAGIC, ".snc", _FIXED.size, FIXED_HEADER_BYTES)
    (_, version, code, n, t, s, rate, hop, n_audio, id_len) = _FIXED.unpack_from(data)
    check_version(version, VERSIONS, ".snc")
    id_end = _FIXED.size + id_len
    head_len = id_end + U32.size  # version 1: the payload bits follow the model id
    seg, n_mu = 0, 0
    if version == VERSION_MU:
        if len(data) < id_end + U32.size:
            raise BitstreamError(
                f"truncated .snc: version-2 header with a {id_len}-byte model id needs its "
                f"μ segment length at bytes {id_end}-{id_end + 3}, file has {len(data)}"
            )
        (seg,) = U32.unpack_from(data, id_end)
        if seg < 1:
            raise BitstreamError("header says μ segments of 0 frames; they must be at least 1")
        n_mu = -(-t // seg)
        head_len = id_end + U32.size + n_mu + U32.size
    check_header_length(data, head_len, ".snc", id_len,
                        f" and {n_mu} μ segments" if version == VERSION_MU else "")
    (bits,) = U32.unpack_from(data, head_len - 4)
    total = head_len + -(-bits // 8) + CRC_BYTES
    check_sealed(data, total, ".snc", f"a {bits}-bit payload makes {total} bytes")

    fmt = EventFormat.from_code(code)
    if n < 1 or t < 1:
        raise BitstreamError(f"header says N = {n}, T = {t}; both must be at least 1")
    check_audio_header(rate, hop, n_audio, t)
    check_decoded_size(n, t, MAX_DECODED_CELLS, "N", "cells", "MAX_DECODED_CELLS")
    if s > n * t:
        raise BitstreamError(f"header says S = {s} events, more than N·T = {n * t}")
    if seg > t:
        raise BitstreamError(f"header says μ segments of {seg} frames, longer than T = {t}")
    model_id = read_model_id(data, _FIXED.size, id_end)
    if fmt is not EventFormat.ENTROPY and bits != payload_bits(fmt, n, t, s):
        raise BitstreamError(
            f"{fmt.value} payload of N={n}, T={t}, S={s} must be "
            f"{payload_bits(fmt, n, t, s)} bits, header says {bits}"
        )
    mu = tuple(data[id_end + U32.size: id_end + U32.size + n_mu])
    return SncHeader(version, fmt, n, t, s, rate, hop, n_audio, model_id, bits, mu, seg)


def unpack_snc(data: bytes) -> tuple[SncHeader, np.ndarray]:
    """Read a `.snc` file (version 1 or 2) from bytes.

    Returns:
        (header, z) with z an [N, T] uint8 matrix of 0/1; version 2's μ is in the header.
    Raises:
        BitstreamError: anything wrong with the file (see `parse_header`, `decode_payload`).
    """
    header = parse_header(data)
    start = header.header_bytes
    payload = bytes(data[start: start + header.payload_bytes])
    z = decode_payload(payload, header.payload_bits, header.format, header.n_units,
                       header.n_frames, header.n_events)
    return header, z


def read_snc(path: str | os.PathLike) -> tuple[SncHeader, np.ndarray]:
    """Read a `.snc` file: (header, [N, T] uint8 z). Raises BitstreamError."""
    return unpack_snc(read_coded_file(path))


def read_snc_header(path: str | os.PathLike) -> SncHeader:
    """Read and check a `.snc` file's header (CRC included) without decoding the payload."""
    return parse_header(read_coded_file(path))
