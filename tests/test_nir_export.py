"""NIR export of the spiking encoder: every field of every node, the HDF5 round trip, the graph
read back by the Lava mapping's parser and by another reader (nirtorch + snnTorch's node
converters), refusals, and the `python -m conversion.export` command."""

import copy

import nir
import nirtorch
import numpy as np
import pytest
import torch
from factories import tiny_encoder
from snntorch import import_nir as snntorch_import

from conversion.export import main as export_main
from conversion.nir_export import (
    SNNTORCH_DT_S,
    ConversionError,
    affine_name,
    encoder_to_nir,
    graph_differences,
    lif_name,
    parse_encoder_graph,
    read_graph,
    rec_name,
    write_graph,
)
from neuro_codec.data.audio import frame_audio
from neuro_codec.model.checkpoint import Checkpoint
from neuro_codec.model.encoder import EncoderConfig

SHAPES = [
    EncoderConfig(frame_samples=16, hidden_sizes=(8, 6), recurrent=(False, False), n_units=5),
    EncoderConfig(frame_samples=16, hidden_sizes=(8, 6), recurrent=(False, True), n_units=5),
    EncoderConfig(frame_samples=12, hidden_sizes=(7,), recurrent=(True,), n_units=4,
                  input_gain=3.0),
]



def np32(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


@pytest.mark.parametrize("cfg", SHAPES)
def test_nodes_match_encoder_field_by_field(cfg):
    enc = tiny_encoder(cfg, 0)
    g = encoder_to_nir(enc, model_id="m-1")
    n_layers = len(cfg.layer_sizes)
    expected = {"input", "input_gain", "output"}
    for i in range(n_layers):
        expected |= {affine_name(i), lif_name(i)} | ({rec_name(i)} if cfg.layer_recurrent[i]
                                                       else set())
    assert set(g.nodes) == expected
    assert np.array_equal(g.nodes["input"].input_type["input"], [cfg.frame_samples])
    assert np.array_equal(g.nodes["output"].output_type["output"], [cfg.n_units])
    gain = g.nodes["input_gain"].scale
    assert gain.dtype == np.float64 and np.array_equal(gain, np.full(cfg.frame_samples,
                                                                       cfg.input_gain))
    for i in range(n_layers):
        aff, lif = g.nodes[affine_name(i)], g.nodes[lif_name(i)]
        assert isinstance(aff, nir.Affine) and isinstance(lif, nir.LIF)
        assert aff.weight.dtype == np.float32 and np.array_equal(aff.weight, np32(enc.fc[i].weight))
        assert np.array_equal(aff.bias, np32(enc.fc[i].bias))
        beta = np32(enc.lif[i].beta)
        tau = SNNTORCH_DT_S / (1 - beta)
        assert np.array_equal(lif.tau, tau) and np.array_equal(lif.r, tau / SNNTORCH_DT_S)
        assert np.array_equal(lif.v_threshold, np32(enc.lif[i].threshold))
        assert not lif.v_leak.any() and not lif.v_reset.any()
        if cfg.layer_recurrent[i]:
            rec = g.nodes[rec_name(i)]
            assert isinstance(rec, nir.Linear)
            assert np.array_equal(rec.weight, np32(enc.rec[str(i)].weight))
            assert (lif_name(i), rec_name(i)) in g.edges and (rec_name(i), lif_name(i)) in g.edges
    chain = ["input", "input_gain"] + [n for i in range(n_layers)
                                       for n in (affine_name(i), lif_name(i))] + ["output"]
    for a, b in zip(chain, chain[1:]):
        assert (a, b) in g.edges
    assert g.metadata["model_id"] == "m-1" and g.metadata["dt_s"] == SNNTORCH_DT_S


@pytest.mark.parametrize("cfg", SHAPES)
def test_write_read_round_trip_is_exact(cfg, tmp_path):
    g = encoder_to_nir(tiny_encoder(cfg, 1), model_id="abc")
    path = tmp_path / "enc.nir"
    write_graph(path, g)
    back = nir.read(path)
    assert graph_differences(g, back) == []
    for name, node in g.nodes.items():
        for key, value in vars(node).items():
            if isinstance(value, np.ndarray):
                other = getattr(back.nodes[name], key)
                assert other.dtype == value.dtype and np.array_equal(other, value), (name, key)
    assert [tuple(e) for e in back.edges] == [tuple(e) for e in g.edges]
    assert [p.name for p in tmp_path.iterdir()] == ["enc.nir"]   # no temporary file left


def test_graph_differences_finds_one_changed_weight():
    g = encoder_to_nir(tiny_encoder(SHAPES[1], 0))
    h = copy.deepcopy(g)
    h.nodes[rec_name(1)].weight[2, 3] += 1e-6
    assert graph_differences(g, h) == [f"{rec_name(1)}.weight differs (float32[6, 6] vs "
                                       f"float32[6, 6])"]


@pytest.mark.parametrize("cfg", SHAPES)
def test_parse_recovers_exact_parameters(cfg, tmp_path):
    enc = tiny_encoder(cfg, 2)
    write_graph(tmp_path / "e.nir", encoder_to_nir(enc))
    spec = parse_encoder_graph(read_graph(tmp_path / "e.nir"))
    assert spec.layer_names == [lif_name(i) for i in range(len(cfg.layer_sizes))]
    assert np.array_equal(spec.input_scale, np.full(cfg.frame_samples, cfg.input_gain))
    for i, layer in enumerate(spec.layers):
        # β comes back exactly on its 1/4096 grid although τ was stored in float32.
        assert np.array_equal(layer.beta, enc.lif[i].beta.double().numpy())
        assert np.array_equal(layer.weight, enc.fc[i].weight.detach().double().numpy())
        assert np.array_equal(layer.bias, enc.fc[i].bias.detach().double().numpy())
        assert (layer.rec_weight is not None) == cfg.layer_recurrent[i]
    fan = spec.fan_outs()
    assert len(fan) == len(cfg.layer_sizes) + 1
    assert fan[0].tolist() == [cfg.hidden_sizes[0]] * cfg.frame_samples
    assert fan[-1].tolist() == [0] * cfg.n_units


class _Scale(torch.nn.Module):
    def __init__(self, scale: np.ndarray):
        super().__init__()
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


def nirtorch_reader(graph: nir.NIRGraph) -> torch.nn.Module:
    """Another reader of the file: nirtorch executing the graph with snnTorch's converters.

    snnTorch's `import_from_nir` itself cannot run it: it has no mapping for nir.Scale (our
    input gain), and its RNN sub-graph routes the sub-graph's input through the recurrent
    weights (Input → W_rec in `_create_rnn_subgraph`), so a recurrent layer would compute
    LIF(R(x + s)) instead of LIF(x + R s). nirtorch's default Affine map drops the bias
    (`module.weight.bias = …`), so snnTorch's converter is used for Affine and Linear too.
    """
    def convert(node):
        return snntorch_import._nir_to_snntorch_module(node, init_hidden=True)

    node_map = {nir.Affine: convert, nir.Linear: convert, nir.LIF: convert,
                nir.Scale: lambda node: _Scale(node.scale)}
    return nirtorch.nir_to_torch(graph, node_map)


@pytest.mark.parametrize("cfg", SHAPES)
@pytest.mark.parametrize("seed", [0, 1])
def test_file_read_by_nirtorch_gives_same_z(cfg, seed, tmp_path):
    enc = tiny_encoder(cfg, seed)
    write_graph(tmp_path / "e.nir", encoder_to_nir(enc))
    module = nirtorch_reader(read_graph(tmp_path / "e.nir"))
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, cfg.frame_samples * 220, generator=g) * 0.3
    with torch.no_grad():
        z_ref, trace = enc(x, return_trace=True)
        frames = frame_audio(x, cfg.frame_samples)[0]
        state, out = None, []
        for t in range(frames.shape[0]):
            y, state = module(frames[t: t + 1], state)
            out.append(y[0])
    z = torch.stack(out, dim=1)
    for layer in trace.layers:
        assert 0 < layer.sum() < 0.9 * layer.numel()
    assert torch.equal(z, z_ref[0])


