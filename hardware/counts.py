"""Per-layer event and operation counts of a spiking network, from its connectivity and rasters.

The same counting runs on Lava's `SimulationResult` (what the Loihi simulation produced) and on
snnTorch traces, so the two can be compared exactly. `Connectivity` says, per LIF layer, where
its synaptic input comes from (graded host input or a spiking layer, itself for a recurrence)
and each presynaptic neuron's fan-out; it is read from the torch module, or from a NIR graph
through `conversion.nir_export.parse_encoder_graph` (the one NIR reader: what Lava runs).
`hardware.energy_model` turns the counts into energy, `hardware.report` into per-second figures.

Definitions (per layer ℓ, over the T steps of a run; S_src[j, t] ∈ {0, 1}, x[j, t] graded):

    fan_out_p[j]       = #{i : W_p[i, j] ≠ 0}              (projection p, presynaptic neuron j)
    graded inputs      = #{(j, t) : x[j, t] ≠ 0}           (zero samples send no event)
    synops(ℓ)          = Σ_{p → ℓ} Σ_{j,t} e_p[j, t] · fan_out_p[j]
                         e_p = [x ≠ 0] for a graded projection, S_src for a spiking one
    neuron updates(ℓ)  = units(ℓ) · T                       (Loihi updates every neuron every step)
    active updates(ℓ)  = #{(i, t) : i received ≥ 1 synaptic event at t, or spiked at t}
    messages           = spikes of neurons whose fan-out in a projection is > 0, per projection:
                         local (a recurrence, same core), inter-layer (another layer's core),
                         host (an output layer's spikes, which leave the chip as z)

Timing follows the encoder: a feed-forward projection delivers step t's events at step t, a
recurrence delivers them at t + 1 (only "active updates" depend on timing; Lava's one step of
latency per `Dense` is removed by `hardware.simulate`, which returns rasters aligned to frames).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

import numpy as np

from neuro_codec.model.arithmetic import Arithmetic

if TYPE_CHECKING:
    from conversion.nir_export import EncoderGraph

GRADED_SOURCE = "input"  # source name of a projection fed by graded input from the host


@dataclass(frozen=True, eq=False)
class Projection:
    """One weight matrix into a LIF layer.

    Fields:
        source: name of the presynaptic LIF layer, or GRADED_SOURCE for host input.
        target: name of the postsynaptic LIF layer (== source for a recurrence).
        mask: [n_target, n_source] bool, True where the weight is non-zero.
    """

    source: str
    target: str
    mask: np.ndarray

    @property
    def fan_out(self) -> np.ndarray:
        """[n_source] int64: non-zero weights in each presynaptic neuron's column."""
        return self.mask.sum(axis=0, dtype=np.int64)

    @property
    def recurrent(self) -> bool:
        return self.source == self.target

    @property
    def graded(self) -> bool:
        return self.source == GRADED_SOURCE

    @property
    def n_weights(self) -> int:
        """Weights of the dense matrix (zeros included): MACs per step of a dense network."""
        return int(self.mask.size)


