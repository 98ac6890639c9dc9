"""Lava processes built from the encoder's NIR graph: a source of graded frames, a Dense and a
LIF per layer (a recurrence is a Dense from a LIF back to itself) and a spike sink per layer.

Why hand-written: lava-nc 0.10.0 is the last Lava release, lava-dl's NIR import never covered
`nir.LIF`, and the only public NIR → Lava code (NIR's paper/nir_to_lava.py) maps one LIF neuron.
So the NIR file is read here (`parse_encoder_graph`) and mapped onto `lava.proc` processes:

    nir.Input + nir.Scale  →  io.source.RingBuffer [F, T + L] (the host applies the scale)
    nir.Affine / Linear    →  dense.Dense (weights W; graded for the input, binary after)
    nir.LIF                →  lif.LIF with du = 1, dv = 1 − β, vth = θ, bias = b
    LIF ⇄ Linear           →  Dense from the LIF's s_out back into its own a_in
    every LIF              →  SpikeRecorder (below): its spikes, 48 to a float64 word

Lava's float LIF is u ← u(1 − du) + a_in, v ← v(1 − dv) + u + bias, s = v > vth, v ← 0 on a
spike; with du = 1 and dv = 1 − β that is snnTorch's Leaky with zero reset, and 1 − (1 − β)
equals β exactly because β is on the 1/4096 grid. `LIF` declares du, dv and vth as one value per
population, but its models compute with numpy broadcasting and Lava's builder hands a Var's
value to the model unchanged, so per-neuron vectors run as given (the equality tests check it).

Timing. A Dense delivers at step t what it received at t − 1 (so that recurrent loops cannot
deadlock), hence layer i (0-based) sees frame k at Lava step k + i + 1 and its spikes for frame
k are sink column k + i + 1; a run takes T + L steps for T frames and L layers. A recurrence
LIF → Dense → LIF therefore reads s[t − 1], exactly the R s[t−1] of the encoder. During the
first i + 1 steps layer i has no input yet but would integrate its bias: the bias is set to 0
at build time and switched on (Var.set, between runs) after step i, so v is exactly 0 when the
first frame arrives (`bias_schedule`).

Arithmetic FIXED quantises with `neuro_codec.model.fixed_point` (weights 8-bit mantissa + exponent,
12-bit graded input, 12-bit decays, 17-bit thresholds, 13-bit biases; see that module) for
`Loihi2SimCfg(select_tag="fixed_pt")`; "float" runs the float64 models (`"floating_pt"`).
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass, field

# Importing Lava calls multiprocessing.set_start_method("fork") without force, which fails once
# anything has fixed the start method (even to "fork", e.g. by get_start_method()). Un-fix a
# "fork" so that Lava can set it again; any other method cannot run Lava's workers.
_START_METHOD = multiprocessing.get_start_method(allow_none=True)
if _START_METHOD == "fork":
    multiprocessing.set_start_method(None, force=True)
elif _START_METHOD is not None:
    raise ImportError(f"Lava needs the 'fork' multiprocessing start method; this process already "
                      f"uses {_START_METHOD!r}")

import nir  # noqa: E402
import numpy as np  # noqa: E402
from lava.magma.core.decorator import implements, requires, tag  # noqa: E402
from lava.magma.core.model.py.model import PyLoihiProcessModel  # noqa: E402
from lava.magma.core.model.py.ports import PyInPort  # noqa: E402
from lava.magma.core.model.py.type import LavaPyType  # noqa: E402
from lava.magma.core.process.ports.ports import InPort  # noqa: E402
from lava.magma.core.process.process import AbstractProcess  # noqa: E402
from lava.magma.core.process.variable import Var  # noqa: E402
from lava.magma.core.resources import CPU  # noqa: E402
from lava.magma.core.run_configs import Loihi2SimCfg  # noqa: E402
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol  # noqa: E402
from lava.proc.dense.process import Dense  # noqa: E402
from lava.proc.io.source import RingBuffer as FrameSource  # noqa: E402
from lava.proc.lif.process import LIF  # noqa: E402
from lava.utils.weightutils import SignMode  # noqa: E402

from conversion.nir_export import ConversionError, EncoderGraph, parse_encoder_graph  # noqa: E402
from neuro_codec.data.audio import frame_audio  # noqa: E402
from neuro_codec.model.arithmetic import Arithmetic  # noqa: E402
from neuro_codec.model.fixed_point import (  # noqa: E402
    DU_FULL,
    FixedPointNetwork,
    quantize_input,
    quantize_network,
)

# Lava's tag for the process models of each arithmetic.
SELECT_TAGS = {Arithmetic.FLOAT: "floating_pt", Arithmetic.FIXED: "fixed_pt"}
GRADED_MESSAGE_BITS = 24   # the input Dense takes graded payloads (> 0 selects weights·s_in)
WORD_BITS = 48             # spikes per recorded word: float64 holds integers < 2^53 exactly


class SpikeRecorder(AbstractProcess):
    """Sink of binary spikes into a ring buffer, packed WORD_BITS to a float64 word.

    Like `lava.proc.io.sink.RingBuffer`, but a Var read costs one runtime message per element
    (≈ 20 µs), so an unpacked [units, steps] buffer took longer to read than the run itself;
    packed, the 272 spikes of a full-size step are 7 elements.

    `data[w, (t − 1) % buffer]` holds bit b = spike of neuron w·WORD_BITS + b at 1-based step t.
    """

    def __init__(self, *, shape: tuple[int], buffer: int) -> None:
        super().__init__(shape=shape, buffer=buffer)
        n_words = -(-shape[0] // WORD_BITS)
        self.a_in = InPort(shape=shape)
        self.data = Var(shape=(n_words, buffer), init=np.zeros((n_words, buffer)))


def unpack_spikes(words: np.ndarray, n_units: int) -> np.ndarray:
    """[n_words, steps] recorded words → [n_units, steps] uint8 spikes."""
    w = np.asarray(words, dtype=np.float64).astype(np.uint64)
    bits = (w[:, None, :] >> np.arange(WORD_BITS, dtype=np.uint64)[None, :, None]) & 1
    return bits.reshape(-1, w.shape[-1])[:n_units].astype(np.uint8)


class _PySpikeRecorderModel(PyLoihiProcessModel):
    a_in = None
    data = None

    def run_spk(self) -> None:
        s = self.a_in.recv() > 0
        n_words, buffer = self.data.shape
        bits = np.zeros(n_words * WORD_BITS)
        bits[: s.size] = s
        powers = 2.0 ** np.arange(WORD_BITS)
        self.data[:, (self.time_step - 1) % buffer] = bits.reshape(n_words, WORD_BITS) @ powers


@implements(proc=SpikeRecorder, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySpikeRecorderFloat(_PySpikeRecorderModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    data: np.ndarray = LavaPyType(np.ndarray, float)


@implements(proc=SpikeRecorder, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySpikeRecorderFixed(_PySpikeRecorderModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32)
    data: np.ndarray = LavaPyType(np.ndarray, float)


@dataclass
class LavaEncoderGraph:
    """The Lava processes of one encoder run over `n_frames` frames (build with `build_lava_graph`).

    Run it with `hardware.simulate`: `n_steps` steps under `run_cfg()`, switching biases on as
    `bias_schedule` says, then `align` each sink's raw columns to frames.
    """

    arithmetic: Arithmetic
    spec: EncoderGraph
    n_frames: int
    inputs: np.ndarray                      # [F, T] what the source sends (float: x·scale;
    #                                         fixed: 12-bit integer payloads)
    source: FrameSource
    denses: dict[str, Dense]                # keyed by NIR node name (affine or rec)
    lifs: list[LIF]
    sinks: list[SpikeRecorder]
    biases: list[np.ndarray]                # per layer, the bias_mant to switch on
    buffer_steps: int = 256
    fixed: FixedPointNetwork | None = None
    processes: list[AbstractProcess] = field(default_factory=list)

    @property
    def layer_names(self) -> list[str]:
        return self.spec.layer_names

    @property
    def latency_steps(self) -> int:
        """L, the number of layers: one Dense delay per layer on the way to z, so T + L steps."""
        return len(self.lifs)

    @property
    def n_steps(self) -> int:
        return self.n_frames + self.latency_steps

    def run_cfg(self) -> Loihi2SimCfg:
        # The recorders' models are named explicitly: Lava's model search would otherwise
        # execute every module file in this package under a bare name to look for models.
        model = (PySpikeRecorderFixed if self.arithmetic is Arithmetic.FIXED
                 else PySpikeRecorderFloat)
        return Loihi2SimCfg(select_tag=SELECT_TAGS[self.arithmetic],
                            exception_proc_model_map={sink: model for sink in self.sinks})

    def bias_schedule(self) -> list[tuple[int, LIF, np.ndarray]]:
        """(steps run before the set, LIF, bias_mant): layer i's bias goes on after step i."""
        return [(i + 1, lif, b) for i, (lif, b) in enumerate(zip(self.lifs, self.biases))]

    def align(self, layer: int, raw: np.ndarray) -> np.ndarray:
        """[h, n_steps] raw spikes of `layer` per step → [h, T] uint8 spikes per frame."""
        return np.ascontiguousarray(raw[:, layer + 1: layer + 1 + self.n_frames], dtype=np.uint8)


