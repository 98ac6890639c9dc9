"""Event and operation counts: a hand-countable network, NIR vs torch, Lava vs snnTorch."""

import nir
import numpy as np
import pytest
import torch

from conversion.nir_export import SNNTORCH_DT_S, ConversionError, parse_encoder_graph
from hardware.counts import (
    GRADED_SOURCE,
    Connectivity,
    LayerCounts,
    Projection,
    count_encoder_run,
    count_events,
    count_simulation,
)
from hardware.energy_model import dense_network_layers
from neuro_codec.model.arithmetic import Arithmetic
from neuro_codec.model.encoder import EncoderConfig, SpikingEncoder

# The hand network: 3 graded inputs → layer a (2 LIF) → layer b (2 LIF, recurrent) → z = b.
W_IN = np.array([[1.0, 0.0, 2.0],
                 [0.0, 0.0, 3.0]])      # fan-out per input: 1, 0, 2
W_AB = np.array([[1.0, 1.0],
                 [0.0, 1.0]])           # fan-out per a-neuron: 1, 2
W_BB = np.array([[0.0, 1.0],
                 [0.0, 0.0]])           # b1 → b0 only; fan-out per b-neuron: 0, 1
X = np.array([[0.5, 0.0, 0.0, 1.0],
              [1.0, 1.0, 0.0, 0.0],
              [0.0, -2.0, 0.0, 0.0]])   # 5 non-zero graded values over T = 4 steps
S_A = np.array([[1, 0, 0, 1],
                [0, 1, 0, 0]], dtype=np.uint8)
S_B = np.array([[0, 1, 0, 0],
                [1, 0, 1, 1]], dtype=np.uint8)


def hand_connectivity(names=("a", "b")) -> Connectivity:
    a, b = names
    return Connectivity(
        layer_names=(a, b), layer_sizes=(2, 2), input_size=3,
        projections=(Projection(GRADED_SOURCE, a, W_IN != 0), Projection(a, b, W_AB != 0),
                     Projection(b, b, W_BB != 0)),
        output_layers=(b,))


def _lif(n: int) -> nir.LIF:
    # r = τ/dt: the input resistance of snnTorch's discretisation, which the Lava mapping needs
    return nir.LIF(tau=np.full(n, 0.01), r=np.full(n, 0.01 / SNNTORCH_DT_S), v_leak=np.zeros(n),
                   v_threshold=np.ones(n), v_reset=np.zeros(n))


