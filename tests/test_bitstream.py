"""The `.snc` container: byte layout (versions 1 and 2), round trips, every malformed-file
error, the reader's allocation bound, fuzzing, CLI."""

from __future__ import annotations

import re
import struct
import zlib

import numpy as np
import pytest
from factories import peak_allocation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuro_codec.cli import main
from neuro_codec.coding.bits import uints_to_bits
from neuro_codec.coding.bitstream import (
    FIXED_HEADER_BYTES,
    MAX_DECODED_CELLS,
    SncHeader,
    file_bitrate_bps,
    pack_snc,
    parse_header,
    payload_bitrate_bps,
    read_snc,
    read_snc_header,
    unpack_snc,
    write_snc,
)
from neuro_codec.coding.costs import EXACT_FORMATS, EventFormat, payload_bits
from neuro_codec.coding.entropy import MODE_RANGE_CODED
from neuro_codec.data.synthetic import bursty_event_matrix
from neuro_codec.errors import BitstreamError

TINY = np.array([[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]], dtype=np.uint8)


def with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def refresh_crc(data: bytes) -> bytes:
    """Recompute the last four bytes as the CRC of the rest (so a mutation reaches the parser)."""
    return with_crc(data[:-4]) if len(data) >= 4 else data


def set_field(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return refresh_crc(bytes(out))


def test_byte_layout_of_tiny_dense_file():
    data = pack_snc(TINY, "dense")
    body = (b"SNC1" + bytes([1, 0]) + (3).to_bytes(2, "little") + (4).to_bytes(4, "little")
            + (2).to_bytes(4, "little") + (22050).to_bytes(4, "little")
            + (512).to_bytes(2, "little") + (2048).to_bytes(4, "little") + bytes([0])
            + (12).to_bytes(4, "little") + bytes([0b00010000, 0b00010000]))
    assert data == with_crc(body)
    assert len(data) == FIXED_HEADER_BYTES + 2 + 4 == 37
    assert data[:-4].hex() == (
        "534e4331" "01" "00" "0300" "04000000" "02000000" "22560000" "0002" "00080000" "00"
        "0c000000" "1010"
    )
    assert data[-4:] == struct.pack("<I", zlib.crc32(data[:-4]))


def test_header_fields_and_model_id():
    data = pack_snc(TINY, "coo", sample_rate_hz=44100, hop_samples=256, n_audio_samples=1000,
                    model_id="sparse-β=0.1")
    header, z = unpack_snc(data)
    assert header == SncHeader(1, EventFormat.COO, 3, 4, 2, 44100, 256, 1000, "sparse-β=0.1", 8)
    assert header.header_bytes == FIXED_HEADER_BYTES + len("sparse-β=0.1".encode())
    assert header.file_bytes == len(data)
    assert np.array_equal(z, TINY)


@pytest.mark.parametrize("fmt", [*EventFormat, "auto"])
@pytest.mark.parametrize("shape, rate", [((80, 1024), 0.05), ((80, 256), 0.01), ((1, 1), 1.0),
                                         ((5, 3), 0.0), ((64, 128), 0.3)])
def test_round_trip(fmt, shape, rate):
    z = (np.random.default_rng(0).random(shape) < rate).astype(np.uint8)
    data = pack_snc(z, fmt)
    header, back = unpack_snc(data)
    assert np.array_equal(back, z) and back.dtype == np.uint8
    assert header.n_events == int(z.sum()) and len(data) == header.file_bytes
    if fmt in EXACT_FORMATS:
        assert header.payload_bits == payload_bits(fmt, *shape, int(z.sum()))


def test_auto_picks_the_smallest():
    for z in (bursty_event_matrix(80, 1024, 0.05, seed=1), np.zeros((80, 64), np.uint8),
              (np.random.default_rng(0).random((80, 64)) < 0.5).astype(np.uint8)):
        sizes = {f: unpack_snc(pack_snc(z, f))[0].payload_bits for f in EventFormat}
        chosen = unpack_snc(pack_snc(z))[0]
        assert chosen.payload_bits == min(sizes.values())
        assert chosen.format is min(sizes, key=lambda f: (sizes[f], f.code))
    assert unpack_snc(pack_snc(bursty_event_matrix(80, 1024, 0.05, seed=1)))[0].format is (
        EventFormat.ENTROPY)


def test_bitrates():
    header, _ = unpack_snc(pack_snc(TINY, "csr_unit", sample_rate_hz=1000, hop_samples=250))
    assert header.duration_s == 1.0  # T·hop = 1000 samples at 1000 Hz
    assert payload_bitrate_bps(header) == 10.0
    assert file_bitrate_bps(header) == 8 * (FIXED_HEADER_BYTES + 2 + 4)
    assert file_bitrate_bps(header, 100) == 800.0


def test_files_and_atomic_write(tmp_path):
    path = tmp_path / "sub" / "z.snc"
    z = bursty_event_matrix(80, 256, 0.05)
    header = write_snc(path, z, model_id="m1")
    assert read_snc_header(path) == header
    got_header, got = read_snc(path)
    assert got_header == header and np.array_equal(got, z)
    assert sorted(p.name for p in path.parent.iterdir()) == ["z.snc"]
    with pytest.raises(BitstreamError):
        write_snc(tmp_path / "bad.snc", np.array([0, 1]))
    assert not (tmp_path / "bad.snc").exists()
    with pytest.raises(BitstreamError, match="cannot read"):
        read_snc(tmp_path / "missing.snc")


VALID = pack_snc(TINY, "csr_unit", model_id="ab")


@pytest.mark.parametrize("data, message", [
    (VALID[:12], "truncated .snc: header needs 31 bytes, file has 12"),
    (b"", "truncated .snc: header needs 31 bytes, file has 0"),
    (b"SN", "truncated"),
    (b"RIFF" + VALID[4:], r"not an .snc file: magic b'RIFF', expected b'SNC1'"),
    (VALID[:4] + bytes([3]) + VALID[5:], r"unknown .snc version 3 \(this reader knows 1, 2\)"),
    (VALID[:29], "header with a 2-byte model id needs 33 bytes, file has 29"),
    (VALID[:-1], "truncated .snc: a 10-bit payload makes 39 bytes, file has 38"),
    (VALID + b"\0", "1 unexpected bytes after the CRC"),
    (VALID[:-5] + bytes([VALID[-5] ^ 0x40]) + VALID[-4:], "CRC mismatch: stored 0x"),
    (set_field(VALID, 5, "<B", 9), "unknown format code 9"),
    (set_field(VALID, 6, "<H", 0), "N = 0"),
    (set_field(VALID, 8, "<I", 0), "T = 0"),
    (set_field(VALID, 12, "<I", 13), "S = 13 events, more than N·T = 12"),
    (set_field(VALID, 16, "<I", 0), "sample rate 0 Hz"),
    (set_field(VALID, 20, "<H", 0), "hop 0"),
    (set_field(VALID, 22, "<I", 0), "0 audio samples"),
    (set_field(VALID, 22, "<I", 1536), r"T = 4 frames, but 1536 audio samples at hop 512 make 3"),
    (set_field(VALID, 22, "<I", 2049), r"T = 4 frames, but 2049 audio samples at hop 512 make 5"),
    (set_field(VALID, 27, "<H", 0xFFFF), "model id is not valid UTF-8"),
    (set_field(VALID, 12, "<I", 1), "csr_unit payload of N=3, T=4, S=1 must be 5 bits"),
    (set_field(VALID, 33, "<B", 0b10011001), r"pointers decrease: ptr\[2\] = 1 < ptr\[1\] = 2"),
    (set_field(VALID, 34, "<B", 0b01000000 | 0x3F), "padding bits"),
])
def test_malformed_files(data, message):
    with pytest.raises(BitstreamError, match=message):
        unpack_snc(data)


def test_crc_is_zlib_crc32_of_everything_before_it():
    assert struct.unpack("<I", VALID[-4:])[0] == zlib.crc32(VALID[:-4])
    assert parse_header(VALID).payload_bits == 10


def test_audio_length_must_make_t_frames():
    assert unpack_snc(pack_snc(TINY, n_audio_samples=1537))[0].n_audio_samples == 1537
    assert unpack_snc(pack_snc(TINY, n_audio_samples=2048))[0].n_audio_samples == 2048
    for n_audio, frames in ((1536, 3), (2049, 5), (1, 1)):
        with pytest.raises(BitstreamError, match=f"{n_audio} audio samples at hop 512 make "
                                                 f"{frames} frames, the event matrix has T = 4"):
            pack_snc(TINY, n_audio_samples=n_audio)


# ---------------------------------------------------------------------------------------------
# Version 2: a compression level μ per segment of frames

V2 = pack_snc(TINY, "csr_unit", mu=[7, 200], mu_segment_frames=2)


def test_version_2_byte_layout():
    assert V2.hex(" ") == (
        "53 4e 43 31 02 02 03 00 04 00 00 00 02 00 00 00 22 56 00 00 00 02 00 08 00 00 00 "
        "02 00 00 00 07 c8 "  # 2 frames per segment, μ = 7, 200
        "0a 00 00 00 59 c0 2b 0f 60 2d"
    )
    v1 = pack_snc(TINY, "csr_unit")
    # Version 2 = version 1 with the version byte, the u32 and the μ bytes, and a new CRC.
    assert V2[:-4] == v1[:4] + b"\x02" + v1[5:27] + b"\x02\0\0\0\x07\xc8" + v1[27:-4]
    assert V2[-4:] == struct.pack("<I", zlib.crc32(V2[:-4]))
    header, z = unpack_snc(V2)
    assert header == SncHeader(2, EventFormat.CSR_UNIT, 3, 4, 2, 22050, 512, 2048, "", 10,
                               (7, 200), 2)
    assert np.array_equal(z, TINY)
    assert header.header_bytes == FIXED_HEADER_BYTES + 4 + 2 == 37
    assert header.file_bytes == len(V2) == 43


def test_one_mu_for_the_whole_clip():
    data = pack_snc(TINY, "csr_unit", mu=42)
    assert data.hex(" ") == (
        "53 4e 43 31 02 02 03 00 04 00 00 00 02 00 00 00 22 56 00 00 00 02 00 08 00 00 00 "
        "04 00 00 00 2a "  # one segment of T = 4 frames, μ = 42
        "0a 00 00 00 59 c0 e5 2e 6f df"
    )
    header = parse_header(data)
    assert (header.mu, header.mu_segment_frames) == ((42,), 4)
    assert header.mu_per_frame().tolist() == [42, 42, 42, 42]
    # A one-element sequence, a numpy integer, or a segment longer than the clip: the same file.
    assert pack_snc(TINY, "csr_unit", mu=[42]) == data
    assert pack_snc(TINY, "csr_unit", mu=np.uint8(42)) == data
    assert pack_snc(TINY, "csr_unit", mu=[42], mu_segment_frames=1000) == data
    assert pack_snc(TINY, "csr_unit", mu=None) == pack_snc(TINY, "csr_unit")  # version 1
    assert pack_snc(TINY, "csr_unit")[4] == 1


def test_mu_per_frame():
    z = np.zeros((2, 10), np.uint8)
    header = parse_header(pack_snc(z, mu=np.array([1, 2, 255, 0]), mu_segment_frames=3,
                                   model_id="μ-sparse"))
    assert header.mu == (1, 2, 255, 0) and header.mu_segment_frames == 3
    per_frame = header.mu_per_frame()
    assert per_frame.dtype == np.int64
    assert per_frame.tolist() == [1, 1, 1, 2, 2, 2, 255, 255, 255, 0]  # the last segment is cut
    assert header.header_bytes == FIXED_HEADER_BYTES + len("μ-sparse".encode()) + 4 + 4
    assert parse_header(pack_snc(z, mu=range(10), mu_segment_frames=1)).mu_per_frame(
    ).tolist() == list(range(10))
    with pytest.raises(BitstreamError, match="a version-1 .snc header has no μ"):
        parse_header(pack_snc(z)).mu_per_frame()


@pytest.mark.parametrize("fmt", [*EventFormat, "auto"])
def test_version_2_round_trip(fmt, tmp_path):
    z = bursty_event_matrix(80, 300, 0.05, seed=3)
    mu = np.random.default_rng(0).integers(0, 256, 5).tolist()
    header = write_snc(tmp_path / "z.snc", z, fmt, mu=mu, mu_segment_frames=64)
    got, back = read_snc(tmp_path / "z.snc")
    assert got == header and np.array_equal(back, z)
    assert got.version == 2 and got.mu == tuple(mu) and got.mu_segment_frames == 64
    assert got.file_bytes == (tmp_path / "z.snc").stat().st_size
    v1 = unpack_snc(pack_snc(z, fmt))[0]
    assert (got.format, got.payload_bits) == (v1.format, v1.payload_bits)  # μ leaves z alone
    assert got.file_bytes == v1.file_bytes + 4 + 5


@pytest.mark.parametrize("kwargs, message", [
    (dict(mu=256), r"mu must be an integer in \[0, 255\], got 256"),
    (dict(mu=-1), r"mu must be an integer in \[0, 255\], got -1"),
    (dict(mu=[3, 300], mu_segment_frames=2), "got 300"),
    (dict(mu=[1.0]), "got 1.0"),
    (dict(mu=1.5), "mu must be an integer or a 1-D sequence of integers, got 1.5"),
    (dict(mu=True), "mu must be an integer or a 1-D sequence"),
    (dict(mu=np.zeros((1, 2), int)), "1-D sequence"),
    (dict(mu=[1, 2]), r"mu has 2 values; with mu_segment_frames = 0 \(one segment of all "
                      r"T = 4 frames\) it must have 1"),
    (dict(mu=[]), "mu has 0 values"),
    (dict(mu=[1, 2, 3], mu_segment_frames=2), "mu has 3 values; T = 4 frames in segments of 2 "
                                              "make 2 segments, one μ each"),
    (dict(mu=[1], mu_segment_frames=3), "mu has 1 values; T = 4 frames in segments of 3 make 2"),
    (dict(mu=[1, 2], mu_segment_frames=9), "T = 4 frames in segments of 9 make 1 segments"),
    (dict(mu_segment_frames=2), "mu_segment_frames = 2 given without mu"),
    (dict(mu=[1], mu_segment_frames=-1), r"mu_segment_frames must be an integer in \[0, "),
])
def test_version_2_writer_errors(kwargs, message):
    with pytest.raises(BitstreamError, match=message):
        pack_snc(TINY, **kwargs)


def forge(code: int, n: int, t: int, s: int, bits: int, payload: bytes = b"", hop: int = 512,
          n_audio: int | None = None, mu: bytes | None = None, seg: int = 0) -> bytes:
    """A `.snc` file from raw header values, with a valid CRC (version 2 when `mu` is given)."""
    version = 1 if mu is None else 2
    n_audio = t * hop if n_audio is None else n_audio
    head = struct.pack("<4sBBHIIIHIB", b"SNC1", version, code, n, t, s, 22050, hop, n_audio, 0)
    if mu is not None:
        head += struct.pack("<I", seg) + mu
    return with_crc(head + struct.pack("<I", bits) + payload)


def test_forge_matches_the_writer():
    assert forge(2, 3, 4, 2, 10, b"\x59\xc0") == pack_snc(TINY, "csr_unit")
    assert forge(2, 3, 4, 2, 10, b"\x59\xc0", mu=b"\x07\xc8", seg=2) == V2


@pytest.mark.parametrize("data, message", [
    (V2[:29], r"truncated .snc: version-2 header with a 0-byte model id needs its μ segment "
              r"length at bytes 27-30, file has 29"),
    (V2[:32], "truncated .snc: header with a 0-byte model id and 2 μ segments needs 37 bytes, "
              "file has 32"),
    (V2[:-1], "truncated .snc: a 10-bit payload makes 43 bytes, file has 42"),
    (V2 + b"\0", "1 unexpected bytes after the CRC"),
    (V2[:31] + bytes([8]) + V2[32:], "CRC mismatch"),
    (set_field(V2, 27, "<I", 0), "μ segments of 0 frames; they must be at least 1"),
    (forge(2, 3, 4, 2, 10, b"\x59\xc0", mu=b"\x07", seg=5), "μ segments of 5 frames, longer "
                                                            "than T = 4"),
    # μ of 1 frame each: 4 μ bytes, so the 2 of V2 eat into the payload bits.
    (set_field(V2, 27, "<I", 1), "truncated .snc"),
])
def test_version_2_malformed_files(data, message):
    with pytest.raises(BitstreamError, match=message):
        unpack_snc(data)


# ---------------------------------------------------------------------------------------------
# The reader's allocation bound: N·T ≤ MAX_DECODED_CELLS, T = ⌈audio samples / hop⌉

MEBIBYTE = 1 << 20


# N·T = 65535 × 65537 = 2^32 − 1 cells with a consistent audio length (65537 hops of 65535
# samples = 2^32 − 1 samples): before the bound these passed every check with empty payloads
# and the reader allocated a 4 GiB matrix.
HUGE = dict(n=65535, t=65537, hop=65535, n_audio=0xFFFF_FFFF)
HUGE_MESSAGE = (r"N·T = 65535×65537 = 4294967295 cells; this reader decodes at most 268435456 "
                r"\(MAX_DECODED_CELLS\)")
# At the bound: N·T = 64 × 2^22 = 2^28 cells, 2^31 audio samples at hop 512 (27 h).
AT_BOUND = dict(n=64, t=1 << 22)


@pytest.mark.parametrize("data, message", [
    (forge(0, **HUGE, s=0, bits=0), HUGE_MESSAGE),  # dense
    (forge(1, **HUGE, s=0, bits=0), HUGE_MESSAGE),  # coo: 0 bits for S = 0
    (forge(2, **HUGE, s=0, bits=0), HUGE_MESSAGE),  # csr_unit
    (forge(3, **HUGE, s=0, bits=0), HUGE_MESSAGE),  # csc_time
    (forge(4, **HUGE, s=0, bits=8, payload=b"\x01"), HUGE_MESSAGE),  # entropy, mode coo
    (forge(4, **HUGE, s=5, bits=16, payload=b"\x04\x00"), HUGE_MESSAGE),  # entropy, range coded
    (forge(1, **HUGE, s=0, bits=0, mu=b"\x01", seg=65537), HUGE_MESSAGE),  # version 2
    (forge(1, n=64, t=(1 << 22) + 1, s=0, bits=0), "= 268435520 cells; this reader decodes at "
                                                   "most 268435456"),
    # A huge T that the audio length does not back.
    (forge(1, n=1, t=1 << 27, s=0, bits=0, n_audio=22050), "T = 134217728 frames, but 22050 "
                                                           "audio samples at hop 512 make 44"),
    # Huge S within the bound: the payload bits the exact formats need are not there.
    (forge(0, **AT_BOUND, s=1 << 27, bits=0), "dense payload of N=64, T=4194304, S=134217728 "
                                              "must be 268435456 bits, header says 0"),
    (forge(1, **AT_BOUND, s=1 << 27, bits=0), "coo payload .* must be 3758096384 bits"),
    (forge(2, **AT_BOUND, s=1 << 27, bits=0), "csr_unit payload .* must be 2952791808 bits"),
    (forge(3, **AT_BOUND, s=1 << 27, bits=0), "csc_time payload .* must be 922746880 bits"),
    (forge(4, **AT_BOUND, s=1 << 27, bits=8, payload=b"\x01"), "coo payload .* header says 0"),
    (forge(4, **AT_BOUND, s=1 << 27, bits=8, payload=b"\x00"), "dense payload .* says 0"),
    (forge(4, **AT_BOUND, s=1 << 27, bits=8, payload=b"\x03"), "csc_time payload .* says 0"),
])
def test_forged_headers_are_refused_without_allocating(data, message):
    assert len(data) <= 45
    peak, error = peak_allocation(lambda: unpack_snc(data))
    assert isinstance(error, BitstreamError), error
    assert re.search(message, str(error)), str(error)
    assert peak < 2 * MEBIBYTE, f"{peak / MEBIBYTE:.1f} MiB"


def test_the_largest_allowed_file_reads():
    n, t = AT_BOUND["n"], AT_BOUND["t"]
    assert n * t == MAX_DECODED_CELLS
    # Two events, the first and the last cell, in coo: (t, n) pairs of w(T) + w(N) = 22 + 6 bits.
    fields = np.concatenate([uints_to_bits([0, t - 1], 22), uints_to_bits([0, n - 1], 6)], 1)
    payload = np.packbits(fields.ravel()).tobytes()
    data = forge(1, n, t, 2, 56, payload)
    assert len(data) == FIXED_HEADER_BYTES + 7 + 4
    header, z = unpack_snc(data)
    assert header.n_audio_samples == 1 << 31 and header.duration_s == 2**31 / 22050
    assert z.shape == (n, t) and z.dtype == np.uint8
    assert z[0, 0] == 1 and z[n - 1, t - 1] == 1 and int(np.count_nonzero(z)) == 2
    del z
    # The writer refuses one frame more (a broadcast view: no memory behind it).
    with pytest.raises(BitstreamError, match="64×4194305 = 268435520 cells; the .snc format "
                                             "allows at most 268435456"):
        pack_snc(np.broadcast_to(np.uint8(0), (n, t + 1)), "coo")


# ---------------------------------------------------------------------------------------------
# Fuzzing: nothing but BitstreamError ever comes out of the reader.

BASES = [pack_snc(TINY, f) for f in EXACT_FORMATS] + [
    pack_snc(TINY, "entropy"),
    pack_snc(TINY, "coo", mu=[7, 200], mu_segment_frames=2),
    pack_snc(bursty_event_matrix(8, 96, 0.1, seed=0), "entropy", mu=list(range(10)),
             mu_segment_frames=10),
    pack_snc(bursty_event_matrix(8, 96, 0.1, seed=0), "entropy", model_id="x"),
    pack_snc(bursty_event_matrix(8, 96, 0.1, seed=0), "csc_time"),
]
assert BASES[-2][FIXED_HEADER_BYTES + 1] == MODE_RANGE_CODED  # one base really range-codes
assert [b[4] for b in BASES].count(2) == 2  # two are version 2


def check_reader(data: bytes) -> None:
    try:
        header, z = unpack_snc(data)
    except BitstreamError:
        return
    assert z.shape == (header.n_units, header.n_frames) and z.dtype == np.uint8
    assert int(z.sum()) == header.n_events


mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(0, 7)),
    st.tuples(st.just("set"), st.integers(0, 10_000), st.integers(0, 255)),
    st.tuples(st.just("cut"), st.integers(0, 10_000), st.integers(0, 0)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.integers(0, 255)),
)


