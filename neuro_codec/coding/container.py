"""What `.snc` (bitstream.py) and `.rvq` (rvq_file.py) share: both are a little-endian header,
a payload zero-padded to a byte, and a u32 CRC-32 of everything before it. The sizes, bitrates,
field checks and the CRC seal live here once; each file keeps its own header layout.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from neuro_codec.data.audio import bits_per_second
from neuro_codec.errors import BitstreamError

CRC_BYTES = 4
U32 = struct.Struct("<I")


class CodedFileHeader:
    """Sizes of a coded file, for a header dataclass that has `header_bytes`, `payload_bits`,
    `n_audio_samples` and `sample_rate_hz`."""

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


def payload_bitrate_bps(header: CodedFileHeader) -> float:
    """Payload bits per second of audio (the paper's bitrate)."""
    return bits_per_second(header.payload_bits, header.n_audio_samples, header.sample_rate_hz)


def file_bitrate_bps(header: CodedFileHeader, file_bytes: int | None = None) -> float:
    """Whole-file bits per second of audio (header and CRC included).

    Args:
        header: the file's header.
        file_bytes: the file's size; defaults to the size the header implies.
    """
    size = header.file_bytes if file_bytes is None else file_bytes
    return bits_per_second(8 * size, header.n_audio_samples, header.sample_rate_hz)


def check_field(name: str, value: int, low: int, high: int) -> int:
    """`value` as an int if it is an integer (not a bool) in [low, high], else BitstreamError."""
    if (not isinstance(value, (int, np.integer)) or isinstance(value, bool)
            or not low <= int(value) <= high):
        raise BitstreamError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return int(value)


def seal(body: bytes) -> bytes:
    """The file: `body` (header and padded payload) and its CRC-32."""
    return body + U32.pack(zlib.crc32(body))


def check_sealed(data: bytes, total: int, kind: str, truncated: str) -> None:
    """Check that `data` is exactly `total` bytes and that its CRC holds.

    Args:
        kind: ".snc" or ".rvq", for the messages.
        truncated: what a short file lacks, e.g. "a 10-bit payload makes 39 bytes".
    Raises:
        BitstreamError: truncated, trailing bytes, or a CRC mismatch.
    """
    if len(data) < total:
        raise BitstreamError(f"truncated {kind}: {truncated}, file has {len(data)}")
    if len(data) > total:
        raise BitstreamError(
            f"{kind} has {len(data) - total} unexpected bytes after the CRC ({total} expected)"
        )
    (stored,) = U32.unpack_from(data, total - CRC_BYTES)
    computed = zlib.crc32(memoryview(data)[: total - CRC_BYTES])  # no copy
    if stored != computed:
        raise BitstreamError(f"CRC mismatch: stored 0x{stored:08x}, computed 0x{computed:08x}")