def frames_of(audio: np.ndarray, frame_samples: int) -> np.ndarray:
    """[samples] waveform → [F, T] float64 frames, one column per Lava step: the encoder's
    `frame_audio` framing (T = ⌈samples / F⌉, at least 1, zero-padded tail), transposed."""
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    return np.ascontiguousarray(frame_audio(x, frame_samples).T)


def build_lava_graph(graph: nir.NIRGraph | EncoderGraph, frames: np.ndarray,
                     arithmetic: Arithmetic | str = Arithmetic.FLOAT,
                     buffer_steps: int = 256) -> LavaEncoderGraph:
    """Build the Lava processes of the encoder graph for `frames`.

    Args:
        graph: the NIR graph (or its parsed form).
        frames: [F, T] waveform frames (samples in [−1, 1], before the input gain).
        arithmetic: FLOAT (Lava's floating_pt models) or FIXED (Loihi fixed point); its
            value ("float", "fixed") is accepted too.
        buffer_steps: columns each sink keeps (read them at least that often).
    Returns:
        the processes, not yet run.
    Raises:
        ConversionError: the graph has a node the mapping cannot run, or frames do not fit it.
        ValueError: an unknown arithmetic, or parameters fixed point cannot represent.
    """
    arithmetic = Arithmetic(arithmetic)
    spec = graph if isinstance(graph, EncoderGraph) else parse_encoder_graph(graph)
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim != 2 or frames.shape[0] != spec.frame_samples or frames.shape[1] < 1:
        raise ConversionError(f"frames must be [{spec.frame_samples}, T ≥ 1], got "
                              f"{list(frames.shape)}")
    n_layers = len(spec.layers)
    fixed = (quantize_network(spec.input_scale, spec.layers)
             if arithmetic is Arithmetic.FIXED else None)
    if fixed is None:
        inputs = frames * spec.input_scale[:, None]
        data = np.pad(inputs, ((0, 0), (0, n_layers)))
    else:
        inputs = quantize_input(frames)
        data = np.pad(inputs, ((0, 0), (0, n_layers))).astype(np.int32)
    source = FrameSource(data=data)
    denses: dict[str, Dense] = {}
    lifs: list[LIF] = []
    sinks: list[SpikeRecorder] = []
    biases: list[np.ndarray] = []
    prev_out = source.s_out
    for i, layer in enumerate(spec.layers):
        h = layer.size
        graded = i == 0
        if fixed is None:
            w, w_exp = layer.weight, 0
            lif = LIF(shape=(h,), du=1.0, dv=1.0 - layer.beta, vth=layer.threshold.copy(),
                      bias_mant=np.zeros(h), name=layer.name)
            biases.append(layer.bias.copy())
        else:
            q = fixed.layers[i]
            w, w_exp = q.weight, q.weight_exp
            lif = LIF(shape=(h,), du=DU_FULL, dv=q.dv.copy(), vth=q.vth.copy(),
                      bias_mant=np.zeros(h, dtype=np.int64), bias_exp=q.bias_exp.copy(),
                      name=layer.name)
            biases.append(q.bias_mant.copy())
        ff = _dense(w, w_exp, layer.affine, graded)
        prev_out.connect(ff.s_in)
        ff.a_out.connect(lif.a_in)          # connected first: a_in sums ff, then rec
        denses[layer.affine] = ff
        if layer.rec_weight is not None:
            if fixed is None:
                r, r_exp = layer.rec_weight, 0
            else:
                r, r_exp = fixed.layers[i].rec_weight, fixed.layers[i].rec_weight_exp
            rec = _dense(r, r_exp, layer.rec, graded=False)
            lif.s_out.connect(rec.s_in)
            rec.a_out.connect(lif.a_in)
            denses[layer.rec] = rec
        sink = SpikeRecorder(shape=(h,), buffer=buffer_steps)
        lif.s_out.connect(sink.a_in)
        lifs.append(lif)
        sinks.append(sink)
        prev_out = lif.s_out
    processes: list[AbstractProcess] = [source, *denses.values(), *lifs, *sinks]
    return LavaEncoderGraph(arithmetic=arithmetic, spec=spec, n_frames=frames.shape[1],
                            inputs=inputs, source=source, denses=denses, lifs=lifs, sinks=sinks,
                            biases=biases, buffer_steps=buffer_steps, fixed=fixed,
                            processes=processes)


def _dense(weights: np.ndarray, weight_exp: int, name: str | None, graded: bool) -> Dense:
    # Fixed point: weights are the even 9-bit values 2m of an 8-bit mantissa; MIXED sign mode
    # with 8 weight bits makes Lava's clip and truncation leave them unchanged.
    return Dense(weights=np.array(weights, copy=True), name=name,
                 num_message_bits=GRADED_MESSAGE_BITS if graded else 0,
                 weight_exp=int(weight_exp), num_weight_bits=8, sign_mode=SignMode.MIXED)