def test_refuses_nodes_lava_cannot_run():
    g = encoder_to_nir(tiny_encoder(SHAPES[0], 0))
    bad = copy.deepcopy(g)
    lif = bad.nodes[lif_name(1)]
    bad.nodes[lif_name(1)] = nir.CubaLIF(tau_syn=lif.tau, tau_mem=lif.tau, r=lif.r,
                                         v_leak=lif.v_leak, v_threshold=lif.v_threshold)
    with pytest.raises(ConversionError, match="layer1.lif.*CubaLIF"):
        parse_encoder_graph(bad)
    leaky = copy.deepcopy(g)
    leaky.nodes[lif_name(0)].v_leak = np.full_like(leaky.nodes[lif_name(0)].v_leak, 0.1)
    with pytest.raises(ConversionError, match="layer0.lif.*v_leak"):
        parse_encoder_graph(leaky)
    reset = copy.deepcopy(g)
    reset.nodes[lif_name(2)].v_reset = np.full_like(reset.nodes[lif_name(2)].v_reset, -1.0)
    with pytest.raises(ConversionError, match="layer2.lif.*v_reset"):
        parse_encoder_graph(reset)
    scaled = copy.deepcopy(g)
    scaled.nodes[lif_name(0)].r = scaled.nodes[lif_name(0)].r * 2
    with pytest.raises(ConversionError, match="layer0.lif.*r·dt/τ"):
        parse_encoder_graph(scaled)


def test_export_refuses_subtract_reset():
    enc = tiny_encoder(SHAPES[0], 0)
    enc.lif[1].reset_mechanism = "subtract"
    with pytest.raises(ConversionError, match="layer1.lif.*subtract"):
        encoder_to_nir(enc)


def test_export_cli(tmp_path, capsys):
    enc = tiny_encoder(SHAPES[1], 4)
    ckpt = Checkpoint.of_encoder(enc)
    ckpt.save(tmp_path / "enc.pt")
    out = tmp_path / "out" / "enc.nir"
    assert export_main(["--checkpoint", str(tmp_path / "enc.pt"), str(out)]) == 0
    back = nir.read(out)
    assert ckpt.model_id.startswith("random-")     # a bare encoder of no trained kind
    want = encoder_to_nir(enc, model_id=ckpt.model_id)
    want.metadata["arithmetic"] = "float"     # the checkpoint's (an untrained encoder: float)
    assert graph_differences(want, back) == []
    assert sorted(p.name for p in out.parent.iterdir()) == ["enc.nir"]


@pytest.mark.parametrize("content", [None, b"not a checkpoint"])
def test_export_cli_bad_checkpoint(tmp_path, capsys, content):
    ckpt = tmp_path / "bad.pt"
    if content is not None:
        ckpt.write_bytes(content)
    out = tmp_path / "enc.nir"
    assert export_main(["--checkpoint", str(ckpt), str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "bad.pt" in err
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == (
        [] if content is None else ["bad.pt"])
