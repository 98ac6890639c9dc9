"""What `.snc` and `.rvq` files share (coding/container.py): their layouts, pinned byte for byte
so that a change of layout fails here, and the header checks both readers and writers make,
each with its exact message."""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest

from neuro_codec.coding.bitstream import pack_snc, parse_header, unpack_snc
from neuro_codec.coding.container import seal
from neuro_codec.coding.costs import EventFormat
from neuro_codec.coding.entropy import MODE_RANGE_CODED
from neuro_codec.coding.rvq_file import MAX_CODES, pack_rvq, parse_rvq_header, unpack_rvq
from neuro_codec.errors import BitstreamError

# N = 3 units, T = 4 frames, S = 2 events: z[0, 1] and z[1, 3].
TINY = np.array([[0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]], dtype=np.uint8)
TINY_CODES = np.array([[0, 5, 1, 2], [7, 2, 3, 4]])  # Q = 2 codebooks of B = 3 bits, T = 4

# The .snc header: "SNC1", version, format, N (u16), T, S, sample rate (u32), hop (u16), audio
# samples (u32), model id length and bytes, [version 2: μ segment frames (u32), μ per segment],
# payload bits (u32); then the payload and the CRC-32.
SNC_HEAD = "534e4331 01 {code} 0300 04000000 02000000 22560000 0002 00080000 01 6d"
TINY_SNC = {
    # 12 bits, frame-major: t0 000, t1 100, t2 000, t3 010.
    EventFormat.DENSE: SNC_HEAD.format(code="00") + " 0c000000 1020 496303ba",
    # 2 × (w(T) = 2 + w(N) = 2) bits: (t1, n0) 01 00, (t3, n1) 11 01.
    EventFormat.COO: SNC_HEAD.format(code="01") + " 08000000 4d 664ad03d",
    # N·w(S+1) = 3·2 pointer bits 01 10 10, then S·w(T) = 2·2 frame bits 01 11.
    EventFormat.CSR_UNIT: SNC_HEAD.format(code="02") + " 0a000000 69c0 db12a2f4",
    # T·w(S+1) = 4·2 pointer bits 00 01 01 10, then S·w(N) = 2·2 unit bits 00 01.
    EventFormat.CSC_TIME: SNC_HEAD.format(code="03") + " 0c000000 1610 0f9f886f",
    # Range coding would not be smaller: mode byte 1 (coo), then the coo payload.
    EventFormat.ENTROPY: SNC_HEAD.format(code="04") + " 10000000 014d 8dfda3f9",
}
# Version 2 with μ = 3, 7 over segments of 2 frames, 2,000 audio samples, no model id.
TINY_SNC_MU = ("534e4331 02 01 0300 04000000 02000000 22560000 0002 d0070000 00"
               " 02000000 03 07 08000000 4d 6e8e5a82")
# The .rvq header: "RVQ1", version, Q (u8), B (u8), T, sample rate (u32), hop (u16), audio
# samples (u32), model id length and bytes; then Q·B·T bits frame-major, and the CRC-32.
TINY_RVQ = "52565131 01 02 03 04000000 22560000 0002 00080000 01 72 1ea2d4 da7f6f76"