@dataclass(frozen=True, eq=False)
class Connectivity:
    """The network's LIF layers (graph order) and every projection into them.

    Fields:
        layer_names: LIF layer names, input side first; the last one is z.
        layer_sizes: units per layer.
        input_size: width of the graded host input (samples per frame).
        projections: every weight matrix into a LIF layer.
        output_layers: layers whose spikes leave the chip (z).
    """

    layer_names: tuple[str, ...]
    layer_sizes: tuple[int, ...]
    input_size: int
    projections: tuple[Projection, ...]
    output_layers: tuple[str, ...]

    def __post_init__(self):
        sizes = dict(zip(self.layer_names, self.layer_sizes, strict=True))
        sizes[GRADED_SOURCE] = self.input_size
        if len(set(self.layer_names)) != len(self.layer_names) or GRADED_SOURCE in self.layer_names:
            raise ValueError(f"layer names must be unique and not {GRADED_SOURCE!r}, got "
                             f"{self.layer_names}")
        for p in self.projections:
            if p.source not in sizes or p.target not in self.layer_names:
                raise ValueError(f"projection {p.source!r} → {p.target!r} names an unknown layer "
                                 f"(layers: {self.layer_names})")
            want = (sizes[p.target], sizes[p.source])
            if tuple(p.mask.shape) != want:
                raise ValueError(f"projection {p.source!r} → {p.target!r} has weights of shape "
                                 f"{tuple(p.mask.shape)}, expected {want} [target, source]")
        for name in self.output_layers:
            if name not in self.layer_names:
                raise ValueError(f"output layer {name!r} is not a LIF layer")

    def into(self, layer: str) -> list[Projection]:
        return [p for p in self.projections if p.target == layer]

    def renamed(self, names: Sequence[str]) -> Connectivity:
        """The same network with its layers renamed (in order), e.g. to Lava's node names."""
        if len(names) != len(self.layer_names):
            raise ValueError(f"got {len(names)} layer names for {len(self.layer_names)} layers")
        m = dict(zip(self.layer_names, names, strict=True))
        m[GRADED_SOURCE] = GRADED_SOURCE
        return Connectivity(
            layer_names=tuple(names), layer_sizes=self.layer_sizes, input_size=self.input_size,
            projections=tuple(Projection(m[p.source], m[p.target], p.mask)
                              for p in self.projections),
            output_layers=tuple(m[n] for n in self.output_layers),
        )

    def structure(self) -> tuple:
        """A name-free description (layer indices, sizes, masks) for comparing two readings."""
        index = {n: i for i, n in enumerate(self.layer_names)}
        index[GRADED_SOURCE] = -1
        projections = sorted(
            (index[p.source], index[p.target], p.mask.shape, np.packbits(p.mask).tobytes())
            for p in self.projections)
        return (self.layer_sizes, self.input_size, tuple(projections),
                tuple(sorted(index[n] for n in self.output_layers)))

    # ------------------------------------------------------------------ readers

    @classmethod
    def from_encoder(cls, encoder) -> Connectivity:
        """Read a `neuro_codec.model.encoder.SpikingEncoder` (layers named lif0, lif1, …)."""
        cfg = encoder.config
        names = tuple(f"lif{i}" for i in range(len(cfg.layer_sizes)))
        projections = []
        for i, fc in enumerate(encoder.fc):
            source = GRADED_SOURCE if i == 0 else names[i - 1]
            projections.append(Projection(source, names[i], _nonzero(fc.weight)))
            if str(i) in encoder.rec:
                rec = _nonzero(encoder.rec[str(i)].weight)
                projections.append(Projection(names[i], names[i], rec))
        return cls(names, tuple(int(h) for h in cfg.layer_sizes), int(cfg.frame_samples),
                   tuple(projections), (names[-1],))

    @classmethod
    def from_nir(cls, graph) -> Connectivity:
        """Read a `nir.NIRGraph` with conversion's parser (`parse_encoder_graph`): the graphs
        counted are exactly the graphs the Lava mapping runs, and a graph it refuses is refused
        here with the same message.

        Raises:
            ConversionError: a node or structure the Lava mapping cannot run.
        """
        # Imported here: conversion needs nir (the optional `lava` extra); counting does not.
        from conversion.nir_export import parse_encoder_graph

        return cls.from_graph(parse_encoder_graph(graph))

    @classmethod
    def from_graph(cls, graph: EncoderGraph) -> Connectivity:
        """Read a parsed `conversion.nir_export.EncoderGraph` (layers named by their LIF node)."""
        names = tuple(graph.layer_names)
        projections = []
        for i, layer in enumerate(graph.layers):
            source = GRADED_SOURCE if i == 0 else names[i - 1]
            projections.append(Projection(source, layer.name, layer.weight != 0))
            if layer.rec_weight is not None:
                projections.append(Projection(layer.name, layer.name, layer.rec_weight != 0))
        return cls(names, tuple(layer.size for layer in graph.layers), graph.frame_samples,
                   tuple(projections), (names[-1],))


def _nonzero(weight) -> np.ndarray:
    return weight.detach().cpu().numpy() != 0


