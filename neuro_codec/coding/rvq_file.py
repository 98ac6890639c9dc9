"""The `.rvq` file: the codes of a residual-vector-quantiser baseline, Q codebooks × T frames.

Kept apart from `.snc` (bitstream.py) because its content is not binary events: each frame holds
Q integer codes of B bits, so the payload is a fixed Q·B·T bits (a constant bitrate) and there is
no sparse format to choose. Same conventions as `.snc` (little-endian header, MSB-first payload,
zlib CRC-32) and the same header checks (`container.py`); layout in docs/bitstream.md.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import numpy as np

from neuro_codec.coding.bits import bits_to_uints, pack_bits, uints_to_bits
from neuro_codec.coding.container import (
    CRC_BYTES,
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
from neuro_codec.coding.formats import MAX_DECODED_CELLS
from neuro_codec.data.audio import HOP_SAMPLES, SAMPLE_RATE_HZ
from neuro_codec.errors import BitstreamError
from neuro_codec.fileio import read_coded_file, write_bytes_atomic

MAGIC = b"RVQ1"
VERSION = 1
MAX_CODEBOOKS = 255  # Q is a u8
MAX_CODEBOOK_BITS = 16  # B: codebooks of up to 65,536 entries
# Q·T codes a reader decodes at most: 2^25, the same 256 MiB as the `.snc` limit on N·T
# (MAX_DECODED_CELLS uint8 cells), here of int64 codes; 27.1 h at Q = 8, 22,050 Hz, hop 512.
MAX_CODES = MAX_DECODED_CELLS // 8
_CHUNK_CODES = 1 << 20  # the reader unpacks at most this many codes' bits at a time (memory)
# magic, version, Q, B, T, sample rate, hop, audio samples, model id length
_FIXED = struct.Struct("<4sBBBIIHIB")
FIXED_HEADER_BYTES = _FIXED.size  # 22: the header with an empty model id


@dataclass(frozen=True)
class RvqHeader(CodedFileHeader):
    """The header of a `.rvq` file."""

    version: int  # file format version, 1
    n_codebooks: int  # Q, codes per frame (u8, 1..255)
    codebook_bits: int  # B, bits per code: codebooks of 2^B entries (u8, 1..16)
    n_frames: int  # T, frames, one per hop (u32)
    sample_rate_hz: int  # audio sample rate, Hz (u32)
    hop_samples: int  # audio samples per frame (u16)
    n_audio_samples: int  # length of the coded audio, samples (u32); T = ⌈samples / hop⌉
    model_id: str  # model that made the codes, UTF-8, at most 255 bytes ("" if none)

    @property
    def header_bytes(self) -> int:
        """Bytes before the payload: 22 + model id length."""
        return FIXED_HEADER_BYTES + len(self.model_id.encode("utf-8"))

    @property
    def payload_bits(self) -> int:
        """Q·B·T: every code of every frame, B bits each."""
        return self.n_codebooks * self.codebook_bits * self.n_frames


def is_rvq(data_prefix: bytes) -> bool:
    """Whether bytes (at least the first 4 of a file) start with the `.rvq` magic."""
    return bytes(data_prefix[:4]) == MAGIC


# ---------------------------------------------------------------------------------------------
# Writing


def _check_codes(codes: np.ndarray, codebook_bits: int) -> np.ndarray:
    """`codes` as a [Q, T] int64 array of values in [0, 2^B), or BitstreamError."""
    if hasattr(codes, "detach"):  # a torch tensor
        codes = codes.detach().cpu().numpy()
    if not isinstance(codes, np.ndarray):
        raise BitstreamError(f"codes must be a numpy array, got {type(codes).__name__}")
    if codes.ndim != 2:
        raise BitstreamError(f"codes must be 2-D (Q codebooks, T frames), got shape {codes.shape}")
    q, t = codes.shape
    if not 1 <= q <= MAX_CODEBOOKS:
        raise BitstreamError(f"codes have {q} codebooks; the .rvq format allows 1-{MAX_CODEBOOKS}")
    if t < 1:
        raise BitstreamError(f"codes have no frames: shape {codes.shape}")
    if q * t > MAX_CODES:
        raise BitstreamError(
            f"codes have {q}×{t} = {q * t} entries; the .rvq format allows at most {MAX_CODES}"
        )
    if codes.dtype.kind not in "iu":
        raise BitstreamError(f"codes must be integers, got dtype {codes.dtype}")
    codes = codes.astype(np.int64)
    bad = (codes < 0) | (codes >> codebook_bits != 0)
    if bad.any():
        i, j = (int(v[0]) for v in np.nonzero(bad))
        raise BitstreamError(
            f"code {int(codes[i, j])} at codebook {i}, frame {j} does not fit {codebook_bits} "
            f"bits: codes must be in [0, {(1 << codebook_bits) - 1}]"
        )
    return codes


def encode_rvq(codes: np.ndarray, codebook_bits: int, sample_rate_hz: int = SAMPLE_RATE_HZ,
               hop_samples: int = HOP_SAMPLES, n_audio_samples: int | None = None,
               model_id: str = "") -> tuple[RvqHeader, bytes]:
    """Build a `.rvq` file in memory; see `pack_rvq`. Returns (header, file bytes)."""
    codebook_bits = check_field("codebook bits", codebook_bits, 1, MAX_CODEBOOK_BITS)
    sample_rate_hz, hop_samples, model_bytes = check_header_fields(sample_rate_hz, hop_samples,
                                                                   model_id)
    codes = _check_codes(codes, codebook_bits)
    q, t = codes.shape
    n_audio_samples = check_audio_samples(n_audio_samples, hop_samples, t, "the codes have")
    header = RvqHeader(VERSION, q, codebook_bits, t, sample_rate_hz, hop_samples,
                       n_audio_samples, model_id)
    # Frame-major: for t, for q (codes.T in C order), so a stream can be cut at any frame.
    payload, _ = pack_bits([uints_to_bits(codes.T.ravel(), codebook_bits)])
    body = _FIXED.pack(MAGIC, VERSION, q, codebook_bits, t, sample_rate_hz, hop_samples,
                       n_audio_samples, len(model_bytes)) + model_bytes + payload
    return header, seal(body)


def pack_rvq(codes: np.ndarray, codebook_bits: int, sample_rate_hz: int = SAMPLE_RATE_HZ,
             hop_samples: int = HOP_SAMPLES, n_audio_samples: int | None = None,
             model_id: str = "") -> bytes:
    """The `.rvq` file of a code matrix, as bytes.

    Args:
        codes: [Q, T] integer codes, code[q, t] of codebook q at frame t, each in [0, 2^B).
        codebook_bits: B, bits per code (1..16).
        sample_rate_hz: audio sample rate, Hz.
        hop_samples: audio samples per frame.
        n_audio_samples: length of the audio, samples; defaults to T·hop. Must make T frames:
            ⌈n_audio_samples / hop⌉ = T.
        model_id: the model that made the codes (UTF-8, ≤ 255 bytes).
    Raises:
        BitstreamError: codes not a 2-D integer array of 1..255 codebooks, a code ≥ 2^B or
            negative, Q·T > MAX_CODES, a value that does not fit its header field, or an audio
            length that does not make T frames.
    """
    return encode_rvq(codes, codebook_bits, sample_rate_hz, hop_samples, n_audio_samples,
                      model_id)[1]


def write_rvq(path: str | os.PathLike, codes: np.ndarray, codebook_bits: int,
              sample_rate_hz: int = SAMPLE_RATE_HZ, hop_samples: int = HOP_SAMPLES,
              n_audio_samples: int | None = None, model_id: str = "") -> RvqHeader:
    """Write `pack_rvq(codes, ...)` to `path` atomically (temporary file, then rename).

    Returns:
        The header written.
    """
    header, data = encode_rvq(codes, codebook_bits, sample_rate_hz, hop_samples,
                              n_audio_samples, model_id)
    write_bytes_atomic(path, data)
    return header


# ---------------------------------------------------------------------------------------------
# Reading


def parse_rvq_header(data: bytes) -> RvqHeader:
    """Check a whole `.rvq` file (sizes, CRC, header consistency) and return its header.

    Raises:
        BitstreamError: wrong magic, unknown version, Q or B out of range, truncated file,
            trailing bytes, CRC mismatch, or a header that contradicts itself or exceeds
            MAX_CODES.
    """
    check_start(data, MAGIC, ".rvq", _FIXED.size, FIXED_HEADER_BYTES)
    (_, version, q, b, t, rate, hop, n_audio, id_len) = _FIXED.unpack_from(data)
    check_version(version, (VERSION,), ".rvq")
    # Q and B fix the payload size, so they are checked before the size is.
    if q < 1:
        raise BitstreamError("header says 0 codebooks; there must be at least 1")
    if not 1 <= b <= MAX_CODEBOOK_BITS:
        raise BitstreamError(
            f"header says {b} bits per code; the .rvq format allows 1-{MAX_CODEBOOK_BITS}"
        )
    head_len = _FIXED.size + id_len
    check_header_length(data, head_len, ".rvq", id_len)
    bits = q * b * t
    total = head_len + -(-bits // 8) + CRC_BYTES
    check_sealed(data, total, ".rvq", f"{q} codes of {b} bits × {t} frames make {total} bytes")

    if t < 1:
        raise BitstreamError("header says T = 0 frames; there must be at least 1")
    check_audio_header(rate, hop, n_audio, t)
    check_decoded_size(q, t, MAX_CODES, "Q", "codes", "MAX_CODES")
    model_id = read_model_id(data, _FIXED.size, head_len)
    return RvqHeader(version, q, b, t, rate, hop, n_audio, model_id)


def unpack_rvq(data: bytes) -> tuple[RvqHeader, np.ndarray]:
    """Read a `.rvq` file from bytes.

    Returns:
        (header, codes) with codes a [Q, T] int64 array, each in [0, 2^B).
    Raises:
        BitstreamError: anything wrong with the file (see `parse_rvq_header`), or non-zero
            padding bits after the payload.
    """
    header = parse_rvq_header(data)
    start = header.header_bytes
    payload = bytes(data[start: start + header.payload_bytes])
    pad = 8 * len(payload) - header.payload_bits
    if pad and payload[-1] & ((1 << pad) - 1):
        raise BitstreamError(
            f"rvq payload: padding bits after bit {header.payload_bits} are not zero"
        )
    return header, _decode_codes(payload, header.n_codebooks, header.codebook_bits,
                                 header.n_frames)


def _decode_codes(payload: bytes, q: int, b: int, t: int) -> np.ndarray:
    """[Q, T] int64 codes from the frame-major payload, a chunk of frames at a time.

    Chunks are a multiple of 8 frames, so each starts on a byte (Q·B·8k bits); the scratch
    memory is that of one chunk, whatever T.
    """
    codes = np.empty((q, t), dtype=np.int64)
    step = max(8, _CHUNK_CODES // q // 8 * 8)
    for t0 in range(0, t, step):
        t1 = min(t, t0 + step)
        lo, hi = q * b * t0 // 8, -(-q * b * t1 // 8)
        chunk = np.unpackbits(np.frombuffer(payload, dtype=np.uint8, count=hi - lo, offset=lo))
        fields = chunk[: q * b * (t1 - t0)].reshape((t1 - t0) * q, b)
        codes[:, t0:t1] = bits_to_uints(fields).reshape(t1 - t0, q).T
    return codes


def read_rvq(path: str | os.PathLike) -> tuple[RvqHeader, np.ndarray]:
    """Read a `.rvq` file: (header, [Q, T] int64 codes). Raises BitstreamError."""
    return unpack_rvq(read_coded_file(path))


def read_rvq_header(path: str | os.PathLike) -> RvqHeader:
    """Read and check a `.rvq` file's header (CRC included) without decoding the payload."""
    return parse_rvq_header(read_coded_file(path))
