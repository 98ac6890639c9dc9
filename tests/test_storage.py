"""Exact payload sizes, bit layouts and round trips of the four exact formats; the paper's costs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuro_codec.coding.costs import (
    EXACT_FORMATS,
    EventFormat,
    bit_width,
    paper_costs,
    payload_bits,
    sparse_storage_cost,
)
from neuro_codec.coding.formats import best_format, check_event_matrix
from neuro_codec.coding.payload import decode_payload, encode_payload
from neuro_codec.errors import BitstreamError

DENSE, COO, CSR, CSC = EXACT_FORMATS


def random_events(n: int, t: int, s: int, seed: int = 0) -> np.ndarray:
    """An [n, t] 0/1 matrix with exactly s ones at random places."""
    z = np.zeros(n * t, dtype=np.uint8)
    z[np.random.default_rng(seed).choice(n * t, size=s, replace=False)] = 1
    return z.reshape(n, t)


def bits_of(payload: bytes, n_bits: int) -> str:
    return "".join(f"{b:08b}" for b in payload)[:n_bits]


# The 3×4 example with 2 events: unit 0 at frame 1, unit 2 at frame 3.
TINY = np.array([[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]], dtype=np.uint8)


def test_bit_width():
    cases = {0: 0, 1: 0, 2: 1, 3: 2, 4: 2, 5: 3, 80: 7, 128: 7, 129: 8, 1024: 10, 1025: 11,
             2**32: 32, 2**32 + 1: 33}
    assert {x: bit_width(x) for x in cases} == cases


def test_format_codes():
    assert [f.code for f in EventFormat] == [0, 1, 2, 3, 4]
    assert all(EventFormat.from_code(f.code) is f for f in EventFormat)
    assert EventFormat.parse("csr_unit") is EventFormat.CSR_UNIT
    with pytest.raises(BitstreamError, match="unknown format code 9"):
        EventFormat.from_code(9)
    with pytest.raises(ValueError, match="unknown event format 'csr'"):
        EventFormat.parse("csr")


@pytest.mark.parametrize("n, t, s, expected", [
    # (dense, coo, csr_unit, csc_time), computed by hand from docs/bitstream.md's table.
    (80, 1024, 4096, (81920, 4096 * 17, 80 * 13 + 4096 * 10, 1024 * 13 + 4096 * 7)),
    (80, 256, 1814, (20480, 1814 * 15, 80 * 11 + 1814 * 8, 256 * 11 + 1814 * 7)),
    (80, 1024, 0, (81920, 0, 0, 0)),
    (80, 1024, 1, (81920, 17, 80 + 10, 1024 + 7)),
    (80, 1024, 81920, (81920, 81920 * 17, 80 * 17 + 81920 * 10, 1024 * 17 + 81920 * 7)),
    (1, 1, 0, (1, 0, 0, 0)),
    (1, 1, 1, (1, 0, 1, 1)),
    (1, 7, 3, (7, 9, 2 + 9, 7 * 2)),
    (3, 4, 2, (12, 8, 10, 12)),
    (64, 64, 63, (4096, 63 * 12, 64 * 6 + 63 * 6, 64 * 6 + 63 * 6)),
])
def test_payload_bits_table(n, t, s, expected):
    assert tuple(payload_bits(f, n, t, s) for f in EXACT_FORMATS) == expected


def test_payload_bits_of_entropy_is_measured():
    with pytest.raises(ValueError, match="measure"):
        payload_bits(EventFormat.ENTROPY, 3, 4, 2)


@pytest.mark.parametrize("fmt, expected_bits", [
    # dense: for t, for n: 000 100 000 001
    (DENSE, "000100000001"),
    # coo: (t=1, n=0), (t=3, n=2), 2 + 2 bits each
    (COO, "0100" "1110"),
    # csr_unit: ptr[1..3] = 1, 1, 2 in w(3) = 2 bits; times 1 (unit 0) and 3 (unit 2)
    (CSR, "010110" "0111"),
    # csc_time: ptr[1..4] = 0, 1, 1, 2; units 0 (frame 1) and 2 (frame 3)
    (CSC, "00010110" "0010"),
])
def test_tiny_example_bits(fmt, expected_bits):
    payload, n_bits = encode_payload(TINY, fmt)
    assert n_bits == len(expected_bits) == payload_bits(fmt, 3, 4, 2)
    assert bits_of(payload, n_bits) == expected_bits
    assert len(payload) == -(-n_bits // 8)
    assert "".join(f"{b:08b}" for b in payload)[n_bits:] == "0" * (8 * len(payload) - n_bits)
    assert np.array_equal(decode_payload(payload, n_bits, fmt, 3, 4, 2), TINY)


SHAPES = [(1, 1), (1, 2), (2, 1), (1, 9), (9, 1), (3, 4), (8, 8), (7, 16), (80, 256), (80, 1024),
          (16, 1000), (5, 33)]


@pytest.mark.parametrize("n, t", SHAPES)
@pytest.mark.parametrize("fmt", EXACT_FORMATS)
def test_round_trip_exact_size(n, t, fmt):
    for s in sorted({0, 1, n * t // 20, n * t // 2, n * t - 1, n * t}):
        z = random_events(n, t, s, seed=s)
        payload, n_bits = encode_payload(z, fmt)
        assert n_bits == payload_bits(fmt, n, t, s)
        assert len(payload) == -(-n_bits // 8)
        assert np.array_equal(decode_payload(payload, n_bits, fmt, n, t, s), z)


def test_input_dtypes_accepted():
    z = TINY.astype(bool)
    for arr in (z, z.astype(np.int64), z.astype(np.float32), z.astype(np.int8)):
        assert np.array_equal(check_event_matrix(arr), TINY)
    assert check_event_matrix(np.asfortranarray(TINY)).dtype == np.uint8
    assert np.array_equal(check_event_matrix(torch.tensor(TINY, dtype=torch.float32)), TINY)


@pytest.mark.parametrize("arr, message", [
    (np.zeros(5), "must be 2-D"),
    (np.zeros((2, 2, 2)), "must be 2-D"),
    (np.zeros((0, 4)), "empty"),
    (np.array([[0, 2], [1, 0]]), "only 0 and 1, found 2"),
    (np.array([[0.5, 1.0]]), "only 0 and 1, found 0.5"),
    (np.array([[np.nan, 1.0]]), "only 0 and 1, found nan"),
    (np.array([[-1, 0]]), "only 0 and 1, found -1"),
    (np.array([["a", "b"]]), "dtype"),
    (np.zeros((70000, 1)), "70000 units"),
    ([[0, 1]], "numpy array"),
])
def test_bad_event_matrices(arr, message):
    with pytest.raises(BitstreamError, match=message):
        encode_payload(arr, DENSE)


def _corrupt(fmt, bits: str, n, t, s):
    padded = bits + "0" * (-len(bits) % 8)
    payload = bytes(int(padded[i:i + 8], 2) for i in range(0, len(padded), 8))
    return lambda: decode_payload(payload, len(bits), fmt, n, t, s)


@pytest.mark.parametrize("fmt, bits, n, t, s, message", [
    (DENSE, "000100000000", 3, 4, 2, "holds 1 events, header says S = 2"),
    (COO, "0100" "1111", 3, 4, 2, "unit index 3 out of range"),
    (COO, "0100" "1110", 3, 3, 2, "frame index 3 out of range"),
    (COO, "1110" "0100", 3, 4, 2, "not sorted"),
    (COO, "0100" "0100", 3, 4, 2, "duplicated"),
    (CSR, "010010" "0111", 3, 4, 2, r"pointers decrease: ptr\[2\] = 0 < ptr\[1\] = 1"),
    (CSR, "010101" "0111", 3, 4, 2, "last pointer is 1, header says S = 2"),
    (CSR, "000010" "1101", 3, 4, 2, "frame indices not sorted"),
    (CSR, "000010" "1111", 3, 4, 2, "duplicated"),
    (CSR, "010110" "0111", 3, 3, 2, "frame index 3 out of range"),
    (CSC, "00010110" "0011", 3, 4, 2, "unit index 3 out of range"),
    (CSC, "00100110" "0010", 3, 4, 2, r"pointers decrease: ptr\[3\] = 1 < ptr\[2\] = 2"),
    (CSC, "00000010" "1000", 3, 4, 2, "unit indices not sorted"),
])
def test_decoder_rejects_inconsistent_payloads(fmt, bits, n, t, s, message):
    with pytest.raises(BitstreamError, match=message):
        _corrupt(fmt, bits, n, t, s)()


def test_decoder_rejects_bad_sizes():
    payload, n_bits = encode_payload(TINY, COO)
    with pytest.raises(BitstreamError, match="must be 8 bits, header says 9"):
        decode_payload(payload, 9, COO, 3, 4, 2)
    with pytest.raises(BitstreamError, match="needs 1 bytes, got 2"):
        decode_payload(payload + b"\0", 8, COO, 3, 4, 2)
    payload, n_bits = encode_payload(TINY, CSR)  # 10 bits: 6 padding bits
    with pytest.raises(BitstreamError, match="padding bits"):
        decode_payload(payload[:1] + bytes([payload[1] | 1]), n_bits, CSR, 3, 4, 2)
    with pytest.raises(BitstreamError, match="exceeds N·T"):
        decode_payload(b"", 0, COO, 3, 4, 13)


def test_best_format_and_ties():
    assert best_format(np.zeros((80, 1024), np.uint8)) is COO  # coo = csr = csc = 0 bits
    assert best_format(np.ones((80, 1024), np.uint8)) is DENSE
    assert best_format(random_events(80, 1024, 60)) is COO
    assert best_format(random_events(80, 1024, 2000)) is CSR
    assert best_format(random_events(80, 1024, 6000)) is CSC
    assert best_format(random_events(80, 1024, 12000)) is DENSE
    for s in (0, 1, 100, 3000, 9000, 20000):
        z = random_events(80, 256, s)
        sizes = {f: payload_bits(f, 80, 256, s) for f in EXACT_FORMATS}
        assert sizes[best_format(z)] == min(sizes.values())


def test_paper_costs_ints():
    c = paper_costs(4096, 80, 1024)  # lg T = 10, lg N = 7, lg S = 12
    assert (c.dense, c.coo, c.cu, c.ct) == (81920, 4096 * 17, 4096 * 10 + 81 * 12,
                                            4096 * 7 + 1025 * 12)
    assert c.best() == 4096 * 7 + 1025 * 12
    z = paper_costs(0, 80, 1024)
    assert (z.coo, z.cu, z.ct) == (0, 0, 0)  # lg 0 = 0
    one = paper_costs(1, 80, 1024)
    assert (one.coo, one.cu, one.ct) == (17, 10, 7)  # lg 1 = 0
    assert sparse_storage_cost(10, 80, 1024) == 170  # coo: 10·17 < cu 10·10 + 81·4
    assert sparse_storage_cost(4096, 80, 1024) == 4096 * 7 + 1025 * 12


def test_paper_costs_tensor_values_and_gradient():
    s_values = [[0.0, 1.0, 10.0], [1814.0, 4096.0, 81920.0]]
    s = torch.tensor(s_values, requires_grad=True)
    c = paper_costs(s, 80, 1024)
    for i, row in enumerate(s_values):
        for j, v in enumerate(row):
            ref = paper_costs(int(v), 80, 1024)
            got = (c.dense[i, j], c.coo[i, j], c.cu[i, j], c.ct[i, j])
            assert [float(x.detach()) for x in got] == [ref.dense, ref.coo, ref.cu, ref.ct]
    # The gradient flows through the linear S terms only: lg T = 10, lg N = 7.
    (grad_coo,) = torch.autograd.grad(c.coo.sum(), s, retain_graph=True)
    (grad_cu,) = torch.autograd.grad(c.cu.sum(), s, retain_graph=True)
    (grad_ct,) = torch.autograd.grad(c.ct.sum(), s)
    assert torch.equal(grad_coo, torch.full_like(s, 17.0))
    assert torch.equal(grad_cu, torch.full_like(s, 10.0))
    assert torch.equal(grad_ct, torch.full_like(s, 7.0))


def test_sparse_storage_cost_gradient_follows_the_cheapest():
    s = torch.tensor([10.0, 1814.0, 4096.0], requires_grad=True)
    cost = sparse_storage_cost(s, 80, 256)
    expected = [min(c.coo, c.cu, c.ct) for c in (paper_costs(v, 80, 256) for v in (10, 1814, 4096))]
    assert cost.tolist() == expected
    cost.sum().backward()
    # 10 events: coo (lg T + lg N = 15); 1814: cu (lg T = 8); 4096: ct (lg N = 7).
    assert s.grad.tolist() == [15.0, 8.0, 7.0]


def test_one_hour_pack_unpack_round_trips():
    # Speed is benchmarks/storage.py's to measure; here an hour of events in every exact format
    # comes back exactly, in the bits the format's cost formula gives.
    z = (np.random.default_rng(0).random((80, 155_000)) < 0.05).astype(np.uint8)
    s = int(z.sum())
    for fmt in EXACT_FORMATS:
        payload, n_bits = encode_payload(z, fmt)
        assert n_bits == payload_bits(fmt, 80, 155_000, s), fmt
        assert len(payload) == -(-n_bits // 8)
        back = decode_payload(payload, n_bits, fmt, 80, 155_000, s)
        assert np.array_equal(back, z), fmt


@pytest.mark.parametrize("n,t,s", [(80, 256, 0), (80, 256, 500), (80, 1024, 5000), (1, 1, 1)])
def test_min_exact_bits_is_the_best_formats_payload(n, t, s):
    from neuro_codec.coding.costs import min_exact_bits

    z = np.zeros((n, t), dtype=np.uint8)
    z.flat[np.random.default_rng(0).choice(n * t, s, replace=False)] = 1
    assert min_exact_bits(n, t, s) == payload_bits(best_format(z), n, t, s)
    assert min_exact_bits(n, t, s) == len(encode_payload(z, best_format(z))[0]) * 8 - (
        -payload_bits(best_format(z), n, t, s) % 8)
