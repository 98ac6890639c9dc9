"""The Lava graph built from the NIR file: float runs equal snnTorch (float64) spike for spike
in every layer, fixed-point runs equal the integer replica bit for bit, biases start with the
first frame, and graphs Lava cannot run are refused. Every run stops its runtime."""

import multiprocessing

import nir
import numpy as np
import pytest
import torch
from factories import noise, tiny_encoder

from conversion.lava_graph import (
    WORD_BITS,
    build_lava_graph,
    frames_of,
    unpack_spikes,
)
from conversion.nir_export import ConversionError, encoder_to_nir, lif_name, read_graph, write_graph
from hardware.simulate import run_lava_graph
from neuro_codec.model.arithmetic import Arithmetic
from neuro_codec.model.encoder import EncoderConfig
from neuro_codec.model.fixed_point import simulate_fixed_point

pytestmark = pytest.mark.lava

SHAPES = {
    "feedforward": EncoderConfig(frame_samples=16, hidden_sizes=(8, 6), recurrent=(False, False),
                                 n_units=5),
    "recurrent": EncoderConfig(frame_samples=16, hidden_sizes=(8, 6), recurrent=(False, True),
                               n_units=5),
    "all-recurrent": EncoderConfig(frame_samples=12, hidden_sizes=(7,), recurrent=(True,),
                                   n_units=4, input_gain=3.0),
    # The shipped front end's kind: a Gabor-initialised first layer with banded support.
    "banded": EncoderConfig(frame_samples=64, hidden_sizes=(8, 6), recurrent=(False, True),
                            n_units=5, input_init="gabor", input_support="banded",
                            gabor_f_min_hz=200.0, min_window_samples=8),
    # The tiled constant-Q bank: short windows repeated over the frame.
    "tiled": EncoderConfig(frame_samples=64, hidden_sizes=(12, 6), recurrent=(False, True),
                           n_units=5, input_init="gabor", input_support="banded",
                           input_positions="tiled", gabor_phases=2, gabor_f_break_hz=300.0,
                           gabor_f_min_hz=200.0, min_window_samples=8),
}
N_FRAMES = 210




def run(graph, audio: np.ndarray, arithmetic: Arithmetic) -> list[np.ndarray]:
    spec_frames = frames_of(audio, graph.nodes["input"].input_type["input"][0])
    return run_lava_graph(build_lava_graph(graph, spec_frames, arithmetic, buffer_steps=64))


def assert_active(layers: list[np.ndarray]) -> None:
    for layer in layers:
        assert 0 < layer.sum() < 0.9 * layer.size, "every layer must spike, unsaturated"


@pytest.fixture(autouse=True)
def no_lava_workers_left():
    yield
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize("shape,seed", [("feedforward", 0), ("recurrent", 1),
                                        ("all-recurrent", 2), ("banded", 3), ("tiled", 4)])
def test_float_equals_snntorch_spike_for_spike(shape, seed, tmp_path):
    cfg = SHAPES[shape]
    enc = tiny_encoder(cfg, seed)
    write_graph(tmp_path / "e.nir", encoder_to_nir(enc))
    audio = noise(cfg.frame_samples * N_FRAMES - 5, seed)      # ragged tail: T = ⌈S / F⌉
    layers = run(read_graph(tmp_path / "e.nir"), audio, Arithmetic.FLOAT)
    _, trace = enc.double()(torch.from_numpy(audio), return_trace=True)
    ref = [t[0].detach().numpy().astype(np.uint8) for t in trace.layers]
    assert_active(ref)
    for got, want in zip(layers, ref):
        assert got.dtype == np.uint8 and got.shape == want.shape == (want.shape[0], N_FRAMES)
        assert np.array_equal(got, want)


def test_bias_starts_with_the_first_frame():
    """Silence in, strong biases only: each layer's spike train starts at its first frame.

    Were the bias on from step 0, layer i would integrate it for i + 1 extra steps and its
    spikes would come earlier than snnTorch's.
    """
    cfg = SHAPES["recurrent"]
    enc = tiny_encoder(cfg, 5, bias_std=0.0)
    with torch.no_grad():
        for fc in enc.fc:
            fc.bias.uniform_(0.3, 0.9)
    audio = np.zeros(cfg.frame_samples * 40)
    layers = run(encoder_to_nir(enc), audio, Arithmetic.FLOAT)
    _, trace = enc.double()(torch.from_numpy(audio), return_trace=True)
    for got, want in zip(layers, trace.layers):
        assert want.sum() > 0
        assert np.array_equal(got, want[0].detach().numpy().astype(np.uint8))