def mutate(data: bytes, ops) -> bytes:
    out = bytearray(data)
    for op, pos, value in ops:
        pos = pos % (len(out) + 1)
        if op == "flip" and pos < len(out):
            out[pos] ^= 1 << value
        elif op == "set" and pos < len(out):
            out[pos] = value
        elif op == "cut":
            del out[pos:]
        elif op == "insert":
            out.insert(pos, value)
    return bytes(out)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=120), st.booleans())
def test_fuzz_random_bytes(data, with_magic):
    check_reader(b"SNC1\x01" + data if with_magic else data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(BASES), st.lists(mutation, min_size=1, max_size=4), st.booleans())
def test_fuzz_mutated_valid_files(base, ops, fix_crc):
    data = mutate(base, ops)
    check_reader(refresh_crc(data) if fix_crc else data)


# ---------------------------------------------------------------------------------------------
# The command line


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("fmt", ["auto", *[f.value for f in EventFormat]])
def test_cli_pack_unpack_info(tmp_path, capsys, fmt):
    z = bursty_event_matrix(80, 256, 0.05, seed=2)
    np.save(tmp_path / "z.npy", z.astype(np.int64))
    # 130,900 samples: the last of the ⌈130900 / 512⌉ = 256 frames is partly padding.
    code, out, _ = run_cli(capsys, "pack", tmp_path / "z.npy", tmp_path / "z.snc", "--format",
                           fmt, "--model-id", "free-v1", "--n-samples", 130_900)
    assert code == 0 and "z.snc" in out
    header = read_snc_header(tmp_path / "z.snc")
    assert (header.model_id, header.n_audio_samples, header.sample_rate_hz) == (
        "free-v1", 130_900, 22050)
    if fmt != "auto":
        assert header.format.value == fmt
    code, _, _ = run_cli(capsys, "unpack", tmp_path / "z.snc", tmp_path / "back.npy")
    back = np.load(tmp_path / "back.npy")
    assert code == 0 and back.dtype == np.uint8 and np.array_equal(back, z)
    code, out, _ = run_cli(capsys, "info", tmp_path / "z.snc")
    assert code == 0
    assert f"events S         {int(z.sum())}" in out
    assert f"payload bitrate  {header.payload_bits * 22050 / 130_900:.1f} bps" in out
    assert f"file bitrate     {8 * header.file_bytes * 22050 / 130_900:.1f} bps" in out
    assert "mu" not in out  # a version-1 file


