"""The `.snc` file (DESIGN §5): a little-endian header, an event payload, a CRC-32.

Payloads come from `storage.py` (exact formats) and `entropy.py`; the byte layout is in
docs/bitstream.md. Readers name what is wrong with a file and raise BitstreamError.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuro_codec.errors import BitstreamError
from neuro_codec.fileio import write_bytes_atomic
from neuro_codec.storage import (
    EXACT_FORMATS,
    MAX_CELLS,
    EventFormat,
    check_event_matrix,
    decode_payload,
    encode_payload,
    payload_bits,
)

MAGIC = b"SNC1"
VERSION = 1
# magic, version, format, N, T, S, sample rate, hop, audio samples, model id length
_FIXED = struct.Struct("<4sBBHIIIHIB")
_U32 = struct.Struct("<I")
FIXED_HEADER_BYTES = _FIXED.size + _U32.size  # 31: the header with an empty model id
CRC_BYTES = 4
MAX_MODEL_ID_BYTES = 255


@dataclass(frozen=True)
class SncHeader:
    """The header of a `.snc` file."""

    version: int  # file format version, 1
    format: EventFormat  # payload format
    n_units: int  # N, rows of z (u16)
    n_frames: int  # T, columns of z, one per hop (u32)
    n_events: int  # S, ones in z (u32)
    sample_rate_hz: int  # audio sample rate, Hz (u32)
    hop_samples: int  # audio samples per frame (u16)
    n_audio_samples: int  # length of the coded audio, samples (u32)
    model_id: str  # encoder that made z, UTF-8, at most 255 bytes ("" if none)
    payload_bits: int  # payload size in bits, before zero padding to a byte (u32)

    @property
    def header_bytes(self) -> int:
        """Bytes before the payload: 31 + model id length."""
        return FIXED_HEADER_BYTES + len(self.model_id.encode("utf-8"))

    @property
    def payload_bytes(self) -> int:
        return -(-self.payload_bits // 8)

    @property
    def file_bytes(self) -> int:
        """Size of the whole file: header, padded payload, CRC."""
        return self.header_bytes + self.payload_bytes + CRC_BYTES

    @property
    def duration_s(self) -> float:
        """Seconds of audio: n_audio_samples / sample_rate_hz."""
        return self.n_audio_samples / self.sample_rate_hz

    @property
    def event_rate(self) -> float:
        """S / (N·T), the fraction of ones in z."""
        return self.n_events / (self.n_units * self.n_frames)


def payload_bitrate_bps(header: SncHeader) -> float:
    """Payload bits per second of audio (the paper's bitrate)."""
    return header.payload_bits / header.duration_s


def file_bitrate_bps(header: SncHeader, file_bytes: int | None = None) -> float:
    """Whole-file bits per second of audio (header and CRC included).

    Args:
        header: the file's header.
        file_bytes: the file's size; defaults to the size the header implies.
    """
    size = header.file_bytes if file_bytes is None else file_bytes
    return 8 * size / header.duration_s


# ---------------------------------------------------------------------------------------------
# Writing


def _check_field(name: str, value: int, low: int, high: int) -> int:
    if not isinstance(value, (int, np.integer)) or not low <= int(value) <= high:
        raise BitstreamError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return int(value)


def encode_snc(z: np.ndarray, fmt: EventFormat | str = "auto", sample_rate_hz: int = 22050,
               hop_samples: int = 512, n_audio_samples: int | None = None,
               model_id: str = "") -> tuple[SncHeader, bytes]:
    """Build a `.snc` file in memory; see `pack_snc`. Returns (header, file bytes)."""
    sample_rate_hz = _check_field("sample rate (Hz)", sample_rate_hz, 1, 0xFFFF_FFFF)
    hop_samples = _check_field("hop (samples)", hop_samples, 1, 0xFFFF)
    model_bytes = model_id.encode("utf-8")
    if len(model_bytes) > MAX_MODEL_ID_BYTES:
        raise BitstreamError(
            f"model id is {len(model_bytes)} bytes of UTF-8; the header allows {MAX_MODEL_ID_BYTES}"
        )
    if fmt != "auto":
        try:
            fmt = EventFormat.parse(fmt)
        except ValueError as e:
            raise BitstreamError(str(e)) from None
    z = check_event_matrix(z)
    n, t = z.shape
    if n_audio_samples is None:
        n_audio_samples = t * hop_samples
    n_audio_samples = _check_field("number of audio samples", n_audio_samples, 1, 0xFFFF_FFFF)
    s = int(np.count_nonzero(z))
    if t > 0xFFFF_FFFF or s > 0xFFFF_FFFF:
        raise BitstreamError(f"T = {t} or S = {s} does not fit the u32 header fields")

    if fmt == "auto":
        candidates = [(payload_bits(f, n, t, s), f.code, f) for f in EXACT_FORMATS]
        best_bits, _, best = min(candidates)
        payload, bits = encode_payload(z, EventFormat.ENTROPY)
        fmt = EventFormat.ENTROPY
        if bits >= best_bits:  # ties go to the exact format (lower code)
            fmt = best
            payload, bits = encode_payload(z, best)
    else:
        payload, bits = encode_payload(z, fmt)
    if bits > 0xFFFF_FFFF:
        raise BitstreamError(f"{fmt.value} payload of {bits} bits does not fit the u32 field")

    header = SncHeader(VERSION, fmt, n, t, s, sample_rate_hz, hop_samples, n_audio_samples,
                       model_id, bits)
    head = _FIXED.pack(MAGIC, VERSION, fmt.code, n, t, s, sample_rate_hz, hop_samples,
                       n_audio_samples, len(model_bytes)) + model_bytes + _U32.pack(bits)
    body = head + payload
    return header, body + _U32.pack(zlib.crc32(body))


def pack_snc(z: np.ndarray, fmt: EventFormat | str = "auto", sample_rate_hz: int = 22050,
             hop_samples: int = 512, n_audio_samples: int | None = None,
             model_id: str = "") -> bytes:
    """The `.snc` file of an event matrix, as bytes.

    Args:
        z: [N, T] event matrix of 0/1 (any numeric or bool dtype).
        fmt: "auto" (the smallest payload, ties to the lower format code) or an EventFormat.
        sample_rate_hz: audio sample rate, Hz.
        hop_samples: audio samples per frame.
        n_audio_samples: length of the audio, samples; defaults to T·hop.
        model_id: the encoder that made z (UTF-8, ≤ 255 bytes).
    Raises:
        BitstreamError: z is not a 2-D 0/1 matrix, or a value does not fit its header field.
    """
    return encode_snc(z, fmt, sample_rate_hz, hop_samples, n_audio_samples, model_id)[1]


def write_snc(path: str | os.PathLike, z: np.ndarray, fmt: EventFormat | str = "auto",
              sample_rate_hz: int = 22050, hop_samples: int = 512,
              n_audio_samples: int | None = None, model_id: str = "") -> SncHeader:
    """Write `pack_snc(z, ...)` to `path` atomically (temporary file, then rename).

    Returns:
        The header written.
    """
    header, data = encode_snc(z, fmt, sample_rate_hz, hop_samples, n_audio_samples, model_id)
    write_bytes_atomic(path, data)
    return header


# ---------------------------------------------------------------------------------------------
# Reading


def parse_header(data: bytes) -> SncHeader:
    """Check a whole `.snc` file (sizes, CRC, header consistency) and return its header.

    The payload itself is not decoded; `unpack_snc` does that.

    Raises:
        BitstreamError: wrong magic, unknown version or format, truncated file, trailing
            bytes, CRC mismatch, or a header that contradicts itself.
    """
    if len(data) >= 4 and data[:4] != MAGIC:
        raise BitstreamError(f"not an .snc file: magic {bytes(data[:4])!r}, expected {MAGIC!r}")
    if len(data) < _FIXED.size:
        raise BitstreamError(
            f"truncated .snc: header needs {FIXED_HEADER_BYTES} bytes, file has {len(data)}"
        )
    (_, version, code, n, t, s, rate, hop, n_audio, id_len) = _FIXED.unpack_from(data)
    if version != VERSION:
        raise BitstreamError(f"unknown .snc version {version} (this reader knows {VERSION})")
    head_len = FIXED_HEADER_BYTES + id_len
    if len(data) < head_len:
        raise BitstreamError(
            f"truncated .snc: header with a {id_len}-byte model id needs {head_len} bytes, "
            f"file has {len(data)}"
        )
    (bits,) = _U32.unpack_from(data, head_len - 4)
    total = head_len + -(-bits // 8) + CRC_BYTES
    if len(data) < total:
        raise BitstreamError(
            f"truncated .snc: a {bits}-bit payload makes {total} bytes, file has {len(data)}"
        )
    if len(data) > total:
        raise BitstreamError(
            f".snc has {len(data) - total} unexpected bytes after the CRC ({total} expected)"
        )
    (stored,) = _U32.unpack_from(data, total - CRC_BYTES)
    computed = zlib.crc32(data[: total - CRC_BYTES])
    if stored != computed:
        raise BitstreamError(f"CRC mismatch: stored 0x{stored:08x}, computed 0x{computed:08x}")

    fmt = EventFormat.from_code(code)
    if n < 1 or t < 1:
        raise BitstreamError(f"header says N = {n}, T = {t}; both must be at least 1")
    if n * t > MAX_CELLS:
        raise BitstreamError(f"header says N·T = {n * t} cells; the limit is 2^32 - 1")
    if s > n * t:
        raise BitstreamError(f"header says S = {s} events, more than N·T = {n * t}")
    if rate < 1 or hop < 1 or n_audio < 1:
        raise BitstreamError(
            f"header says sample rate {rate} Hz, hop {hop}, {n_audio} audio samples; "
            f"all must be at least 1"
        )
    try:
        model_id = bytes(data[FIXED_HEADER_BYTES - 4: head_len - 4]).decode("utf-8")
    except UnicodeDecodeError:
        raise BitstreamError("model id is not valid UTF-8") from None
    if fmt is not EventFormat.ENTROPY and bits != payload_bits(fmt, n, t, s):
        raise BitstreamError(
            f"{fmt.value} payload of N={n}, T={t}, S={s} must be "
            f"{payload_bits(fmt, n, t, s)} bits, header says {bits}"
        )
    return SncHeader(version, fmt, n, t, s, rate, hop, n_audio, model_id, bits)


def unpack_snc(data: bytes) -> tuple[SncHeader, np.ndarray]:
    """Read a `.snc` file from bytes.

    Returns:
        (header, z) with z an [N, T] uint8 matrix of 0/1.
    Raises:
        BitstreamError: anything wrong with the file (see `parse_header`, `decode_payload`).
    """
    header = parse_header(data)
    start = header.header_bytes
    payload = bytes(data[start: start + header.payload_bytes])
    z = decode_payload(payload, header.payload_bits, header.format, header.n_units,
                       header.n_frames, header.n_events)
    return header, z


def _read(path: str | os.PathLike) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise BitstreamError(f"cannot read {path}: {e.strerror or e}") from None


def read_snc(path: str | os.PathLike) -> tuple[SncHeader, np.ndarray]:
    """Read a `.snc` file: (header, [N, T] uint8 z). Raises BitstreamError."""
    return unpack_snc(_read(path))


def read_snc_header(path: str | os.PathLike) -> SncHeader:
    """Read and check a `.snc` file's header (CRC included) without decoding the payload."""
    return parse_header(_read(path))