@pytest.mark.parametrize("shape,seed", [("recurrent", 0), ("all-recurrent", 1), ("banded", 2),
                                        ("tiled", 3)])
def test_fixed_point_equals_integer_replica(shape, seed):
    cfg = SHAPES[shape]
    enc = tiny_encoder(cfg, seed)
    audio = noise(cfg.frame_samples * N_FRAMES, seed + 10)
    layers = run(encoder_to_nir(enc), audio, Arithmetic.FIXED)
    _, trace = simulate_fixed_point(enc, audio)
    ref = [t[0].numpy().astype(np.uint8) for t in trace.layers]
    assert_active(ref)
    for got, want in zip(layers, ref):
        assert np.array_equal(got, want)
    # And it is close to, not equal to, the float network (see test_fixed_point for the bound).
    _, ftrace = enc.double()(torch.from_numpy(audio), return_trace=True)
    agree = [float((f[0].detach().numpy() == g).mean()) for f, g in zip(ftrace.layers, layers)]
    assert min(agree) >= 0.93


def test_refuses_graph_lava_cannot_run():
    g = encoder_to_nir(tiny_encoder(SHAPES["feedforward"], 0))
    lif = g.nodes[lif_name(2)]
    g.nodes[lif_name(2)] = nir.IF(r=lif.r, v_threshold=lif.v_threshold)
    with pytest.raises(ConversionError, match="layer2.lif.*IF"):
        build_lava_graph(g, np.zeros((16, 4)))
    with pytest.raises(ConversionError, match=r"frames must be \[16"):
        build_lava_graph(encoder_to_nir(tiny_encoder(SHAPES["feedforward"], 0)),
                         np.zeros((15, 4)))


def test_unpack_spikes_round_trip():
    rng = np.random.default_rng(0)
    spikes = (rng.random((2 * WORD_BITS + 5, 7)) < 0.3).astype(np.uint8)
    n_words = -(-spikes.shape[0] // WORD_BITS)
    padded = np.zeros((n_words * WORD_BITS, 7))
    padded[: spikes.shape[0]] = spikes
    words = np.einsum("wbt,b->wt", padded.reshape(n_words, WORD_BITS, 7),
                      2.0 ** np.arange(WORD_BITS))
    assert np.array_equal(unpack_spikes(words, spikes.shape[0]), spikes)


@pytest.mark.slow
@pytest.mark.parametrize("arithmetic", list(Arithmetic))
def test_full_size_encoder(arithmetic):
    """The shipped shape (512 → 64 → 128 rec → 80) over 300 frames, in both arithmetics."""
    enc = tiny_encoder(EncoderConfig(), 0, bias_std=0.1)
    audio = noise(512 * 300, 0, std=0.2)
    layers = run(encoder_to_nir(enc), audio, arithmetic)
    if arithmetic is Arithmetic.FLOAT:
        _, trace = enc.double()(torch.from_numpy(audio), return_trace=True)
    else:
        _, trace = simulate_fixed_point(enc, audio)
    ref = [t[0].detach().numpy().astype(np.uint8) for t in trace.layers]
    assert_active(ref)
    for got, want in zip(layers, ref):
        assert np.array_equal(got, want)


def test_import_after_start_method_was_fixed():
    """Lava's import sets the start method; a process that already fixed "fork" can still run it."""
    import subprocess
    import sys

    code = ("import multiprocessing as mp; mp.get_start_method(); import hardware.simulate; "
            "assert mp.get_start_method() == 'fork'")
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


@pytest.mark.parametrize("arithmetic", list(Arithmetic))
def test_mu_sparse_level_runs_in_lava_as_in_snntorch(arithmetic):
    """A μ-SPARSE encoder at level μ is exported as `at_mu(μ)` (the level folded into the
    Affine biases): Lava's float run equals snnTorch's at μ spike for spike, its fixed_pt run
    the integer replica at μ bit for bit, and another level gives other events."""
    from dataclasses import replace

    cfg = replace(SHAPES["banded"], mu_levels=3)
    enc = tiny_encoder(cfg, 7)
    with torch.no_grad():
        for emb in enc.mu_bias:
            emb.weight.normal_(0.0, 0.5)
    audio = noise(cfg.frame_samples * N_FRAMES, 17)
    got = run(encoder_to_nir(enc.at_mu(2)), audio, arithmetic)
    if arithmetic is Arithmetic.FLOAT:
        want = enc.run_float64(audio, mu=2)
        other = enc.run_float64(audio, mu=0)
    else:
        want, other = ([t[0].numpy().astype(np.uint8)
                        for t in simulate_fixed_point(enc, audio, mu=m)[1].layers] for m in (2, 0))
    assert_active(want)
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    assert not np.array_equal(want[-1], other[-1])
