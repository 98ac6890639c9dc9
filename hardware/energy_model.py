"""Energy per second of audio from operation counts: the Loihi model and conventional references.

`CONSTANTS` is the one table of published per-operation figures, each with its source.
`EnergyModel` prices `hardware.counts.NetworkCounts` on Loihi; `conventional_references` counts
the MACs of (a) the same network run densely and (b) the paper's SEANet + LSTM encoder and
prices them with Horowitz's 45 nm figures. Every figure is an estimate, not a measurement.

Loihi (per run of T steps, counts from `hardware.counts`):

    E = synops · E_syn
      + active_updates · E_upd,active + (neuron_updates − active_updates) · E_upd,inactive
      + (local + inter-layer spike messages) · E_spike,tile + inter-layer messages · hops · E_hop
      + P_static · cores · seconds                                      (optional, off by default)

Conventional (MACs per second of audio; a multiply-accumulate = one multiply + one add):

    E = MACs · E_MAC,   E_MAC(fp32) = 3.7 + 0.9 = 4.6 pJ,   E_MAC(int8) = 0.2 + 0.03 = 0.23 pJ
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from hardware.counts import Connectivity, NetworkCounts
from neuro_codec.data.audio import SAMPLE_RATE_HZ

DAVIES_2018 = ("Davies et al., 'Loihi: A Neuromorphic Manycore Processor with On-Chip Learning', "
               "IEEE Micro 38(1), 2018, Table 2 (pre-silicon SDF/SPICE figures at 0.75 V)")
HOROWITZ_2014 = ("Horowitz, 'Computing's energy problem (and what we can do about it)', "
                 "ISSCC 2014, 45 nm at 0.9 V")
FRADY_2020 = ("Frady et al., 'Neuromorphic Nearest-Neighbor Search Using Intel's Pohoiki "
              "Springs', arXiv:2004.12691, 2020 (static power of a Loihi board, §5.2/Table 1)")


@dataclass(frozen=True)
class Constant:
    """A published per-operation figure: value, unit, where it comes from, what it covers."""

    value: float
    unit: str
    source: str
    note: str = ""


CONSTANTS: dict[str, Constant] = {
    "loihi_synop_pj": Constant(
        23.6, "pJ", DAVIES_2018,
        "'Energy per synaptic spike op (min)': a lower bound, without learning"),
    "loihi_neuron_update_active_pj": Constant(
        81.0, "pJ", DAVIES_2018,
        "'Energy per neuron update (active / inactive)': the active figure"),
    "loihi_neuron_update_inactive_pj": Constant(
        52.0, "pJ", DAVIES_2018, "the inactive figure: a neuron that only decays in that step"),
    "loihi_spike_within_tile_pj": Constant(
        1.7, "pJ", DAVIES_2018, "'Within-tile spike energy': one spike message inside a tile"),
    "loihi_hop_east_west_pj": Constant(3.0, "pJ", DAVIES_2018, "'Energy per tile hop (E-W)'"),
    "loihi_hop_north_south_pj": Constant(4.0, "pJ", DAVIES_2018, "'Energy per tile hop (N-S)'"),
    "loihi_static_power_per_core_mw": Constant(
        0.8, "mW", FRADY_2020,
        "derived: ≈ 0.1 W of leakage per chip spread over its 128 neuromorphic cores; order of "
        "magnitude only (read through a secondary summary, not checked against the table)"),
    "horowitz_fp32_mult_pj": Constant(3.7, "pJ", HOROWITZ_2014, "32-bit float multiply"),
    "horowitz_fp32_add_pj": Constant(0.9, "pJ", HOROWITZ_2014, "32-bit float add"),
    "horowitz_int8_mult_pj": Constant(0.2, "pJ", HOROWITZ_2014, "8-bit integer multiply"),
    "horowitz_int8_add_pj": Constant(0.03, "pJ", HOROWITZ_2014, "8-bit integer add"),
}

# Rounded to the figures' own precision, so that 3.7 + 0.9 is 4.6 and not 4.6000000000000005.
FP32_MAC_PJ = round(CONSTANTS["horowitz_fp32_mult_pj"].value
                    + CONSTANTS["horowitz_fp32_add_pj"].value, 6)
INT8_MAC_PJ = round(CONSTANTS["horowitz_int8_mult_pj"].value
                    + CONSTANTS["horowitz_int8_add_pj"].value, 6)
MEAN_HOP_PJ = 0.5 * (CONSTANTS["loihi_hop_east_west_pj"].value
                     + CONSTANTS["loihi_hop_north_south_pj"].value)


@dataclass(frozen=True)
class EnergyBreakdown:
    """Energy of one run on the Loihi model, by component, in pJ (an estimate)."""

    synops_pj: float
    neuron_updates_pj: float
    spike_messages_pj: float
    hops_pj: float
    static_pj: float
    per_layer_pj: dict[str, float] = field(default_factory=dict)  # dynamic energy per layer

    @property
    def dynamic_pj(self) -> float:
        return self.synops_pj + self.neuron_updates_pj + self.spike_messages_pj + self.hops_pj

    @property
    def total_pj(self) -> float:
        return self.dynamic_pj + self.static_pj


@dataclass(frozen=True)
class EnergyModel:
    """Per-operation energies of the Loihi model and of the conventional references.

    Fields (defaults from CONSTANTS):
        synop_pj: one synaptic operation (a spike or graded event reaching one synapse).
        neuron_update_active_pj: one neuron update with synaptic input or a spike.
        neuron_update_inactive_pj: one neuron update that only decays.
        spike_message_pj: one spike message delivered within a tile.
        hop_pj: one tile hop (mean of the E-W and N-S figures).
        hops_per_inter_layer_spike: assumed hops of a spike to another layer's core (each layer
            on its own core, neighbouring cores one hop apart).
        static_power_per_core_mw: leakage per neuromorphic core; 0 leaves static power out.
        cores: cores the network occupies for static power (None: one per layer).
        fp32_mac_pj, int8_mac_pj: one multiply-accumulate on the conventional side.
    """

    synop_pj: float = CONSTANTS["loihi_synop_pj"].value
    neuron_update_active_pj: float = CONSTANTS["loihi_neuron_update_active_pj"].value
    neuron_update_inactive_pj: float = CONSTANTS["loihi_neuron_update_inactive_pj"].value
    spike_message_pj: float = CONSTANTS["loihi_spike_within_tile_pj"].value
    hop_pj: float = MEAN_HOP_PJ
    hops_per_inter_layer_spike: float = 1.0
    static_power_per_core_mw: float = 0.0
    cores: int | None = None
    fp32_mac_pj: float = FP32_MAC_PJ
    int8_mac_pj: float = INT8_MAC_PJ

    def __post_init__(self):
        for name, value in asdict(self).items():
            if value is not None and (not math.isfinite(value) or value < 0):
                raise ValueError(f"EnergyModel.{name} must be a finite number ≥ 0, got {value}")
        if self.cores is not None and self.cores < 1:
            raise ValueError(f"EnergyModel.cores must be ≥ 1 or None, got {self.cores}")

    @classmethod
    def with_static_power(cls, cores: int | None = None, **kw) -> EnergyModel:
        """The default model plus static power at the per-core figure of CONSTANTS."""
        return cls(static_power_per_core_mw=CONSTANTS["loihi_static_power_per_core_mw"].value,
                   cores=cores, **kw)

    def loihi_energy(self, counts: NetworkCounts, seconds: float) -> EnergyBreakdown:
        """Price a run's counts.

        Args:
            counts: the run's per-layer counts.
            seconds: its duration (only static power uses it).
        Returns:
            EnergyBreakdown in pJ.
        """
        per_layer = {}
        syn = upd = msg = hop = 0.0
        for layer in counts.layers:
            s = layer.synops * self.synop_pj
            u = (layer.active_updates * self.neuron_update_active_pj
                 + layer.inactive_updates * self.neuron_update_inactive_pj)
            m = (layer.local_messages + layer.inter_layer_messages) * self.spike_message_pj
            h = layer.inter_layer_messages * self.hops_per_inter_layer_spike * self.hop_pj
            per_layer[layer.name] = s + u + m + h
            syn, upd, msg, hop = syn + s, upd + u, msg + m, hop + h
        cores = self.cores if self.cores is not None else len(counts.layers)
        static = self.static_power_per_core_mw * cores * seconds * 1e9   # mW·s → pJ
        return EnergyBreakdown(syn, upd, msg, hop, static, per_layer)

    def mac_pj(self, precision: str) -> float:
        if precision == "fp32":
            return self.fp32_mac_pj
        if precision == "int8":
            return self.int8_mac_pj
        raise ValueError(f"MAC precision must be 'fp32' or 'int8', got {precision!r}")


# ---------------------------------------------------------------------- conventional MACs


@dataclass(frozen=True)
class MacLayer:
    """One layer of a conventional network: MACs per output step and output steps per second."""

    name: str
    shape: str                 # human-readable: channels, kernel, stride
    macs_per_step: int         # per output time step (all output channels)
    steps_per_second: float    # output time steps per second of audio

    @property
    def macs_per_second(self) -> float:
        return self.macs_per_step * self.steps_per_second


def dense_network_layers(connectivity: Connectivity, frame_rate_hz: float) -> list[MacLayer]:
    """The spiking network run as a dense network: every weight used every step."""
    return [MacLayer(f"{p.source}→{p.target}" + (" (rec)" if p.recurrent else ""),
                     f"{p.mask.shape[1]}→{p.mask.shape[0]}", p.n_weights, frame_rate_hz)
            for p in connectivity.projections]


@dataclass(frozen=True)
class SEANetConfig:
    """Encodec's `SEANetEncoder` shape, with the paper's ratios (hop 512 at 22,050 Hz).

    Fields follow `encodec.modules.seanet.SEANetEncoder`; `ratios` are applied reversed, as
    strides 2, 4, 8, 8. `true_skip=False` (Encodec's default) makes each residual shortcut a
    1×1 convolution; True makes it an identity.
    """

    channels: int = 1
    dimension: int = 128
    n_filters: int = 32
    n_residual_layers: int = 1
    ratios: tuple[int, ...] = (8, 8, 4, 2)
    kernel_size: int = 7
    last_kernel_size: int = 7
    residual_kernel_size: int = 3
    compress: int = 2
    lstm_layers: int = 2
    true_skip: bool = False
    sample_rate_hz: int = SAMPLE_RATE_HZ


def seanet_lstm_layers(cfg: SEANetConfig = SEANetConfig()) -> list[MacLayer]:
    """Per-layer MACs of the SEANet + LSTM encoder.

    conv: MACs per output step = C_out · C_in · k (dilation does not change it);
    LSTM layer: 4 · (in · h + h · h) per step (four gates; biases and nonlinearities not counted).
    """
    rate = float(cfg.sample_rate_hz)
    layers = [MacLayer("conv_in", f"{cfg.channels}→{cfg.n_filters}, k{cfg.kernel_size}",
                       cfg.channels * cfg.n_filters * cfg.kernel_size, rate)]
    dim = cfg.n_filters
    for i, ratio in enumerate(reversed(cfg.ratios)):
        for j in range(cfg.n_residual_layers):
            hidden = dim // cfg.compress
            k = cfg.residual_kernel_size
            tag = f"stage{i + 1}.res{j + 1}"
            layers += [
                MacLayer(f"{tag}.conv_k{k}", f"{dim}→{hidden}, k{k}", dim * hidden * k, rate),
                MacLayer(f"{tag}.conv_k1", f"{hidden}→{dim}, k1", hidden * dim, rate),
            ]
            if not cfg.true_skip:
                layers.append(MacLayer(f"{tag}.shortcut", f"{dim}→{dim}, k1", dim * dim, rate))
        rate /= ratio
        layers.append(MacLayer(f"stage{i + 1}.down", f"{dim}→{2 * dim}, k{2 * ratio}, /{ratio}",
                               dim * 2 * dim * 2 * ratio, rate))
        dim *= 2
    for j in range(cfg.lstm_layers):
        layers.append(MacLayer(f"lstm{j + 1}", f"{dim}→{dim}", 4 * (dim * dim + dim * dim), rate))
    layers.append(MacLayer("conv_out", f"{dim}→{cfg.dimension}, k{cfg.last_kernel_size}",
                           dim * cfg.dimension * cfg.last_kernel_size, rate))
    return layers


@dataclass(frozen=True)
class ConventionalReference:
    """A conventional network priced with Horowitz's MAC energy (an estimate)."""

    name: str
    description: str
    precision: str             # "fp32" | "int8"
    macs_per_second: float
    pj_per_mac: float

    @property
    def energy_uj_per_second(self) -> float:
        return self.macs_per_second * self.pj_per_mac * 1e-6


def conventional_references(
    connectivity: Connectivity, frame_rate_hz: float, model: EnergyModel = EnergyModel(),
    seanet: SEANetConfig = SEANetConfig(),
) -> dict[str, ConventionalReference]:
    """The two references at fp32 and int8: the same network run densely, and SEANet + LSTM."""
    dense = sum(layer.macs_per_second
                for layer in dense_network_layers(connectivity, frame_rate_hz))
    sea = sum(layer.macs_per_second for layer in seanet_lstm_layers(seanet))
    refs = {}
    for precision in ("fp32", "int8"):
        refs[f"same_network_dense_{precision}"] = ConventionalReference(
            f"same_network_dense_{precision}",
            f"this spiking network's weights as a dense network, every weight every step, "
            f"{precision}", precision, dense, model.mac_pj(precision))
        refs[f"seanet_lstm_{precision}"] = ConventionalReference(
            f"seanet_lstm_{precision}",
            f"the paper's SEANet + 2-layer LSTM encoder (Encodec defaults, ratios "
            f"{list(seanet.ratios)}), {precision}", precision, sea, model.mac_pj(precision))
    return refs
