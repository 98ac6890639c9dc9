"""The spiking encoder as a NIR graph (export), and the NIR graph read back as layer arrays.

`encoder_to_nir` writes the encoder of `neuro_codec.model.encoder` as nodes of the Neuromorphic
Intermediate Representation; `parse_encoder_graph` turns such a graph (the contract with every
backend: `conversion.lava_graph` builds Lava processes from it, `hardware` reads fan-outs from
it) back into per-layer arrays, refusing anything our Lava mapping cannot run.

Node naming (L LIF layers, i = 0 … L−1; layer L−1 is the code layer z):

    input            nir.Input   [F]          graded waveform frame of step t (F = frame_samples)
    input_gain       nir.Scale   [F]          × input_gain (element-wise)
    layer{i}.affine  nir.Affine  W [h_i, h_{i−1}], b [h_i]   feed-forward (h_{−1} = F)
    layer{i}.lif     nir.LIF     [h_i]        τ, r, v_leak = 0, v_threshold = θ, v_reset = 0
    layer{i}.rec     nir.Linear  R [h_i, h_i] recurrent layers only: lif → rec → lif
    output           nir.Output  [N]          z = spikes of layer{L−1}.lif

Edges: input → input_gain → layer0.affine → layer0.lif → layer1.affine → … → output, plus
(layer{i}.lif → layer{i}.rec) and (layer{i}.rec → layer{i}.lif) for recurrent layers. The fan-out
of neuron j of layer i is the number of non-zero entries in column j of layer{i+1}.affine's
weight plus (if recurrent) column j of layer{i}.rec's weight.

Time: NIR neurons are continuous-time (τ v̇ = (v_leak − v) + R I). snnTorch's exporter and
importer both discretise with a hard-coded Euler step dt = 1e-4 s and R = τ/dt, so that
β = 1 − dt/τ and v[t] = β v[t−1] + I[t]. We keep that convention (so snnTorch's importer reads
our decays right) and store dt and the real step (512 samples = 23.2 ms) in the graph metadata.
The recurrence reads the previous step's spikes (R s[t−1]), as every discrete-time NIR consumer
does for a cycle.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nir
import numpy as np
from snntorch import export_nir as snntorch_export

from neuro_codec.data.audio import SAMPLE_RATE_HZ
from neuro_codec.errors import CodecError
from neuro_codec.fileio import atomic_path
from neuro_codec.model.encoder import DECAY_GRID, SpikingEncoder

GRAPH_FORMAT = "neuro-codec-encoder"
GRAPH_VERSION = 1
SNNTORCH_DT_S = 1e-4  # the Euler step snnTorch's NIR exporter and importer hard-code
INPUT_NODE = "input"
GAIN_NODE = "input_gain"
OUTPUT_NODE = "output"


class ConversionError(CodecError):
    """A network or NIR graph that our NIR export or Lava mapping cannot express exactly."""


def affine_name(i: int) -> str:
    return f"layer{i}.affine"


def lif_name(i: int) -> str:
    return f"layer{i}.lif"


def rec_name(i: int) -> str:
    return f"layer{i}.rec"


def _numpy(t) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def _check_encoder(encoder: SpikingEncoder) -> None:
    for i, lif in enumerate(encoder.lif):
        if lif.reset_mechanism != "zero":
            # snnTorch's exporter writes v_reset = 0 whatever the reset is; Lava's LIF only
            # resets to zero, so a subtract reset would convert silently into a different net.
            raise ConversionError(f"{lif_name(i)}: reset mechanism {lif.reset_mechanism!r} has no "
                                  f"NIR/Lava counterpart (need 'zero')")
        if float(lif.graded_spikes_factor) != 1.0:
            raise ConversionError(f"{lif_name(i)}: graded_spikes_factor "
                                  f"{float(lif.graded_spikes_factor)} (need 1)")
        h = encoder.fc[i].out_features
        if lif.beta.numel() != h or lif.threshold.numel() != h:
            raise ConversionError(f"{lif_name(i)}: beta and threshold must be per-neuron vectors "
                                  f"of {h} (got {lif.beta.numel()} and {lif.threshold.numel()})")


def encoder_to_nir(encoder: SpikingEncoder, model_id: str = "") -> nir.NIRGraph:
    """Export the spiking encoder as a NIR graph (node names in the module docstring).

    snnTorch's own per-module converter makes the Affine, Linear and LIF nodes (its formulas are
    right for our Leaky with zero reset and vector β, θ); `export_to_nir` itself cannot be used
    because it traces the forward pass, and ours loops over time and adds the recurrence and
    the input gain explicitly: those nodes and the edges are written here.

    Args:
        encoder: the trained encoder (any dtype; arrays are copied as stored).
        model_id: written to the graph metadata.
    Returns:
        the graph, type-checked by NIR.
    Raises:
        ConversionError: a layer NIR or Lava cannot express (subtract reset, graded spikes,
            scalar β/θ).
    """
    if encoder.config.mu_levels:
        raise ConversionError("a mu-sparse encoder is exported at one level: pass "
                              "encoder.at_mu(μ) (conversion.export --mu K)")
    _check_encoder(encoder)
    cfg = encoder.config
    n_in = cfg.frame_samples
    nodes: dict[str, nir.NIRNode] = {
        INPUT_NODE: nir.Input(input_type=np.array([n_in])),
        GAIN_NODE: nir.Scale(scale=np.full(n_in, float(cfg.input_gain), dtype=np.float64)),
    }
    edges: list[tuple[str, str]] = [(INPUT_NODE, GAIN_NODE)]
    prev = GAIN_NODE
    for i, (fc, lif) in enumerate(zip(encoder.fc, encoder.lif)):
        affine = snntorch_export._extract_snntorch_module(fc)
        neuron = snntorch_export._extract_snntorch_module(lif)
        if not isinstance(affine, nir.Affine) or not isinstance(neuron, nir.LIF):
            raise ConversionError(f"layer {i}: snnTorch's exporter gave "
                                  f"{type(affine).__name__}/{type(neuron).__name__}, "
                                  f"expected Affine/LIF")
        nodes[affine_name(i)] = affine
        nodes[lif_name(i)] = neuron
        edges += [(prev, affine_name(i)), (affine_name(i), lif_name(i))]
        if str(i) in encoder.rec:
            rec = snntorch_export._extract_snntorch_module(encoder.rec[str(i)])
            if not isinstance(rec, nir.Linear):
                raise ConversionError(f"{rec_name(i)}: expected a Linear without bias")
            nodes[rec_name(i)] = rec
            edges += [(lif_name(i), rec_name(i)), (rec_name(i), lif_name(i))]
        prev = lif_name(i)
    nodes[OUTPUT_NODE] = nir.Output(output_type=np.array([cfg.n_units]))
    edges.append((prev, OUTPUT_NODE))
    metadata = {
        "format": GRAPH_FORMAT, "version": GRAPH_VERSION, "model_id": model_id,
        "dt_s": SNNTORCH_DT_S, "decay_grid": DECAY_GRID, "frame_samples": n_in,
        "sample_rate_hz": SAMPLE_RATE_HZ, "step_s": n_in / SAMPLE_RATE_HZ,
        "recurrence_delay_steps": 1, "reset": "zero",
    }
    try:
        return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)
    except (AssertionError, ValueError) as e:
        raise ConversionError(f"NIR rejected the exported graph: {e}") from None


@dataclass(frozen=True)
class LayerSpec:
    """One LIF layer read from the graph, in float64.

    Dynamics (one step per frame): I[t] = W x[t] + b + R s[t−1];
    v[t] = β v[t−1] (1 − s[t−1]) + I[t]; s[t] = v[t] > θ.
    """

    name: str                       # the layer's LIF node name, e.g. "layer1.lif"
    affine: str                     # its feed-forward node name
    weight: np.ndarray              # W [h, n_in]
    bias: np.ndarray                # b [h]
    beta: np.ndarray                # β [h] (snapped to the 1/decay_grid grid when on it)
    threshold: np.ndarray           # θ [h]
    rec: str | None = None          # its recurrent node name, if any
    rec_weight: np.ndarray | None = None  # R [h, h]

    @property
    def size(self) -> int:
        return int(self.weight.shape[0])


@dataclass(frozen=True)
class EncoderGraph:
    """A NIR encoder graph as arrays: the input scale, then the LIF layers in order."""

    input_scale: np.ndarray          # [F] multiplies the graded input (ones if no Scale node)
    layers: list[LayerSpec]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def frame_samples(self) -> int:
        return int(self.input_scale.shape[0])

    @property
    def layer_names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    def fan_outs(self) -> list[np.ndarray]:
        """Per layer, [h_i] non-zero outgoing synapses per neuron (next Affine + own rec).

        Entry 0 is the input: the fan-out of each graded input sample is at index 0, the
        layers follow, so the list has L + 1 entries.
        """
        outs = [np.count_nonzero(self.layers[0].weight, axis=0)]
        for i, layer in enumerate(self.layers):
            fo = np.zeros(layer.size, dtype=np.int64)
            if i + 1 < len(self.layers):
                fo += np.count_nonzero(self.layers[i + 1].weight, axis=0)
            if layer.rec_weight is not None:
                fo += np.count_nonzero(layer.rec_weight, axis=0)
            outs.append(fo)
        return outs


def _meta_value(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf8")
    if isinstance(v, np.generic):
        return v.item()
    return v


def _decays(name: str, node: nir.LIF, dt: float, grid: int) -> np.ndarray:
    tau = np.asarray(node.tau, dtype=np.float64)
    r = np.asarray(node.r, dtype=np.float64)
    if np.any(tau <= 0):
        raise ConversionError(f"{name}: tau must be > 0")
    w_scale = r * dt / tau
    if not np.allclose(w_scale, 1.0, rtol=1e-6, atol=0):
        raise ConversionError(f"{name}: input resistance r·dt/τ = {w_scale.min():.6g}…"
                              f"{w_scale.max():.6g}; the Lava mapping needs r = τ/dt")
    beta = 1.0 - dt / tau
    if np.any(beta < 0) or np.any(beta >= 1):
        raise ConversionError(f"{name}: decay β = 1 − dt/τ outside [0, 1)")
    # τ is stored rounded (float32 by snnTorch's exporter): a β that was on the decay grid
    # comes back within ~1e-3 grid steps of it; snap so that 1 − (1 − β) == β again.
    k = np.round(beta * grid)
    snapped = np.abs(beta * grid - k) < 1e-2
    return np.where(snapped, k / grid, beta)


def parse_encoder_graph(graph: nir.NIRGraph) -> EncoderGraph:
    """Read our encoder structure from a NIR graph (as written by `encoder_to_nir`).

    Accepts: Input → [Scale] → (Affine | Linear) → LIF [⇄ Linear] → … → LIF → Output.
    Raises:
        ConversionError: naming the first node the Lava mapping cannot run (unknown type,
            LIF with v_leak ≠ 0 or v_reset ≠ 0, r ≠ τ/dt, a branch, a wrong shape).
    """
    nodes = graph.nodes
    meta = {k: _meta_value(v) for k, v in (graph.metadata or {}).items()}
    dt = float(meta.get("dt_s", SNNTORCH_DT_S))
    grid = int(meta.get("decay_grid", DECAY_GRID))
    allowed = (nir.Input, nir.Output, nir.Scale, nir.Affine, nir.Linear, nir.LIF)
    for name, node in nodes.items():
        if not isinstance(node, allowed):
            raise ConversionError(f"node {name!r}: {type(node).__name__} is not supported by the "
                                  f"Lava mapping (Input, Scale, Affine, Linear, LIF, Output)")
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    pred: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in graph.edges:
        if a not in nodes or b not in nodes:
            raise ConversionError(f"edge ({a!r}, {b!r}) names a node that is not in the graph")
        succ[a].append(b)
        pred[b].append(a)
    inputs = [n for n, node in nodes.items() if isinstance(node, nir.Input)]
    outputs = [n for n, node in nodes.items() if isinstance(node, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise ConversionError(f"need one Input and one Output node, got {inputs} and {outputs}")

    def only_next(name: str, exclude: str | None = None) -> str:
        nxt = [n for n in succ[name] if n != exclude]
        if len(nxt) != 1:
            raise ConversionError(f"node {name!r}: expected one successor, got {nxt}")
        return nxt[0]

    cur = only_next(inputs[0])
    n_in = int(np.asarray(nodes[inputs[0]].input_type["input"]).prod())
    scale = np.ones(n_in)
    if isinstance(nodes[cur], nir.Scale):
        scale = np.asarray(nodes[cur].scale, dtype=np.float64).reshape(-1)
        if scale.shape != (n_in,):
            raise ConversionError(f"node {cur!r}: scale has shape {scale.shape}, input is {n_in}")
        cur = only_next(cur)
    layers: list[LayerSpec] = []
    while not isinstance(nodes[cur], nir.Output):
        ff = nodes[cur]
        if not isinstance(ff, (nir.Affine, nir.Linear)):
            raise ConversionError(f"node {cur!r}: expected Affine or Linear before a LIF, got "
                                  f"{type(ff).__name__}")
        w = np.asarray(ff.weight, dtype=np.float64)
        if w.ndim != 2 or w.shape[1] != n_in:
            raise ConversionError(f"node {cur!r}: weight shape {w.shape} does not take {n_in} "
                                  f"inputs")
        b = (np.asarray(ff.bias, dtype=np.float64).reshape(-1) if isinstance(ff, nir.Affine)
             else np.zeros(w.shape[0]))
        lif = only_next(cur)
        node = nodes[lif]
        if not isinstance(node, nir.LIF):
            raise ConversionError(f"node {lif!r}: expected LIF after {cur!r}, got "
                                  f"{type(node).__name__}")
        h = w.shape[0]
        if np.asarray(node.tau).shape != (h,):
            raise ConversionError(f"node {lif!r}: {np.asarray(node.tau).shape} neurons, "
                                  f"{cur!r} gives {h}")
        if np.any(np.asarray(node.v_leak) != 0):
            raise ConversionError(f"node {lif!r}: v_leak ≠ 0 is not supported by Lava's LIF")
        if node.v_reset is not None and np.any(np.asarray(node.v_reset) != 0):
            raise ConversionError(f"node {lif!r}: v_reset ≠ 0 is not supported (Lava resets to 0)")
        beta = _decays(lif, node, dt, grid)
        theta = np.asarray(node.v_threshold, dtype=np.float64).reshape(-1)
        rec_nodes = [n for n in succ[lif] if lif in succ[n]]
        rec, rec_w = None, None
        if rec_nodes:
            rec = rec_nodes[0]
            rnode = nodes[rec]
            if (len(rec_nodes) > 1 or not isinstance(rnode, (nir.Linear, nir.Affine))
                    or pred[rec] != [lif]):
                raise ConversionError(f"node {rec!r}: a recurrence must be one Linear from "
                                      f"{lif!r} back to itself")
            if isinstance(rnode, nir.Affine) and np.any(np.asarray(rnode.bias) != 0):
                raise ConversionError(f"node {rec!r}: a recurrent bias is not supported")
            rec_w = np.asarray(rnode.weight, dtype=np.float64)
            if rec_w.shape != (h, h):
                raise ConversionError(f"node {rec!r}: weight shape {rec_w.shape}, need {(h, h)}")
        if sorted(pred[lif]) != sorted([cur] + ([rec] if rec else [])):
            raise ConversionError(f"node {lif!r}: unexpected inputs {pred[lif]}")
        layers.append(LayerSpec(name=lif, affine=cur, weight=w, bias=b, beta=beta,
                                threshold=theta, rec=rec, rec_weight=rec_w))
        n_in = h
        cur = only_next(lif, exclude=rec)
    if not layers:
        raise ConversionError("the graph has no LIF layer")
    return EncoderGraph(input_scale=scale, layers=layers, metadata=meta)


def graph_differences(a: nir.NIRGraph, b: nir.NIRGraph) -> list[str]:
    """Every difference between two graphs, field by field (empty when they are equal).

    Compares node names and types, every array field (values with `np.array_equal`, dtype
    and shape), the edge list and the metadata.
    """
    diffs: list[str] = []
    if set(a.nodes) != set(b.nodes):
        diffs.append(f"nodes {sorted(a.nodes)} ≠ {sorted(b.nodes)}")
    for name in sorted(set(a.nodes) & set(b.nodes)):
        na, nb = a.nodes[name], b.nodes[name]
        if type(na) is not type(nb):
            diffs.append(f"{name}: {type(na).__name__} ≠ {type(nb).__name__}")
            continue
        for key in sorted(set(vars(na)) | set(vars(nb))):
            if key == "metadata":
                continue
            va, vb = getattr(na, key, None), getattr(nb, key, None)
            if isinstance(va, dict) and isinstance(vb, dict):   # input_type, output_type
                va = {k: np.asarray(v).tolist() for k, v in va.items()}
                vb = {k: np.asarray(v).tolist() for k, v in vb.items()}
                if va != vb:
                    diffs.append(f"{name}.{key}: {va} ≠ {vb}")
                continue
            xa, xb = np.asarray(va), np.asarray(vb)
            if xa.dtype != xb.dtype or not np.array_equal(xa, xb):
                diffs.append(f"{name}.{key} differs ({xa.dtype}{list(xa.shape)} vs "
                             f"{xb.dtype}{list(xb.shape)})")
    if [tuple(e) for e in a.edges] != [tuple(e) for e in b.edges]:
        diffs.append("edges differ")
    ma = {k: _meta_value(v) for k, v in (a.metadata or {}).items()}
    mb = {k: _meta_value(v) for k, v in (b.metadata or {}).items()}
    if ma != mb:
        diffs.append(f"metadata {ma} ≠ {mb}")
    return diffs


def write_graph(path: str | os.PathLike, graph: nir.NIRGraph) -> None:
    """`nir.write` to a temporary file beside `path`, then rename (nothing half-written)."""
    with atomic_path(path, suffix=".nir") as tmp:
        nir.write(tmp, graph)


def read_graph(path: str | os.PathLike) -> nir.NIRGraph:
    """`nir.read` with a one-line ConversionError for a missing or unreadable file."""
    p = Path(path)
    if not p.is_file():
        raise ConversionError(f"NIR file not found: {p}")
    try:
        return nir.read(p)
    except Exception as e:  # h5py and NIR raise many types for foreign or corrupt files
        raise ConversionError(f"{p} is not a readable NIR graph ({type(e).__name__})") from None
