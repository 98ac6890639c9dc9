"""The `.rvq` code container: byte layout, round trips, every writer and reader error, the
reader's allocation bound, `neuro-codec info`."""

from __future__ import annotations

import re
import struct
import zlib

import numpy as np
import pytest
import torch
from factories import peak_allocation

import neuro_codec.coding.rvq_file as rvq_file
from neuro_codec.cli import main
from neuro_codec.coding.bitstream import pack_snc
from neuro_codec.coding.rvq_file import (
    FIXED_HEADER_BYTES,
    MAX_CODES,
    RvqHeader,
    file_bitrate_bps,
    is_rvq,
    pack_rvq,
    parse_rvq_header,
    payload_bitrate_bps,
    read_rvq,
    read_rvq_header,
    unpack_rvq,
    write_rvq,
)
from neuro_codec.errors import BitstreamError

# Q = 2 codebooks of B = 3 bits, T = 3 frames.
SMALL = np.array([[1, 2, 7], [0, 5, 3]])
MEBIBYTE = 1 << 20


def with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def forge(q: int, b: int, t: int, payload: bytes, hop: int = 512, n_audio: int | None = None,
          version: int = 1, model_id: bytes = b"", magic: bytes = b"RVQ1") -> bytes:
    """A `.rvq` file from raw header values, with a valid CRC."""
    n_audio = t * hop if n_audio is None else n_audio
    head = struct.pack("<4sBBBIIHIB", magic, version, q, b, t, 22050, hop, n_audio,
                       len(model_id))
    return with_crc(head + model_id + payload)


