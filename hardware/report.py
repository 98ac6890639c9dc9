"""The per-second energy report: dataclasses, JSON, a Markdown table and a PNG.

Built from `hardware.counts` (what ran) and `hardware.energy_model` (what it would cost); written
by `python -m hardware.energy`. Every energy figure here is an estimate from published
per-operation numbers, labelled so, with its sources (docs/energy.md explains the model).

report.json: {"format": "neuro-codec-energy-report", "version": 1, "estimate": true, "note",
"energy_model", "constants", "seanet_lstm_layers", "checkpoints": {model_id: EnergyReport}}.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from hardware.counts import Connectivity, NetworkCounts
from hardware.energy_model import (
    CONSTANTS,
    EnergyModel,
    SEANetConfig,
    conventional_references,
    seanet_lstm_layers,
)
from neuro_codec.figures import pyplot, save_figure
from neuro_codec.fileio import atomic_path
from neuro_codec.model.presets import MODEL_KINDS

REPORT_FORMAT = "neuro-codec-energy-report"
REPORT_VERSION = 1
ESTIMATE_NOTE = ("Energy figures are estimates from published per-operation energies (Loihi: "
                 "Davies et al. 2018, Table 2; conventional MACs: Horowitz, ISSCC 2014), applied "
                 "to counts from the simulation. Lava's simulator has no energy model; nothing "
                 "here was measured on a chip.")
MODEL_ORDER = MODEL_KINDS   # FREE, SPARSE, μ-SPARSE, RVQ


@dataclass(frozen=True)
class LayerReport:
    """One LIF layer, per second of audio."""

    name: str
    units: int
    graded_inputs_per_second: float
    spikes_per_second: float
    firing_rate_hz: float                 # spikes per neuron per second
    synops_per_second: float              # synaptic operations into the layer
    neuron_updates_per_second: float
    active_neuron_updates_per_second: float
    inter_layer_spikes_per_second: float  # spike messages to other layers' cores
    energy_uj_per_second: float           # dynamic energy on the Loihi model (estimate)


@dataclass(frozen=True)
class EnergyReport:
    """Events, operations and estimated energy of one encoder, per second of audio."""

    model_id: str
    model: str                            # "free", "sparse", … ("random" for an untrained one)
    backend: str                          # what produced the rasters, e.g. "lava-loihi2sim"
    precision: str                        # Arithmetic value: "float" | "fixed"
    seconds_of_audio: float
    steps: int
    events_per_second: dict[str, float]   # {"z": …, "all_layers": …}
    graded_inputs_per_second: float       # non-zero input samples sent from the host
    synops_per_second: float
    neuron_updates_per_second: float
    power_proxy_mops_per_second: float    # N-DNS: (synaptic + neuron operations) / s / 1e6
    energy_uj_per_second: float           # Loihi model, static power included if enabled
    energy_breakdown_uj_per_second: dict[str, float]
    conventional_energy_uj_per_second: dict[str, float]
    conventional_macs_per_second: dict[str, float]
    conventional_over_loihi: dict[str, float | None]  # times the reference costs more
    layers: tuple[LayerReport, ...]
    simulation_wall_time_s: float
    realtime_factor: float | None         # seconds of audio per second of simulation
    estimate: bool = True

    def to_json(self) -> dict:
        d = asdict(self)
        d["layers"] = [asdict(layer) for layer in self.layers]
        return d


def build_report(model_id: str, model: str, counts: NetworkCounts, connectivity: Connectivity,
                 seconds_of_audio: float, frame_rate_hz: float, precision: str = "float",
                 backend: str = "lava-loihi2sim", wall_time_s: float = 0.0,
                 energy_model: EnergyModel | None = None) -> EnergyReport:
    """Turn a run's counts into per-second figures and energy estimates.

    Args:
        counts: counts summed over every clip of the run.
        connectivity: the network (for the dense conventional reference).
        seconds_of_audio: audio duration the counts cover (the divisor of every rate).
        frame_rate_hz: steps per second of the encoder (sample rate / hop).
    Raises:
        ValueError: a non-positive duration or frame rate.
    """
    if not seconds_of_audio > 0 or not frame_rate_hz > 0:
        raise ValueError(f"need seconds_of_audio > 0 and frame_rate_hz > 0, got "
                         f"{seconds_of_audio}, {frame_rate_hz}")
    s = float(seconds_of_audio)
    energy_model = energy_model or EnergyModel()
    energy = energy_model.loihi_energy(counts, s)
    refs = conventional_references(connectivity, frame_rate_hz, energy_model)
    loihi_uj = energy.total_pj * 1e-6 / s
    layers = tuple(LayerReport(
        name=c.name, units=c.units, graded_inputs_per_second=c.graded_inputs / s,
        spikes_per_second=c.spikes / s, firing_rate_hz=c.spikes / s / c.units,
        synops_per_second=c.synops / s, neuron_updates_per_second=c.neuron_updates / s,
        active_neuron_updates_per_second=c.active_updates / s,
        inter_layer_spikes_per_second=c.inter_layer_messages / s,
        energy_uj_per_second=energy.per_layer_pj[c.name] * 1e-6 / s,
    ) for c in counts.layers)
    conv_uj = {k: r.energy_uj_per_second for k, r in refs.items()}
    return EnergyReport(
        model_id=model_id, model=model, backend=backend, precision=precision,
        seconds_of_audio=s, steps=counts.steps,
        events_per_second={"z": counts.z_spikes / s, "all_layers": counts.spikes / s},
        graded_inputs_per_second=counts.graded_inputs / s,
        synops_per_second=counts.synops / s,
        neuron_updates_per_second=counts.neuron_updates / s,
        power_proxy_mops_per_second=(counts.synops + counts.neuron_updates) / s / 1e6,
        energy_uj_per_second=loihi_uj,
        energy_breakdown_uj_per_second={
            "synaptic_ops": energy.synops_pj * 1e-6 / s,
            "neuron_updates": energy.neuron_updates_pj * 1e-6 / s,
            "spike_messages": energy.spike_messages_pj * 1e-6 / s,
            "hops": energy.hops_pj * 1e-6 / s,
            "static": energy.static_pj * 1e-6 / s,
        },
        conventional_energy_uj_per_second=conv_uj,
        conventional_macs_per_second={k: r.macs_per_second for k, r in refs.items()},
        conventional_over_loihi={k: (v / loihi_uj if loihi_uj > 0 else None)
                                 for k, v in conv_uj.items()},
        layers=layers, simulation_wall_time_s=float(wall_time_s),
        realtime_factor=s / wall_time_s if wall_time_s > 0 else None,
    )


def ordered(reports: list[EnergyReport]) -> list[EnergyReport]:
    """FREE, SPARSE, μ-SPARSE, RVQ first (side by side), then the rest by model id."""
    def key(r):
        rank = MODEL_ORDER.index(r.model) if r.model in MODEL_ORDER else len(MODEL_ORDER)
        return rank, r.model_id
    return sorted(reports, key=key)


def reports_to_json(reports: list[EnergyReport], energy_model: EnergyModel | None = None,
                    seanet: SEANetConfig | None = None) -> dict:
    """The whole report.json object (see the module docstring)."""
    energy_model = energy_model or EnergyModel()
    seanet = seanet or SEANetConfig()
    return {
        "format": REPORT_FORMAT, "version": REPORT_VERSION, "estimate": True,
        "note": ESTIMATE_NOTE,
        "energy_model": asdict(energy_model),
        "constants": {k: asdict(c) for k, c in CONSTANTS.items()},
        "seanet_lstm_layers": [dict(asdict(layer), macs_per_second=layer.macs_per_second)
                               for layer in seanet_lstm_layers(seanet)],
        "checkpoints": {r.model_id: r.to_json() for r in ordered(reports)},
    }


def _fmt(x: float | None) -> str:
    if x is None:
        return "–"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 1:
        return f"{x:,.2f}"
    return f"{x:.3g}"


REFERENCE_LABELS = {
    "same_network_dense_fp32": "same network, dense, fp32",
    "same_network_dense_int8": "same network, dense, int8",
    "seanet_lstm_fp32": "SEANet + LSTM encoder, fp32",
    "seanet_lstm_int8": "SEANet + LSTM encoder, int8",
}
PLOT_LABELS = {
    "same_network_dense_fp32": "same net\ndense fp32",
    "same_network_dense_int8": "same net\ndense int8",
    "seanet_lstm_fp32": "SEANet+LSTM\nfp32",
    "seanet_lstm_int8": "SEANet+LSTM\nint8",
}


def markdown(reports: list[EnergyReport]) -> str:
    """A Markdown summary: one column per checkpoint, then a per-layer table for each."""
    reports = ordered(reports)
    head = "| per second of audio | " + " | ".join(
        f"{r.model.upper()} `{r.model_id}`" for r in reports) + " |"
    rule = "|---|" + "---:|" * len(reports)

    def row(label, values):
        return f"| {label} | " + " | ".join(_fmt(v) for v in values) + " |"

    lines = [
        "# Encoder events, operations and energy per second of audio (estimate)", "",
        ESTIMATE_NOTE, "",
        "Counts come from " + ", ".join(
            f"`{r.model_id}`: {r.backend} ({r.precision}) on {r.seconds_of_audio:.1f} s of audio"
            for r in reports) + ".", "",
        head, rule,
        row("events/s, z", [r.events_per_second["z"] for r in reports]),
        row("events/s, all layers", [r.events_per_second["all_layers"] for r in reports]),
        row("graded inputs/s (host → chip)", [r.graded_inputs_per_second for r in reports]),
        row("synaptic ops/s", [r.synops_per_second for r in reports]),
        row("neuron updates/s", [r.neuron_updates_per_second for r in reports]),
        row("**power proxy (M-ops/s)**", [r.power_proxy_mops_per_second for r in reports]),
        row("**energy, Loihi model (µJ/s)**", [r.energy_uj_per_second for r in reports]),
    ]
    for part in reports[0].energy_breakdown_uj_per_second:
        lines.append(row(f"· of which {part.replace('_', ' ')} (µJ/s)",
                         [r.energy_breakdown_uj_per_second[part] for r in reports]))
    for key, label in REFERENCE_LABELS.items():
        lines.append(row(f"{label} (µJ/s)",
                         [r.conventional_energy_uj_per_second[key] for r in reports]))
    for key, label in REFERENCE_LABELS.items():
        lines.append(row(f"{label} ÷ Loihi model (×)",
                         [r.conventional_over_loihi[key] for r in reports]))
    lines.append(row("simulation, × real time", [r.realtime_factor for r in reports]))
    for r in reports:
        lines += ["", f"### {r.model.upper()} `{r.model_id}`: per layer", "",
                  "| layer | units | spikes/s | rate (Hz) | graded in/s | synaptic ops/s | "
                  "neuron updates/s | active updates/s | µJ/s |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for layer in r.layers:
            lines.append(
                f"| {layer.name} | {layer.units} | {_fmt(layer.spikes_per_second)} | "
                f"{_fmt(layer.firing_rate_hz)} | {_fmt(layer.graded_inputs_per_second)} | "
                f"{_fmt(layer.synops_per_second)} | {_fmt(layer.neuron_updates_per_second)} | "
                f"{_fmt(layer.active_neuron_updates_per_second)} | "
                f"{_fmt(layer.energy_uj_per_second)} |")
    return "\n".join(lines) + "\n"


def plot_energy(reports: list[EnergyReport], axes=None):
    """Per-layer energy bars and the comparison with the conventional references, log scale.

    Args:
        reports: one per checkpoint.
        axes: two matplotlib axes, or None for a new figure.
    Returns:
        the matplotlib Figure.
    """
    import numpy as np

    reports = ordered(reports)
    if axes is None:
        fig, axes = pyplot().subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    else:
        fig = axes[0].figure
    ax = axes[0]
    names = [layer.name for layer in reports[0].layers]
    width = 0.8 / len(reports)
    x = np.arange(len(names))
    for k, r in enumerate(reports):
        values = [max(layer.energy_uj_per_second, 1e-6) for layer in r.layers]
        ax.bar(x + k * width - 0.4 + width / 2, values, width,
               label=f"{r.model.upper()} {r.model_id}")
    ax.set_xticks(x, names)
    ax.set_yscale("log")
    ax.set_ylabel("µJ per second of audio (estimate)")
    ax.set_title("Loihi model, per layer (synaptic ops + updates + spikes)")
    ax.legend(fontsize=8)

    ax = axes[1]
    labels = [f"{r.model.upper()}\nLoihi model" for r in reports]
    values = [r.energy_uj_per_second for r in reports]
    colours = ["tab:green"] * len(reports)
    for key, label in PLOT_LABELS.items():
        labels.append(label)
        values.append(reports[0].conventional_energy_uj_per_second[key])
        colours.append("tab:gray" if key.startswith("same") else "tab:red")
    ax.bar(np.arange(len(values)), values, color=colours)
    for i, v in enumerate(values):
        ax.text(i, v, _fmt(v), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(np.arange(len(values)), labels, fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("µJ per second of audio (estimate)")
    ax.set_title("Encoder energy: Loihi model vs conventional (Horowitz MACs)")
    return fig


def write_outputs(reports: list[EnergyReport], out_dir: str | os.PathLike,
                  energy_model: EnergyModel | None = None) -> dict[str, Path]:
    """Write report.json, report.md and energy.png into `out_dir`, each atomically."""
    out = Path(out_dir)
    paths = {"json": out / "report.json", "markdown": out / "report.md",
             "png": out / "energy.png"}
    with atomic_path(paths["json"]) as tmp:
        tmp.write_text(json.dumps(reports_to_json(reports, energy_model), indent=2,
                                  ensure_ascii=False) + "\n", encoding="utf-8")
    with atomic_path(paths["markdown"]) as tmp:
        tmp.write_text(markdown(reports), encoding="utf-8")
    save_figure(plot_energy(reports), paths["png"], dpi=120)
    return paths
