"""The entropy-coded format: the model against a per-bit reference, round trips, the gain."""

from __future__ import annotations

import numpy as np
import pytest

from neuro_codec.coding.costs import EXACT_FORMATS, EventFormat, payload_bits
from neuro_codec.coding.entropy import (
    HALVING_PERIOD_FRAMES,
    MODE_RANGE_CODED,
    PRIOR_WEIGHT,
    decode_entropy,
    encode_entropy,
    model_probabilities,
)
from neuro_codec.data.synthetic import bursty_event_matrix
from neuro_codec.errors import BitstreamError


def reference_probabilities(z: np.ndarray) -> np.ndarray:
    """The model of docs/bitstream.md, one bit at a time, in plain Python integers."""
    n, t_total = z.shape
    u1 = [[0, 0] for _ in range(n)]
    u = [[0, 0] for _ in range(n)]
    g1, g = [0, 0], [0, 0]
    k = np.zeros((n, t_total), dtype=np.int64)
    for t in range(t_total):
        if t > 0 and t % HALVING_PERIOD_FRAMES == 0:
            for counts in (*u1, *u, g1, g):
                counts[0] >>= 1
                counts[1] >>= 1
        context = [int(z[i, t - 1]) if t else 0 for i in range(n)]
        for i, a in enumerate(context):
            num = (2 * u1[i][a] * (g[a] + 1) + PRIOR_WEIGHT * (2 * g1[a] + 1)) * 2**16
            den = 2 * (u[i][a] + PRIOR_WEIGHT) * (g[a] + 1)
            k[i, t] = min(max(num // den, 1), 2**16 - 1)
        for i, a in enumerate(context):  # counts change only after the whole frame
            x = int(z[i, t])
            u1[i][a] += x
            u[i][a] += 1
            g1[a] += x
            g[a] += 1
    return k


def min_exact_bits(z: np.ndarray) -> int:
    n, t = z.shape
    return min(payload_bits(f, n, t, int(z.sum())) for f in EXACT_FORMATS)


def round_trip(z: np.ndarray) -> tuple[bytes, int]:
    payload, n_bits = encode_entropy(z)
    n, t = z.shape
    back = decode_entropy(payload, n_bits, n, t, int(z.sum()))
    assert np.array_equal(back, z)
    assert n_bits <= min_exact_bits(z) + 8  # never worse than the best exact format + mode byte
    return payload, n_bits


def test_first_probabilities_by_hand():
    # Frame 0: all counts 0 → p = (0 + 16·½)/(0 + 16) = ½ → k = 32768.
    z = np.array([[1, 1, 0], [0, 0, 0]], dtype=np.uint8)
    k = model_probabilities(z)
    assert k[:, 0].tolist() == [32768, 32768]
    # Frame 1: unit 0 is in context 1, never seen: ½ again. Unit 1 in context 0 has
    # U1 = 0, U = 1 and shares G1[0] = 1, G[0] = 2: 16·3·2^16 / (2·17·3).
    assert k[:, 1].tolist() == [32768, 48 * 65536 // 102]
    # Frame 2: unit 0, context 1: U1 = U = 1, G1[1] = G[1] = 1: (2·1·2 + 16·3)·2^16/(2·17·2);
    # unit 1, context 0: U1 = 0, U = 2, G1[0] = 1, G[0] = 3: 16·3·2^16 / (2·18·4).
    assert k[:, 2].tolist() == [52 * 65536 // 68, 48 * 65536 // 144]
    assert np.array_equal(k, reference_probabilities(z))


@pytest.mark.parametrize("n, t, rate, seed", [
    (3, 2 * HALVING_PERIOD_FRAMES + 37, 0.3, 0),  # crosses two halvings
    (5, 300, 0.05, 1),
    (1, 50, 0.5, 2),
    (7, 1, 0.5, 3),
])
def test_model_matches_per_bit_reference(n, t, rate, seed):
    z = (np.random.default_rng(seed).random((n, t)) < rate).astype(np.uint8)
    assert np.array_equal(model_probabilities(z), reference_probabilities(z))


def test_model_in_small_chunks_matches(monkeypatch):
    import neuro_codec.coding.entropy as entropy

    z = bursty_event_matrix(40, 3000, 0.05, seed=4)
    whole = model_probabilities(z)
    monkeypatch.setattr(entropy, "_CHUNK_CELLS", 40 * 7)  # chunks of 7 frames
    assert np.array_equal(model_probabilities(z), whole)


@pytest.mark.parametrize("n, t, rate", [
    (80, 1024, 0.02), (80, 1024, 0.05), (80, 1024, 0.10), (80, 256, 0.05), (16, 9000, 0.05),
])
def test_round_trip_bursty(n, t, rate):
    payload, n_bits = round_trip(bursty_event_matrix(n, t, rate, seed=7))
    assert payload[0] == MODE_RANGE_CODED


@pytest.mark.parametrize("make", [
    lambda: np.zeros((80, 1024), np.uint8),
    lambda: np.ones((80, 1024), np.uint8),
    lambda: np.ones((1, 1), np.uint8),
    lambda: np.zeros((1, 1), np.uint8),
    lambda: (np.random.default_rng(0).random((80, 256)) < 0.5).astype(np.uint8),
    lambda: (np.random.default_rng(1).random((13, 700)) < 0.01).astype(np.uint8),
    lambda: np.eye(64, dtype=np.uint8),
])
def test_round_trip_edge_cases(make):
    round_trip(make())


def test_fallback_to_exact_format():
    z = np.zeros((80, 1024), np.uint8)  # coo / csr / csc are 0 bits
    payload, n_bits = encode_entropy(z)
    assert (payload, n_bits) == (bytes([EventFormat.COO.code]), 8)
    z = (np.random.default_rng(0).random((80, 256)) < 0.5).astype(np.uint8)  # incompressible
    payload, n_bits = encode_entropy(z)
    assert payload[0] == EventFormat.DENSE.code and n_bits == 8 + 80 * 256


def test_constant_unit_is_nearly_free():
    z = np.zeros((80, 20_000), np.uint8)
    z[0] = 1  # csr_unit would need 20,000·15 bits for the times alone
    payload, n_bits = round_trip(z)
    assert payload[0] == MODE_RANGE_CODED and n_bits < 400


@pytest.mark.parametrize("t", [1024, 256])
@pytest.mark.parametrize("rate", [0.02, 0.05, 0.10])
def test_gain_on_bursty_matrices(t, rate):
    """The goal: at least 20 % below the best exact format at 2–10 % event rate."""
    for seed in range(3):
        z = bursty_event_matrix(80, t, rate, seed=seed)
        _, n_bits = encode_entropy(z)
        assert n_bits <= 0.8 * min_exact_bits(z), (seed, n_bits, min_exact_bits(z))


def test_bursty_generator_rate_and_seed():
    z = bursty_event_matrix(80, 4096, 0.05, seed=3)
    assert abs(z.mean() - 0.05) < 0.002
    assert np.array_equal(z, bursty_event_matrix(80, 4096, 0.05, seed=3))
    assert not np.array_equal(z, bursty_event_matrix(80, 4096, 0.05, seed=4))
    rates = z.mean(axis=1)
    assert rates.max() > 3 * rates.min()  # unit-selective, not i.i.d.


def test_decoder_errors():
    z = bursty_event_matrix(20, 200, 0.05, seed=0)
    s = int(z.sum())
    payload, n_bits = encode_entropy(z)
    assert payload[0] == MODE_RANGE_CODED
    with pytest.raises(BitstreamError, match="needs a mode byte"):
        decode_entropy(b"", 0, 20, 200, s)
    with pytest.raises(BitstreamError, match="unknown entropy payload mode 9"):
        decode_entropy(bytes([9]) + payload[1:], n_bits, 20, 200, s)
    with pytest.raises(BitstreamError, match="whole bytes"):
        decode_entropy(payload, n_bits - 3, 20, 200, s)
    with pytest.raises(BitstreamError, match="decodes to"):
        decode_entropy(payload, n_bits, 20, 200, s + 1)
    with pytest.raises(BitstreamError, match="not smaller than the best exact format"):
        decode_entropy(payload, n_bits, 20, 200, 3)  # 3 events: coo needs 3·(8 + 5) bits
    # A stream read past its end is garbage: an error, whichever check sees it first.
    ones = np.ones((1, 50), np.uint8)
    short, short_bits = encode_entropy(ones)
    assert short[0] == MODE_RANGE_CODED
    with pytest.raises(BitstreamError):
        decode_entropy(short, short_bits, 1, 1_000_000, 500_000)
    garbage = bytes([MODE_RANGE_CODED]) + bytes(np.random.default_rng(0).integers(0, 256, 40,
                                                                                  np.uint8))
    with pytest.raises(BitstreamError):
        decode_entropy(garbage, 8 * len(garbage), 20, 200, s)
    inner = bytes([EventFormat.COO.code])  # fallback mode: the exact reader's checks apply
    with pytest.raises(BitstreamError, match="coo payload"):
        decode_entropy(inner, 8, 20, 200, s)


def test_reading_stops_when_frames_outgrow_the_payload(monkeypatch):
    import neuro_codec.coding.entropy as entropy

    z = bursty_event_matrix(20, 200, 0.05, seed=0)
    payload, n_bits = encode_entropy(z)
    # At 1 bit per coded bit, (n_bits + 256)/20 frames fit: fewer than the 200 to read.
    monkeypatch.setattr(entropy, "_MIN_BITS_PER_SYMBOL", 1.0)
    with pytest.raises(BitstreamError, match="too short to hold"):
        decode_entropy(payload, n_bits, 20, 200, int(z.sum()))


@pytest.mark.slow
def test_one_hour_round_trip():
    # Speed is benchmarks/storage.py's to measure; here an hour of events comes back exactly,
    # in no more bits than the cheapest exact format (and its mode byte) needs.
    z = bursty_event_matrix(80, 155_000, 0.05, seed=0)
    payload, n_bits = encode_entropy(z)
    back = decode_entropy(payload, n_bits, 80, 155_000, int(z.sum()))
    assert np.array_equal(back, z)
    assert len(payload) * 8 >= n_bits > 0
    assert n_bits <= min_exact_bits(z) + 8     # never worse than the best exact format