@dataclass(frozen=True)
class LayerCounts:
    """What one LIF layer did over a run (see the module docstring for the definitions).

    Fields:
        name, units, steps: the layer, its size, and the number of steps counted.
        graded_inputs: non-zero graded values delivered to it from the host (from inputs with
            a fan-out > 0 into it).
        input_spikes: spikes delivered to it from other layers (fan-out > 0 into it).
        recurrent_spikes: its own spikes delivered back to it (fan-out > 0 in the recurrence).
        spikes: spikes it emitted.
        synops: synaptic operations into it (events × fan-out, graded ones included).
        graded_synops: the part of `synops` due to graded input.
        neuron_updates: units × steps.
        active_updates: updates with synaptic input or a spike (the rest only decay).
        local_messages: spike messages to its own core (recurrence).
        inter_layer_messages: spike messages to other layers' cores.
        host_messages: spike messages that leave the chip (z of an output layer).
    """

    name: str
    units: int
    steps: int
    graded_inputs: int = 0
    input_spikes: int = 0
    recurrent_spikes: int = 0
    spikes: int = 0
    synops: int = 0
    graded_synops: int = 0
    neuron_updates: int = 0
    active_updates: int = 0
    local_messages: int = 0
    inter_layer_messages: int = 0
    host_messages: int = 0

    @property
    def inactive_updates(self) -> int:
        return self.neuron_updates - self.active_updates

    def __add__(self, other: LayerCounts) -> LayerCounts:
        if (self.name, self.units) != (other.name, other.units):
            raise ValueError(f"cannot add counts of {self.name!r} and {other.name!r}")
        summed = {f.name: getattr(self, f.name) + getattr(other, f.name)
                  for f in fields(self) if f.name not in ("name", "units")}
        return replace(self, **summed)


@dataclass(frozen=True)
class NetworkCounts:
    """Per-layer counts of one or more runs of the same network (layers in graph order)."""

    layers: tuple[LayerCounts, ...]
    graded_inputs: int  # non-zero graded input values (each counted once, however many targets)

    @property
    def steps(self) -> int:
        return self.layers[0].steps

    @property
    def spikes(self) -> int:
        return sum(layer.spikes for layer in self.layers)

    @property
    def z_spikes(self) -> int:
        return self.layers[-1].spikes

    @property
    def synops(self) -> int:
        return sum(layer.synops for layer in self.layers)

    @property
    def neuron_updates(self) -> int:
        return sum(layer.neuron_updates for layer in self.layers)

    @property
    def active_updates(self) -> int:
        return sum(layer.active_updates for layer in self.layers)

    @property
    def inter_layer_messages(self) -> int:
        return sum(layer.inter_layer_messages for layer in self.layers)

    def __add__(self, other: NetworkCounts) -> NetworkCounts:
        if len(self.layers) != len(other.layers):
            raise ValueError("cannot add counts of different networks")
        return NetworkCounts(tuple(a + b for a, b in zip(self.layers, other.layers, strict=True)),
                             self.graded_inputs + other.graded_inputs)


def _binary(name: str, raster, units: int, steps: int | None) -> np.ndarray:
    a = np.asarray(raster)
    if a.ndim != 2 or a.shape[0] != units or (steps is not None and a.shape[1] != steps):
        want = f"[{units}, {'T' if steps is None else steps}]"
        raise ValueError(f"raster of layer {name!r} has shape {a.shape}, expected {want}")
    if not np.isin(a, (0, 1)).all():
        raise ValueError(f"raster of layer {name!r} holds values other than 0 and 1")
    return a.astype(bool)