def test_byte_layout_of_a_small_file():
    data = pack_rvq(SMALL, 3, model_id="rq")
    # Frame-major, 3 bits each: t0 (1, 0), t1 (2, 5), t2 (7, 3) = 001 000 010 101 111 011.
    payload = bytes([0b00100001, 0b01011110, 0b11000000])
    body = (b"RVQ1" + bytes([1, 2, 3]) + (3).to_bytes(4, "little")
            + (22050).to_bytes(4, "little") + (512).to_bytes(2, "little")
            + (1536).to_bytes(4, "little") + bytes([2]) + b"rq" + payload)
    assert data == with_crc(body)
    assert data[:-4].hex(" ") == ("52 56 51 31 01 02 03 03 00 00 00 22 56 00 00 00 02 00 06 00 "
                                  "00 02 72 71 21 5e c0")
    assert len(data) == FIXED_HEADER_BYTES + 2 + -(-2 * 3 * 3 // 8) + 4 == 22 + 2 + 3 + 4
    assert forge(2, 3, 3, payload, model_id=b"rq") == data
    header, codes = unpack_rvq(data)
    assert header == RvqHeader(1, 2, 3, 3, 22050, 512, 1536, "rq")
    assert codes.dtype == np.int64 and np.array_equal(codes, SMALL)
    assert (header.header_bytes, header.payload_bits, header.payload_bytes) == (24, 18, 3)
    assert header.file_bytes == len(data) == 31


def test_baseline_rate_is_3445_bps():
    codes = np.random.default_rng(0).integers(0, 1024, (8, 431))
    data = pack_rvq(codes, 10)
    header = parse_rvq_header(data)
    assert header.payload_bits == 80 * 431
    assert len(data) == FIXED_HEADER_BYTES + 10 * 431 + 4
    assert payload_bitrate_bps(header) == 80 * 22050 / 512 == 3445.3125
    assert file_bitrate_bps(header) == 8 * len(data) * 22050 / (431 * 512)
    assert file_bitrate_bps(header, 100) == 800 * 22050 / (431 * 512)
    assert header.duration_s == 431 * 512 / 22050


@pytest.mark.parametrize("q, b, t", [(1, 1, 1), (8, 10, 431), (255, 16, 3), (3, 7, 1000),
                                     (4, 16, 77), (2, 9, 5)])
def test_round_trip(q, b, t):
    codes = np.random.default_rng(q * b + t).integers(0, 1 << b, (q, t))
    for c in (codes, np.zeros_like(codes), np.full_like(codes, (1 << b) - 1)):
        header, back = unpack_rvq(pack_rvq(c, b))
        assert np.array_equal(back, c) and back.shape == (q, t) and back.dtype == np.int64
        assert header.payload_bits == q * b * t


def test_round_trip_across_reading_chunks(monkeypatch):
    monkeypatch.setattr(rvq_file, "_CHUNK_CODES", 16)  # chunks of 8 frames, byte aligned
    for q, b, t in ((3, 5, 1001), (1, 1, 9), (7, 3, 8), (2, 13, 17)):
        codes = np.random.default_rng(t).integers(0, 1 << b, (q, t))
        assert np.array_equal(unpack_rvq(pack_rvq(codes, b))[1], codes)


def test_input_types_and_fields():
    data = pack_rvq(SMALL, 3, sample_rate_hz=44100, hop_samples=256, n_audio_samples=700,
                    model_id="rvq-8x10-β")
    for codes in (SMALL.astype(np.uint16), SMALL.astype(np.int8), torch.tensor(SMALL)):
        assert pack_rvq(codes, 3, sample_rate_hz=44100, hop_samples=256, n_audio_samples=700,
                        model_id="rvq-8x10-β") == data
    header = parse_rvq_header(data)
    assert header == RvqHeader(1, 2, 3, 3, 44100, 256, 700, "rvq-8x10-β")
    assert header.header_bytes == FIXED_HEADER_BYTES + len("rvq-8x10-β".encode())


def test_files_and_atomic_write(tmp_path):
    path = tmp_path / "sub" / "codes.rvq"
    codes = np.random.default_rng(1).integers(0, 1024, (8, 100))
    header = write_rvq(path, codes, 10, model_id="rvq")
    assert read_rvq_header(path) == header
    got_header, got = read_rvq(path)
    assert got_header == header and np.array_equal(got, codes)
    assert path.stat().st_size == header.file_bytes
    assert sorted(p.name for p in path.parent.iterdir()) == ["codes.rvq"]
    with pytest.raises(BitstreamError, match="does not fit 10 bits"):
        write_rvq(tmp_path / "bad.rvq", codes + 1, 10)
    assert not (tmp_path / "bad.rvq").exists()
    with pytest.raises(BitstreamError, match="cannot read"):
        read_rvq(tmp_path / "missing.rvq")


def test_is_rvq():
    assert is_rvq(pack_rvq(SMALL, 3)) and is_rvq(b"RVQ1") and is_rvq(b"RVQ1\x01")
    assert not is_rvq(pack_snc(np.ones((1, 1)))) and not is_rvq(b"RVQ") and not is_rvq(b"")


@pytest.mark.parametrize("codes, bits, kwargs, message", [
    (SMALL + [[0, 0, 1], [0, 0, 0]], 3, {},
     r"code 8 at codebook 0, frame 2 does not fit 3 bits: codes must be in \[0, 7\]"),
    (SMALL - [[0, 0, 0], [1, 0, 0]], 3, {}, "code -1 at codebook 1, frame 0 does not fit 3 bits"),
    (np.full((8, 4), 1024), 10, {}, "code 1024 at codebook 0, frame 0 does not fit 10 bits"),
    (SMALL, 0, {}, r"codebook bits must be an integer in \[1, 16\], got 0"),
    (SMALL, 17, {}, r"codebook bits must be an integer in \[1, 16\], got 17"),
    (np.zeros((0, 3), int), 3, {}, "0 codebooks; the .rvq format allows 1-255"),
    (np.zeros((256, 3), int), 3, {}, "256 codebooks"),
    (np.zeros((2, 0), int), 3, {}, "no frames"),
    (np.zeros(3, int), 3, {}, "must be 2-D"),
    (SMALL.astype(float), 3, {}, "must be integers, got dtype float64"),
    (SMALL.tolist(), 3, {}, "must be a numpy array"),
    (SMALL, 3, dict(n_audio_samples=1024), "1024 audio samples at hop 512 make 2 frames, the "
                                           "codes have T = 3"),
    (SMALL, 3, dict(n_audio_samples=0), "number of audio samples must be"),
    (SMALL, 3, dict(hop_samples=70000), "hop"),
    (SMALL, 3, dict(model_id="m" * 256), "model id is 256 bytes"),
    # A view with no memory behind it: the size is checked before the values.
    (np.broadcast_to(np.int64(0), (8, MAX_CODES // 8 + 1)), 10, {},
     "8×4194305 = 33554440 entries; the .rvq format allows at most 33554432"),
])
def test_writer_errors(codes, bits, kwargs, message):
    with pytest.raises(BitstreamError, match=message):
        pack_rvq(codes, bits, **kwargs)


VALID = pack_rvq(SMALL, 3, model_id="rq")
PAYLOAD = VALID[24:27]


@pytest.mark.parametrize("data, message", [
    (b"", "truncated .rvq: header needs 22 bytes, file has 0"),
    (VALID[:10], "truncated .rvq: header needs 22 bytes, file has 10"),
    (b"RIFF" + VALID[4:], r"not an .rvq file: magic b'RIFF', expected b'RVQ1'"),
    (pack_snc(np.ones((1, 1))), r"not an .rvq file: magic b'SNC1'"),
    (forge(2, 3, 3, PAYLOAD, version=2), r"unknown .rvq version 2 \(this reader knows 1\)"),
    (forge(0, 3, 3, b""), "header says 0 codebooks"),
    (forge(2, 0, 3, b""), "header says 0 bits per code; the .rvq format allows 1-16"),
    (forge(2, 17, 3, PAYLOAD), "header says 17 bits per code"),
    (VALID[:23], "header with a 2-byte model id needs 24 bytes, file has 23"),
    (VALID[:-1], r"truncated .rvq: 2 codes of 3 bits × 3 frames make 31 bytes, file has 30"),
    (VALID + b"\0", r"1 unexpected bytes after the CRC \(31 expected\)"),
    (VALID[:25] + bytes([VALID[25] ^ 1]) + VALID[26:], "CRC mismatch: stored 0x"),
    (forge(2, 3, 0, b""), "T = 0 frames"),
    (forge(2, 3, 3, PAYLOAD, hop=0), "hop 0"),
    (forge(2, 3, 3, PAYLOAD, n_audio=0), "0 audio samples"),
    (forge(2, 3, 3, PAYLOAD, n_audio=1024), "T = 3 frames, but 1024 audio samples at hop 512 "
                                            "make 2"),
    (forge(2, 3, 3, PAYLOAD, n_audio=1537), "make 4"),
    (forge(2, 3, 3, PAYLOAD, model_id=b"\xff\xfe"), "model id is not valid UTF-8"),
    (forge(2, 3, 3, PAYLOAD[:2] + bytes([PAYLOAD[2] | 1])), "padding bits after bit 18"),
    # A huge T with a tiny payload: every code is in the file, so the size gives it away.
    (forge(255, 16, 0xFFFF_FFFF, b"", hop=1, n_audio=0xFFFF_FFFF), "make 2190433320476 bytes, "
                                                                   "file has 26"),
])
def test_malformed_files(data, message):
    peak, error = peak_allocation(lambda: unpack_rvq(data))
    assert isinstance(error, BitstreamError), error
    assert re.search(message, str(error)), str(error)
    assert peak < MEBIBYTE


def test_reader_bound_on_codes():
    # One code more than MAX_CODES, 1 bit each: a 4 MiB file that the reader refuses.
    t = MAX_CODES + 1
    data = forge(1, 1, t, bytes(-(-t // 8)), hop=1)
    peak, error = peak_allocation(lambda: unpack_rvq(data))
    assert isinstance(error, BitstreamError)
    assert "Q·T = 1×33554433 = 33554433 codes; this reader decodes at most 33554432" in str(error)
    assert peak < MEBIBYTE  # the CRC reads the file in place


def test_the_largest_allowed_file_reads():
    t = MAX_CODES  # Q = 1, B = 1: 4 MiB of payload, 256 MiB of int64 codes
    payload = bytearray(t // 8)
    payload[0], payload[-1] = 0x80, 0x01  # codes 1 at the first and the last frame
    data = forge(1, 1, t, bytes(payload), hop=1)
    result = {}
    peak, error = peak_allocation(lambda: result.update(zip(("h", "c"), unpack_rvq(data))))
    assert error is None
    codes = result.pop("c")
    assert codes.shape == (1, t) and int(codes.sum()) == 2 and codes[0, 0] == codes[0, -1] == 1
    # The codes themselves (8·Q·T bytes), the payload copy and one chunk of scratch.
    assert peak < 8 * t + len(payload) + 64 * MEBIBYTE, f"{peak / MEBIBYTE:.0f} MiB"


# ---------------------------------------------------------------------------------------------
# The command line


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_info(tmp_path, capsys):
    codes = np.random.default_rng(2).integers(0, 1024, (8, 431))
    header = write_rvq(tmp_path / "baseline.rvq", codes, 10, n_audio_samples=220_500,
                       model_id="rvq-8x10")
    code, out, err = run_cli(capsys, "info", tmp_path / "baseline.rvq")
    assert code == 0 and err == ""
    assert out.splitlines() == [
        "file type        .rvq (RVQ codes)",
        "version          1",
        "codebooks Q      8",
        "bits per code B  10 (1024 entries)",
        "frames T         431",
        "sample rate      22050 Hz",
        "hop              512 samples",
        "audio            220500 samples (10.000 s)",
        "model id         'rvq-8x10'",
        "payload          34480 bits (80 bits/frame)",
        f"file             {header.file_bytes} bytes ({8 * header.file_bytes} bits)",
        "payload bitrate  3448.0 bps",
        f"file bitrate     {8 * header.file_bytes / 10:.1f} bps",
    ]
    assert header.file_bytes == FIXED_HEADER_BYTES + 8 + 4310 + 4


def test_cli_info_errors(tmp_path, capsys):
    data = pack_rvq(SMALL, 3)
    (tmp_path / "crc.rvq").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    (tmp_path / "short.rvq").write_bytes(data[:-2])
    for name, message in (("crc.rvq", "CRC mismatch"), ("short.rvq", "truncated .rvq"),
                          ("missing.rvq", "cannot read")):
        code, out, err = run_cli(capsys, "info", tmp_path / name)
        lines = err.strip().splitlines()
        assert code == 1 and out == "" and len(lines) == 1, err
        assert lines[0].startswith("error: ") and message in lines[0], lines[0]