def test_cli_info_prints_mu(tmp_path, capsys):
    write_snc(tmp_path / "one.snc", TINY, mu=42)
    code, out, _ = run_cli(capsys, "info", tmp_path / "one.snc")
    assert code == 0 and "version          2\n" in out
    assert "mu (level)       42 (one segment, all 4 frames)\n" in out
    write_snc(tmp_path / "five.snc", np.zeros((2, 10), np.uint8), mu=[40, 40, 40, 80, 12],
              mu_segment_frames=2)
    code, out, _ = run_cli(capsys, "info", tmp_path / "five.snc")
    assert code == 0 and "mu (level)       40×3, 80, 12 (5 segments of 2 frames)\n" in out
    assert f"file             {FIXED_HEADER_BYTES + 4 + 5 + 4} bytes" in out  # S = 0: no payload


def test_compact_mu():
    from neuro_codec.commands.storage import compact_mu

    assert compact_mu((7,)) == "7"
    assert compact_mu((0, 0, 255, 0)) == "0×2, 255, 0"
    assert compact_mu(tuple(range(20))) == "0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, … 8 more runs"
    assert compact_mu((5,) * 1000 + (6,)) == "5×1000, 6"


def test_cli_unpack_to_name_without_npy_suffix(tmp_path, capsys):
    write_snc(tmp_path / "z.snc", TINY)
    assert run_cli(capsys, "unpack", tmp_path / "z.snc", tmp_path / "events.bin")[0] == 0
    assert np.array_equal(np.load(tmp_path / "events.bin"), TINY)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.bin", "z.snc"]


