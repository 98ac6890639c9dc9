"""What `.snc` (bitstream.py) and `.rvq` (rvq_file.py) share: both are a little-endian header,
a payload zero-padded to a byte, and a u32 CRC-32 of everything before it. The sizes, bitrates,
the header checks both make (magic, version, length, sample rate, hop, audio samples and T, the
decoding limit, the model id) and the CRC seal live here once; each file keeps its own layout.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from neuro_codec.data.audio import bits_per_second, n_frames
from neuro_codec.errors import BitstreamError

CRC_BYTES = 4
U32 = struct.Struct("<I")
MAX_MODEL_ID_BYTES = 255  # the model id's length is a u8


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


# ---------------------------------------------------------------------------------------------
# Writing


def check_header_fields(sample_rate_hz: int, hop_samples: int,
                       model_id: str) -> tuple[int, int, bytes]:
    """The header fields every coded file has, checked before its content is.

    Returns:
        (sample rate in Hz, hop in samples, the model id's UTF-8 bytes).
    Raises:
        BitstreamError: a rate or hop that does not fit its field (u32, u16; at least 1), or a
            model id over MAX_MODEL_ID_BYTES bytes of UTF-8.
    """
    sample_rate_hz = check_field("sample rate (Hz)", sample_rate_hz, 1, 0xFFFF_FFFF)
    hop_samples = check_field("hop (samples)", hop_samples, 1, 0xFFFF)
    model_bytes = model_id.encode("utf-8")
    if len(model_bytes) > MAX_MODEL_ID_BYTES:
        raise BitstreamError(
            f"model id is {len(model_bytes)} bytes of UTF-8; the header allows {MAX_MODEL_ID_BYTES}"
        )
    return sample_rate_hz, hop_samples, model_bytes


def check_audio_samples(n_audio_samples: int | None, hop_samples: int, t: int,
                        holder_has: str) -> int:
    """The coded audio's length in samples, which must make the T frames the content has.

    Args:
        n_audio_samples: samples, or None for T·hop.
        holder_has: what has T frames, for the message ("the event matrix has", "the codes
            have").
    Raises:
        BitstreamError: not a u32 of at least 1, or ⌈n_audio_samples / hop⌉ ≠ T.
    """
    if n_audio_samples is None:
        n_audio_samples = t * hop_samples
    n_audio_samples = check_field("number of audio samples", n_audio_samples, 1, 0xFFFF_FFFF)
    if n_frames(n_audio_samples, hop_samples) != t:
        raise BitstreamError(
            f"{n_audio_samples} audio samples at hop {hop_samples} make "
            f"{n_frames(n_audio_samples, hop_samples)} frames, {holder_has} T = {t}"
        )
    return n_audio_samples


def seal(body: bytes) -> bytes:
    """The file: `body` (header and padded payload) and its CRC-32."""
    return body + U32.pack(zlib.crc32(body))


# ---------------------------------------------------------------------------------------------
# Reading


def check_start(data: bytes, magic: bytes, kind: str, fixed_size: int, fixed_bytes: int) -> None:
    """Check the magic (when the file has 4 bytes) and that the fixed header is there.

    Args:
        kind: ".snc" or ".rvq", for the messages.
        fixed_size: bytes the reader unpacks first.
        fixed_bytes: the shortest header, as the message states it.
    Raises:
        BitstreamError: another magic, or a file shorter than `fixed_size`.
    """
    if len(data) >= 4 and bytes(data[:4]) != magic:
        raise BitstreamError(f"not an {kind} file: magic {bytes(data[:4])!r}, expected {magic!r}")
    if len(data) < fixed_size:
        raise BitstreamError(
            f"truncated {kind}: header needs {fixed_bytes} bytes, file has {len(data)}"
        )


def check_version(version: int, known: tuple[int, ...], kind: str) -> None:
    """BitstreamError unless this reader knows `version`."""
    if version not in known:
        raise BitstreamError(
            f"unknown {kind} version {version} (this reader knows {', '.join(map(str, known))})"
        )


def check_header_length(data: bytes, head_len: int, kind: str, id_len: int,
                        also: str = "") -> None:
    """BitstreamError unless the header with its `id_len`-byte model id (and `also`, e.g.
    " and 3 μ segments") is all there: `head_len` bytes."""
    if len(data) < head_len:
        raise BitstreamError(
            f"truncated {kind}: header with a {id_len}-byte model id{also} needs {head_len} "
            f"bytes, file has {len(data)}"
        )


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


def check_audio_header(rate: int, hop: int, n_audio: int, t: int) -> None:
    """Check a header's sample rate, hop and audio length, and that they make its T frames.

    Raises:
        BitstreamError: a rate, hop or length of 0, or ⌈n_audio / hop⌉ ≠ T.
    """
    if rate < 1 or hop < 1 or n_audio < 1:
        raise BitstreamError(
            f"header says sample rate {rate} Hz, hop {hop}, {n_audio} audio samples; "
            f"all must be at least 1"
        )
    if n_frames(n_audio, hop) != t:
        raise BitstreamError(
            f"header says T = {t} frames, but {n_audio} audio samples at hop {hop} make "
            f"{n_frames(n_audio, hop)}"
        )


def check_decoded_size(rows: int, t: int, limit: int, rows_symbol: str, unit: str,
                       limit_name: str) -> None:
    """Refuse a header whose rows × T frames exceed what this reader decodes: the bound on what
    a (possibly tiny) file can make it allocate.

    Args:
        rows_symbol, unit, limit_name: "N", "cells", "MAX_DECODED_CELLS" for `.snc`;
            "Q", "codes", "MAX_CODES" for `.rvq`.
    """
    if rows * t > limit:
        raise BitstreamError(
            f"header says {rows_symbol}·T = {rows}×{t} = {rows * t} {unit}; this reader decodes "
            f"at most {limit} ({limit_name})"
        )


def read_model_id(data: bytes, start: int, end: int) -> str:
    """The model id at bytes [start, end), or BitstreamError if it is not UTF-8."""
    try:
        return bytes(data[start:end]).decode("utf-8")
    except UnicodeDecodeError:
        raise BitstreamError("model id is not valid UTF-8") from None