def count_events(connectivity: Connectivity, layers: Sequence[np.ndarray],
                 inputs: np.ndarray | None = None) -> NetworkCounts:
    """Count events and operations of one run.

    Args:
        connectivity: the network.
        layers: per LIF layer in `connectivity.layer_names` order, a [units_i, T] raster of 0/1.
        inputs: [input_size, T] graded host input (needed when a projection is graded).
    Returns:
        NetworkCounts over the T steps.
    Raises:
        ValueError: wrong number of layers, shapes that do not match, non-binary rasters, or
            missing graded input.
    """
    names = connectivity.layer_names
    if len(layers) != len(names):
        raise ValueError(f"got {len(layers)} rasters for {len(names)} layers {names}")
    first = np.asarray(layers[0])
    steps = first.shape[1] if first.ndim == 2 else None
    spikes = {n: _binary(n, r, u, steps)
              for n, r, u in zip(names, layers, connectivity.layer_sizes, strict=True)}
    steps = spikes[names[0]].shape[1]
    events = dict(spikes)
    needs_input = any(p.graded for p in connectivity.projections)
    graded_total = 0
    if needs_input:
        if inputs is None:
            raise ValueError("the network has graded input, but no input frames were given")
        x = np.asarray(inputs)
        if x.shape != (connectivity.input_size, steps):
            raise ValueError(f"input frames have shape {x.shape}, expected "
                             f"[{connectivity.input_size}, {steps}]")
        events[GRADED_SOURCE] = x != 0
        graded_total = int(events[GRADED_SOURCE].sum())

    acc = {n: dict(graded_inputs=0, input_spikes=0, recurrent_spikes=0, synops=0,
                   graded_synops=0, local_messages=0, inter_layer_messages=0)
           for n in names}
    received = {n: np.zeros((u, steps), dtype=bool)
                for n, u in zip(names, connectivity.layer_sizes, strict=True)}
    for p in connectivity.projections:
        e = events[p.source]                        # [n_source, T] bool
        fan_out = p.fan_out
        ops = int(fan_out @ e.sum(axis=1))
        delivered = int(e[fan_out > 0].sum())       # events that reach at least one synapse
        tgt = acc[p.target]
        tgt["synops"] += ops
        if p.graded:
            tgt["graded_synops"] += ops
            tgt["graded_inputs"] += delivered
        elif p.recurrent:
            tgt["recurrent_spikes"] += delivered
            acc[p.source]["local_messages"] += delivered
        else:
            tgt["input_spikes"] += delivered
            acc[p.source]["inter_layer_messages"] += delivered
        # Which neurons got ≥ 1 synaptic event at which step (a recurrence arrives one step late).
        # float32 so that BLAS does it; sums of at most n_source ones are exact below 2**24.
        hit = (p.mask.astype(np.float32) @ e.astype(np.float32)) > 0   # [n_target, T]
        if p.recurrent:
            hit = np.concatenate([np.zeros_like(hit[:, :1]), hit[:, :-1]], axis=1)
        received[p.target] |= hit

    counts = []
    for name, units in zip(names, connectivity.layer_sizes, strict=True):
        s = spikes[name]
        host = int(s.sum()) if name in connectivity.output_layers else 0
        counts.append(LayerCounts(
            name=name, units=units, steps=steps, spikes=int(s.sum()),
            neuron_updates=units * steps, active_updates=int((received[name] | s).sum()),
            host_messages=host, **acc[name]))
    return NetworkCounts(tuple(counts), graded_total)


def count_simulation(connectivity: Connectivity, result) -> NetworkCounts:
    """Count a `hardware.simulate.SimulationResult`, matching its layers to ours by name."""
    names = list(result.layer_names)
    if sorted(names) != sorted(connectivity.layer_names):
        if len(names) != len(connectivity.layer_names):
            raise ValueError(f"the simulation returned layers {names}, the graph has "
                             f"{list(connectivity.layer_names)}")
        connectivity = connectivity.renamed(names)
    by_name = dict(zip(names, result.layers, strict=True))
    return count_events(connectivity, [by_name[n] for n in connectivity.layer_names],
                        result.inputs)


def encoder_rasters(encoder, audio: np.ndarray,
                  arithmetic: Arithmetic | str) -> tuple[list[np.ndarray], np.ndarray]:
    """The rasters Lava would produce, without Lava: what `neuro-codec encode` computes.

    Args:
        encoder: a level-free `SpikingEncoder` (μ-SPARSE folded with `at_level`).
        audio: [samples] waveform at 22,050 Hz.
        arithmetic: FIXED: Loihi's integer arithmetic (`simulate_fixed_point`, equal to Lava's
            fixed_pt run), inputs the 12-bit payloads; FLOAT: the float64 encoder
            (`run_float64`, equal to Lava's floating_pt run), inputs samples × input gain.
    Returns:
        (per LIF layer uint8 [units_i, T], graded host input [frame_samples, T]).
    """
    from neuro_codec.data.audio import frame_audio
    from neuro_codec.model.fixed_point import quantize_input, simulate_fixed_point

    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    frames = frame_audio(x, encoder.config.frame_samples).T                    # [F, T]
    if Arithmetic(arithmetic) is Arithmetic.FIXED:
        _, trace = simulate_fixed_point(encoder, x)
        layers = [t[0].numpy().astype(np.uint8) for t in trace.layers]
        return layers, quantize_input(frames)
    return encoder.run_float64(x), frames * encoder.config.input_gain


def count_encoder_run(encoder, audio: np.ndarray, arithmetic: Arithmetic | str = Arithmetic.FLOAT,
                      ) -> tuple[Connectivity, NetworkCounts]:
    """Run the encoder without Lava (`encoder_rasters`) on one waveform and count what it did.

    Args:
        encoder: a level-free `SpikingEncoder`.
        audio: [samples] float waveform at the encoder's sample rate.
        arithmetic: the checkpoint's event arithmetic (what `neuro-codec encode` computes).
    Returns:
        (connectivity read from the module, counts over T = ⌈samples / frame⌉ steps).
    """
    conn = Connectivity.from_encoder(encoder)
    return conn, count_events(conn, *encoder_rasters(encoder, audio, arithmetic))