# A larger matrix with structure for the entropy coder to find (302 events in 80 × 64), and 8
# codebooks of 10 bits over 43 frames: their files by sha256.
UNITS, FRAMES = np.arange(80)[:, None], np.arange(64)[None, :]
STRIPES = ((5 * UNITS + FRAMES // 2) % 17 == 0).astype(np.uint8)
STRIPES_SHA256 = {
    EventFormat.DENSE: (681, "57a42d8848acdeb0390d7460478d4068a27f3c86526f967edc00490fc72e2497"),
    EventFormat.COO: (532, "8e9635d6f8204399c908bbf8f061b633237a4f5e86358e7dd5cc54e8983c9218"),
    EventFormat.CSR_UNIT: (
        358, "637a539bb05c316b46b6232f62050894ac036854f8cd54899fbb794965638b7f"),
    EventFormat.CSC_TIME: (
        378, "8b69aea5711dba8f83f4296cb83544ea8cb2b1ac8c4bcc2cded591efa72da017"),
    EventFormat.ENTROPY: (226, "57905b761f9812d7ac8eafc6ed3dc04469a0afa3ec65d5ecb2d1015317687a50"),
}
CODES = (np.arange(8)[:, None] * 131 + np.arange(43)[None, :] * 17) % 1024
CODES_SHA256 = (464, "dffb2c8f5bd4841d25f596e150c615237d629af85051c45732a67632ae5163eb")


# ---------------------------------------------------------------------------------------------
# Layouts


@pytest.mark.parametrize("fmt", list(EventFormat))
def test_a_tiny_snc_file_is_these_bytes(fmt):
    data = pack_snc(TINY, fmt, model_id="m")
    assert data.hex() == TINY_SNC[fmt].replace(" ", "")
    header, z = unpack_snc(data)
    assert header.format is fmt and np.array_equal(z, TINY)


def test_a_tiny_version_2_snc_file_is_these_bytes():
    data = pack_snc(TINY, "coo", n_audio_samples=2000, mu=[3, 7], mu_segment_frames=2)
    assert data.hex() == TINY_SNC_MU.replace(" ", "")
    assert unpack_snc(data)[0].mu == (3, 7)


def test_a_tiny_rvq_file_is_these_bytes():
    # Codes frame-major, 3 bits each: 000 111 | 101 010 | 001 011 | 010 100 (24 bits, no padding).
    data = pack_rvq(TINY_CODES, 3, model_id="r")
    assert data.hex() == TINY_RVQ.replace(" ", "")
    assert np.array_equal(unpack_rvq(data)[1], TINY_CODES)


@pytest.mark.parametrize("fmt", list(EventFormat))
def test_larger_snc_files_keep_their_hash(fmt):
    data = pack_snc(STRIPES, fmt, model_id="bursts")
    assert (len(data), hashlib.sha256(data).hexdigest()) == STRIPES_SHA256[fmt]
    if fmt is EventFormat.ENTROPY:  # range-coded here, not a fallback on an exact format
        assert data[parse_header(data).header_bytes] == MODE_RANGE_CODED
    assert np.array_equal(unpack_snc(data)[1], STRIPES)


def test_a_larger_rvq_file_keeps_its_hash():
    data = pack_rvq(CODES, 10, model_id="rvq-8x10")
    assert (len(data), hashlib.sha256(data).hexdigest()) == CODES_SHA256


# ---------------------------------------------------------------------------------------------
# The shared reader checks, on both files

# Byte offsets of the header fields both files have.
SNC = dict(read=parse_header, data=pack_snc(TINY, "coo", model_id="m"), kind=".snc",
           fixed=31, version=4, t=8, rate=16, hop=20, n_audio=22, id_len=26, head=27, known="1, 2")
RVQ = dict(read=parse_rvq_header, data=pack_rvq(TINY_CODES, 3, model_id="r"), kind=".rvq",
           fixed=22, version=4, t=7, rate=11, hop=15, n_audio=17, id_len=21, head=22, known="1")
FILES = pytest.mark.parametrize("f", [SNC, RVQ], ids=["snc", "rvq"])


def patched(f: dict, field: str, fmt: str, value: int) -> bytes:
    """The file with one header field replaced and its CRC recomputed."""
    data = bytearray(f["data"])
    struct.pack_into(fmt, data, f[field], value)
    return seal(bytes(data[:-4]))


def refused(f: dict, data: bytes) -> str:
    with pytest.raises(BitstreamError) as e:
        f["read"](data)
    return str(e.value)


@FILES
def test_the_magic_is_checked(f):
    magic = f["data"][:4].decode()
    assert refused(f, b"RIFF" + f["data"][4:]) == (
        f"not an {f['kind']} file: magic b'RIFF', expected b'{magic}'")


@FILES
def test_a_short_fixed_header_is_refused(f):
    assert refused(f, f["data"][:10]) == (
        f"truncated {f['kind']}: header needs {f['fixed']} bytes, file has 10")


@FILES
def test_an_unknown_version_is_refused(f):
    assert refused(f, patched(f, "version", "<B", 9)) == (
        f"unknown {f['kind']} version 9 (this reader knows {f['known']})")


@FILES
def test_a_model_id_past_the_end_is_refused(f):
    size = len(f["data"])
    head = f["head"] + 200 + (4 if f is SNC else 0)  # .snc: the payload bits follow the id
    assert refused(f, patched(f, "id_len", "<B", 200)) == (
        f"truncated {f['kind']}: header with a 200-byte model id needs {head} bytes, "
        f"file has {size}")


@FILES
@pytest.mark.parametrize("field, fmt", [("rate", "<I"), ("hop", "<H"), ("n_audio", "<I")])
def test_a_zero_rate_hop_or_length_is_refused(f, field, fmt):
    values = {"rate": 22050, "hop": 512, "n_audio": 2048, field: 0}
    assert refused(f, patched(f, field, fmt, 0)) == (
        f"header says sample rate {values['rate']} Hz, hop {values['hop']}, "
        f"{values['n_audio']} audio samples; all must be at least 1")


@FILES
def test_audio_samples_that_do_not_make_t_frames_are_refused(f):
    assert refused(f, patched(f, "n_audio", "<I", 3000)) == (
        "header says T = 4 frames, but 3000 audio samples at hop 512 make 6")


@FILES
def test_a_model_id_that_is_not_utf8_is_refused(f):
    data = bytearray(f["data"])
    data[f["head"]] = 0xFF
    assert refused(f, seal(bytes(data[:-4]))) == "model id is not valid UTF-8"


def test_snc_refuses_more_cells_than_it_decodes():
    # N = 2^14, T = 2^15: 2^29 cells; coo's payload size is that of the file, so only the
    # limit is wrong.
    data = bytearray(SNC["data"])
    struct.pack_into("<HI", data, 6, 1 << 14, 1 << 15)
    struct.pack_into("<I", data, 22, (1 << 15) * 512)
    assert refused(SNC, seal(bytes(data[:-4]))) == (
        "header says N·T = 16384×32768 = 536870912 cells; this reader decodes at most "
        "268435456 (MAX_DECODED_CELLS)")


def test_rvq_refuses_more_codes_than_it_decodes():
    q, t = 255, MAX_CODES // 255 + 1  # 1 bit per code: a 4 MiB payload
    head = struct.pack("<4sBBBIIHIB", b"RVQ1", 1, q, 1, t, 22050, 512, t * 512, 0)
    data = seal(head + bytes(-(-q * t // 8)))
    assert refused(RVQ, data) == (
        f"header says Q·T = 255×{t} = {255 * t} codes; this reader decodes at most "
        f"{MAX_CODES} (MAX_CODES)")


# ---------------------------------------------------------------------------------------------
# The shared writer checks, on both files

WRITERS = pytest.mark.parametrize("write, holder_has", [
    (lambda **kw: pack_snc(TINY, "coo", **kw), "the event matrix has"),
    (lambda **kw: pack_rvq(TINY_CODES, 3, **kw), "the codes have"),
], ids=["snc", "rvq"])


@WRITERS
@pytest.mark.parametrize("kw, message", [
    ({"sample_rate_hz": 0}, "sample rate (Hz) must be an integer in [1, 4294967295], got 0"),
    ({"hop_samples": 1 << 16}, "hop (samples) must be an integer in [1, 65535], got 65536"),
    ({"hop_samples": True}, "hop (samples) must be an integer in [1, 65535], got True"),
    ({"model_id": "é" * 128}, "model id is 256 bytes of UTF-8; the header allows 255"),
    ({"n_audio_samples": 0}, "number of audio samples must be an integer in [1, 4294967295], "
                             "got 0"),
])
def test_writers_refuse_fields_that_do_not_fit(write, holder_has, kw, message):
    with pytest.raises(BitstreamError) as e:
        write(**kw)
    assert str(e.value) == message


@WRITERS
def test_writers_refuse_audio_that_does_not_make_t_frames(write, holder_has):
    with pytest.raises(BitstreamError) as e:
        write(n_audio_samples=1536)
    assert str(e.value) == f"1536 audio samples at hop 512 make 3 frames, {holder_has} T = 4"