def hand_nir_graph(scale_input: bool = False, nested: bool = False) -> nir.NIRGraph:
    nodes = {"input": nir.Input(input_type={"input": np.array([3])}),
             "fc_a": nir.Affine(weight=W_IN, bias=np.zeros(2)),
             "lif_a": _lif(2),
             "fc_b": nir.Affine(weight=W_AB, bias=np.zeros(2)),
             "output": nir.Output(output_type={"output": np.array([2])})}
    edges = [("lif_a", "fc_b")]
    if scale_input:
        nodes["gain"] = nir.Scale(scale=np.full(3, 4.0))
        edges += [("input", "gain"), ("gain", "fc_a")]
    else:
        edges += [("input", "fc_a")]
    edges += [("fc_a", "lif_a")]
    if nested:   # snnTorch writes a recurrent layer as a subgraph
        nodes["rlif_b"] = nir.NIRGraph(
            nodes={"input": nir.Input(input_type={"input": np.array([2])}), "lif": _lif(2),
                   "w_rec": nir.Linear(weight=W_BB),
                   "output": nir.Output(output_type={"output": np.array([2])})},
            edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
            type_check=False)
        edges += [("fc_b", "rlif_b"), ("rlif_b", "output")]
    else:
        nodes["lif_b"] = _lif(2)
        nodes["rec_b"] = nir.Linear(weight=W_BB)
        edges += [("fc_b", "lif_b"), ("lif_b", "rec_b"), ("rec_b", "lif_b"), ("lif_b", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def test_hand_network_counts_every_figure():
    c = count_events(hand_connectivity(), [S_A, S_B], X)
    a, b = c.layers
    assert a == LayerCounts(name="a", units=2, steps=4, graded_inputs=3, input_spikes=0,
                            recurrent_spikes=0, spikes=3, synops=4, graded_synops=4,
                            neuron_updates=8, active_updates=4, local_messages=0,
                            inter_layer_messages=3, host_messages=0)
    # b: a-spikes (a0 twice × 1 + a1 once × 2) = 4 synops, own spikes (b1 three times × 1) = 3;
    # active: b0 at t0, t1, t3 (input) ∪ t1 (spike), b1 at t1 (input) ∪ t0, t2, t3 (spikes).
    assert b == LayerCounts(name="b", units=2, steps=4, graded_inputs=0, input_spikes=3,
                            recurrent_spikes=3, spikes=4, synops=7, graded_synops=0,
                            neuron_updates=8, active_updates=7, local_messages=3,
                            inter_layer_messages=0, host_messages=4)
    assert (c.graded_inputs, c.synops, c.spikes, c.z_spikes) == (5, 11, 7, 4)
    assert (c.neuron_updates, c.active_updates, c.inter_layer_messages) == (16, 11, 3)


def test_recurrent_input_arrives_one_step_late():
    # Only b1 spiking at the last step: its recurrent event lands after the run, so b0 is
    # never made active by it; synops still count it (every spike × fan-out).
    s_b = np.array([[0, 0, 0, 0], [0, 0, 0, 1]], dtype=np.uint8)
    zeros = np.zeros((2, 4), dtype=np.uint8)
    c = count_events(hand_connectivity(), [zeros, s_b], np.zeros((3, 4)))
    b = c.layers[1]
    assert (b.synops, b.active_updates, b.local_messages, c.graded_inputs) == (1, 1, 1, 0)


def test_counts_add_over_runs():
    conn = hand_connectivity()
    one = count_events(conn, [S_A, S_B], X)
    two = one + one
    assert two.layers[1].synops == 14 and two.steps == 8 and two.graded_inputs == 10


def test_bad_rasters_are_refused():
    conn = hand_connectivity()
    with pytest.raises(ValueError, match="other than 0 and 1"):
        count_events(conn, [S_A * 2, S_B], X)
    with pytest.raises(ValueError, match="shape"):
        count_events(conn, [S_A, S_B[:, :3]], X)
    with pytest.raises(ValueError, match="2 layers"):
        count_events(conn, [S_A], X)
    with pytest.raises(ValueError, match="no input frames"):
        count_events(conn, [S_A, S_B])
    with pytest.raises(ValueError, match="expected"):
        Connectivity(("a",), (2,), 3, (Projection(GRADED_SOURCE, "a", np.ones((2, 4), bool)),),
                     ("a",))


@pytest.mark.parametrize("scale_input", [False, True])
def test_connectivity_from_nir_matches_hand(scale_input):
    conn = Connectivity.from_nir(hand_nir_graph(scale_input))
    assert conn.layer_names == ("lif_a", "lif_b")
    assert conn.structure() == hand_connectivity().structure()
    assert conn.output_layers == conn.layer_names[-1:]
    counts = count_events(conn, [S_A, S_B], X)
    assert counts.synops == 11 and counts.active_updates == 11


def _conv_instead_of_affine(g: nir.NIRGraph) -> None:
    g.nodes["fc_a"] = nir.Conv1d(input_shape=3, weight=np.ones((2, 1, 1)), stride=1, padding=0,
                                 dilation=1, groups=1, bias=np.zeros(2))


def _cuba_lif(g: nir.NIRGraph) -> None:
    g.nodes["lif_a"] = nir.CubaLIF(tau_syn=np.full(2, 0.01), tau_mem=np.full(2, 0.01),
                                   r=np.full(2, 100.0), v_leak=np.zeros(2),
                                   v_threshold=np.ones(2))


def _leaky_to_half(g: nir.NIRGraph) -> None:
    g.nodes["lif_a"].v_leak = np.full(2, 0.5)


def _wrong_resistance(g: nir.NIRGraph) -> None:
    g.nodes["lif_b"].r = np.ones(2)


@pytest.mark.parametrize("graph, match", [
    (lambda: hand_nir_graph(nested=True), "NIRGraph is not supported"),   # snnTorch's RLeaky
    (lambda: _edited(_conv_instead_of_affine), "Conv1d is not supported"),
    (lambda: _edited(_cuba_lif), "CubaLIF is not supported"),
    (lambda: _edited(_leaky_to_half), "v_leak"),
    (lambda: _edited(_wrong_resistance), "input resistance"),
])
def test_from_nir_refuses_what_conversion_refuses(graph, match):
    # One reader: the counts are of graphs Lava can run, so they refuse the same graphs, with
    # the same message (the old reader of its own counted CubaLIF and nested graphs).
    with pytest.raises(ConversionError, match=match) as refused:
        parse_encoder_graph(graph())
    with pytest.raises(ConversionError, match=match) as counted:
        Connectivity.from_nir(graph())
    assert str(counted.value) == str(refused.value)


def _edited(edit) -> nir.NIRGraph:
    g = hand_nir_graph()
    edit(g)
    return g


def tiny_encoder(seed: int = 0) -> SpikingEncoder:
    torch.manual_seed(seed)
    cfg = EncoderConfig(frame_samples=16, hidden_sizes=(8, 6), recurrent=(False, True),
                        n_units=5, input_gain=8.0)
    enc = SpikingEncoder(cfg).eval()
    with torch.no_grad():   # some zero weights, so that fan-outs differ from column heights
        enc.fc[1].weight[:, 2] = 0.0
        enc.fc[2].weight[0, :] = 0.0
        enc.rec["1"].weight[::2, 1] = 0.0
    return enc


def nir_from_encoder(enc: SpikingEncoder) -> nir.NIRGraph:
    """A NIR graph of the encoder's weights written here, independently of `encoder_to_nir`."""
    cfg = enc.config
    nodes = {"input": nir.Input(input_type={"input": np.array([cfg.frame_samples])})}
    edges, prev = [], "input"
    for i, fc in enumerate(enc.fc):
        w = fc.weight.detach().numpy().astype(np.float64) * (cfg.input_gain if i == 0 else 1.0)
        nodes[f"fc{i}"] = nir.Affine(weight=w, bias=fc.bias.detach().numpy().astype(np.float64))
        nodes[f"lif{i}"] = _lif(w.shape[0])
        edges += [(prev, f"fc{i}"), (f"fc{i}", f"lif{i}")]
        if str(i) in enc.rec:
            nodes[f"rec{i}"] = nir.Linear(weight=enc.rec[str(i)].weight.detach().numpy())
            edges += [(f"lif{i}", f"rec{i}"), (f"rec{i}", f"lif{i}")]
        prev = f"lif{i}"
    nodes["output"] = nir.Output(output_type={"output": np.array([cfg.n_units])})
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def test_encoder_and_nir_connectivity_agree():
    enc = tiny_encoder()
    from_torch = Connectivity.from_encoder(enc)
    from_nir = Connectivity.from_nir(nir_from_encoder(enc))
    assert from_torch.structure() == from_nir.structure()
    # The energy model's dense reference uses every weight every step, zeros included.
    dense = dense_network_layers(from_torch, frame_rate_hz=43.07)
    assert [layer.macs_per_step for layer in dense] == [16 * 8, 8 * 6, 6 * 6, 6 * 5]
    fan = {(p.source, p.target): p.fan_out for p in from_torch.projections}
    assert fan[("lif0", "lif1")][2] == 0 and fan[("lif1", "lif2")].tolist() == [4] * 6
    assert fan[("lif1", "lif1")][1] == 3


def test_exported_nir_connectivity_equals_torch_module():
    from conversion.nir_export import encoder_to_nir

    enc = tiny_encoder()
    assert Connectivity.from_nir(encoder_to_nir(enc)).structure() == \
        Connectivity.from_encoder(enc).structure()


def naive_counts(conn: Connectivity, layers, inputs):
    """Oracle: the definitions of hardware.counts, one event at a time."""
    events = dict(zip(conn.layer_names, layers, strict=True))
    events[GRADED_SOURCE] = (inputs != 0).astype(int)
    steps = layers[0].shape[1]
    synops, active = 0, 0
    for name, units in zip(conn.layer_names, conn.layer_sizes, strict=True):
        for i in range(units):
            for t in range(steps):
                got = bool(events[name][i, t])
                for p in conn.into(name):
                    for j in range(p.mask.shape[1]):
                        src_t = t - 1 if p.recurrent else t
                        if p.mask[i, j] and src_t >= 0 and events[p.source][j, src_t]:
                            got = True
                active += got
    for p in conn.projections:
        for j in range(p.mask.shape[1]):
            synops += int(events[p.source][j].sum()) * int(p.mask[:, j].sum())
    return synops, active


def test_counts_match_a_one_event_at_a_time_oracle():
    rng = np.random.default_rng(3)
    enc = tiny_encoder()
    conn = Connectivity.from_encoder(enc)
    layers = [(rng.random((u, 12)) < 0.3).astype(np.uint8) for u in conn.layer_sizes]
    inputs = np.where(rng.random((16, 12)) < 0.5, rng.standard_normal((16, 12)), 0.0)
    c = count_events(conn, layers, inputs)
    assert (c.synops, c.active_updates) == naive_counts(conn, layers, inputs)


def test_count_encoder_run_counts_the_snntorch_trace():
    enc = tiny_encoder()
    audio = np.random.default_rng(0).standard_normal(16 * 30).astype(np.float32) * 0.3
    audio[16 * 10:16 * 12] = 0.0                    # two silent frames send no graded input
    conn, c = count_encoder_run(enc, audio[:-5])   # a partial last frame is zero-padded
    with torch.no_grad():
        _, trace = enc(torch.from_numpy(audio[:-5]), return_trace=True)
    assert c.steps == 30
    assert [layer.spikes for layer in c.layers] == [int(t.sum()) for t in trace.layers]
    assert c.graded_inputs == 16 * 30 - 32 - 5
    assert c.layers[0].synops == c.graded_inputs * 8   # input weights are dense: fan-out 8


@pytest.mark.lava
def test_lava_counts_equal_snntorch_counts():
    from conversion.nir_export import encoder_to_nir
    from hardware.simulate import simulate_audio

    enc = tiny_encoder()
    audio = np.random.default_rng(1).standard_normal(16 * 25).astype(np.float32) * 0.3
    graph = encoder_to_nir(enc)
    result = simulate_audio(graph, audio, arithmetic=Arithmetic.FLOAT)
    lava = count_simulation(Connectivity.from_nir(graph), result)
    _, torch_counts = count_encoder_run(enc, audio)
    with torch.no_grad():
        _, trace = enc(torch.from_numpy(audio), return_trace=True)
    for got, want in zip(result.layers, trace.layers, strict=True):
        assert np.array_equal(np.asarray(got, dtype=np.uint8), want[0].numpy().astype(np.uint8))
    assert lava.graded_inputs == torch_counts.graded_inputs
    for a, b in zip(lava.layers, torch_counts.layers, strict=True):
        assert a == LayerCounts(**{**b.__dict__, "name": a.name})


@pytest.mark.slow
@pytest.mark.lava
def test_lava_counts_equal_snntorch_counts_full_size():
    from conversion.nir_export import encoder_to_nir
    from hardware.simulate import simulate_audio

    torch.manual_seed(0)
    enc = SpikingEncoder(EncoderConfig()).eval()
    audio = (0.1 * np.random.default_rng(0).standard_normal(2 * 22_050)).astype(np.float32)
    graph = encoder_to_nir(enc)
    lava = count_simulation(Connectivity.from_nir(graph), simulate_audio(graph, audio))
    _, torch_counts = count_encoder_run(enc, audio)
    assert lava.graded_inputs == torch_counts.graded_inputs == 2 * 22_050
    for a, b in zip(lava.layers, torch_counts.layers, strict=True):
        assert a == LayerCounts(**{**b.__dict__, "name": a.name})


def test_the_encoders_spiking_synops_are_the_counts_without_the_graded_input():
    """`SpikingEncoder.spiking_synops` (what the operations budget prices in training) is
    exactly the synops `hardware.counts` finds on the same spikes, less the graded input's, for
    a recurrent encoder with some zero weights (a fan-out is the non-zero weights)."""
    from factories import noise, tiny_encoder

    from hardware.counts import encoder_rasters

    cfg = EncoderConfig(frame_samples=32, hidden_sizes=(12, 10), n_units=6,
                        recurrent=(False, True))
    enc = tiny_encoder(cfg, seed=3).double()
    with torch.no_grad():
        enc.fc[1].weight[:, :4] = 0.0        # four lif0 neurons reach nothing
        enc.rec["1"].weight[:, 2:5] = 0.0    # three lif1 neurons reach no lif1 neuron
    x = noise(32 * 40, seed=5)
    _, trace = enc(torch.from_numpy(x)[None], return_trace=True)
    rasters, _ = encoder_rasters(enc, x, Arithmetic.FLOAT)
    assert all(np.array_equal(t[0].detach().numpy(), r) for t, r in zip(trace.layers, rasters))
    _, counts = count_encoder_run(enc, x, Arithmetic.FLOAT)
    graded = sum(layer.graded_synops for layer in counts.layers)
    ops = enc.spiking_synops(trace)
    assert ops.shape == (1,) and counts.synops - graded > 0
    assert int(ops.item()) == counts.synops - graded
    # Differentiable through the spikes: a gradient reaches the first layer's weights.
    ops.sum().backward()
    assert enc.fc[0].weight.grad.abs().sum() > 0
