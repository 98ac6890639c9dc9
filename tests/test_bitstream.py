"""The `.snc` container: byte layout, round trips, every malformed-file error, fuzzing, CLI."""

from __future__ import annotations

import re
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuro_codec.bitstream import (
    FIXED_HEADER_BYTES,
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
from neuro_codec.cli import main
from neuro_codec.entropy import MODE_RANGE_CODED, bursty_event_matrix
from neuro_codec.errors import BitstreamError
from neuro_codec.storage import EXACT_FORMATS, EventFormat, payload_bits

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
    (VALID[:4] + bytes([2]) + VALID[5:], r"unknown .snc version 2 \(this reader knows 1\)"),
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


# ---------------------------------------------------------------------------------------------
# Fuzzing: nothing but BitstreamError ever comes out of the reader.

BASES = [pack_snc(TINY, f) for f in EXACT_FORMATS] + [
    pack_snc(TINY, "entropy"),
    pack_snc(bursty_event_matrix(8, 96, 0.1, seed=0), "entropy", model_id="x"),
    pack_snc(bursty_event_matrix(8, 96, 0.1, seed=0), "csc_time"),
]
assert BASES[-2][FIXED_HEADER_BYTES + 1] == MODE_RANGE_CODED  # one base really range-codes


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
    code, out, _ = run_cli(capsys, "pack", tmp_path / "z.npy", tmp_path / "z.snc", "--format",
                           fmt, "--model-id", "free-v1", "--n-samples", 130_000)
    assert code == 0 and "z.snc" in out
    header = read_snc_header(tmp_path / "z.snc")
    assert (header.model_id, header.n_audio_samples, header.sample_rate_hz) == (
        "free-v1", 130_000, 22050)
    if fmt != "auto":
        assert header.format.value == fmt
    code, _, _ = run_cli(capsys, "unpack", tmp_path / "z.snc", tmp_path / "back.npy")
    back = np.load(tmp_path / "back.npy")
    assert code == 0 and back.dtype == np.uint8 and np.array_equal(back, z)
    code, out, _ = run_cli(capsys, "info", tmp_path / "z.snc")
    assert code == 0
    assert f"events S         {int(z.sum())}" in out
    assert f"payload bitrate  {header.payload_bits * 22050 / 130_000:.1f} bps" in out
    assert f"file bitrate     {8 * header.file_bytes * 22050 / 130_000:.1f} bps" in out


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
    (["pack", "ok.npy", "out.snc", "--hop", "70000"], "--hop must be in"),
    (["pack", "ok.npy", "out.snc", "--sample-rate", "0"], "--sample-rate"),
    (["pack", "ok.npy", "out.snc", "--n-samples", "0"], "--n-samples"),
    (["pack", "ok.npy", "out.snc", "--model-id", "m" * 256], "--model-id"),
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