def _bad_inputs(tmp_path):
    np.save(tmp_path / "one_d.npy", np.zeros(5))
    np.save(tmp_path / "twos.npy", np.full((3, 4), 2))
    np.save(tmp_path / "objects.npy", np.array([{}], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "archive.npz", a=TINY)
    (tmp_path / "garbage.npy").write_bytes(b"not numpy")
    good = pack_snc(TINY)
    (tmp_path / "crc.snc").write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    (tmp_path / "short.snc").write_bytes(good[:20])
    (tmp_path / "magic.snc").write_bytes(b"XXXX" + good[4:])
    np.save(tmp_path / "ok.npy", TINY)


@pytest.mark.parametrize("argv, message", [
    (["pack", "missing.npy", "out.snc"], "event file not found"),
    (["pack", "one_d.npy", "out.snc"], "must be 2-D"),
    (["pack", "twos.npy", "out.snc"], "only 0 and 1, found 2"),
    (["pack", "objects.npy", "out.snc"], "not a readable .npy"),
    (["pack", "archive.npz", "out.snc"], "several arrays"),
    (["pack", "garbage.npy", "out.snc"], "not a readable .npy"),
    (["pack", "ok.npy", "out.snc", "--n-samples", "1536"], "1536 audio samples at hop 512 make 3"),
    (["unpack", "crc.snc", "out.npy"], "CRC mismatch"),
    (["unpack", "short.snc", "out.npy"], "truncated .snc"),
    (["unpack", "magic.snc", "out.npy"], "wrong|magic"),
    (["unpack", "missing.snc", "out.npy"], "cannot read"),
    (["info", "crc.snc"], "CRC mismatch"),
    (["info", "short.snc"], "truncated"),
])
def test_cli_errors(tmp_path, capsys, monkeypatch, argv, message):
    _bad_inputs(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, *argv)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert re.search(message, lines[0]), lines[0]
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no output, no temporary file


@pytest.mark.parametrize("argv, message", [
    # A flag's range is argparse's: a usage error, exit code 2, before any file is read.
    (["pack", "ok.npy", "out.snc", "--hop", "70000"], "argument --hop: must be in [1, 65535]"),
    (["pack", "ok.npy", "out.snc", "--sample-rate", "0"], "argument --sample-rate"),
    (["pack", "ok.npy", "out.snc", "--n-samples", "0"], "argument --n-samples"),
    (["pack", "ok.npy", "out.snc", "--model-id", "m" * 256], "argument --model-id"),
])
def test_cli_usage_errors(tmp_path, capsys, monkeypatch, argv, message):
    _bad_inputs(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: neuro-codec pack") and message in err.splitlines()[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == before
