"""Run the encoder's Lava graph over an audio file in Loihi 2's simulation (`Loihi2SimCfg`).

`simulate_audio` builds the processes from the NIR graph (`conversion.lava_graph`), runs them in
chunks of steps (so that progress advances and the sinks are read while they hold the chunk),
switches each layer's bias on when its first frame arrives, aligns the layers' latencies away
and always stops the runtime, also on an error or Ctrl-C. `python -m hardware.simulate` writes
z as an (N, T) uint8 array, the same array `neuro-codec encode` stores for the file: it runs in
the checkpoint's own arithmetic (`Checkpoint.arithmetic`; for `--nir`, the graph's "arithmetic"
metadata, float when absent) unless `--precision` overrides it.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nir
import numpy as np
from lava.magma.core.run_conditions import RunSteps
from tqdm import tqdm

from conversion.lava_graph import (
    LavaEncoderGraph,
    build_lava_graph,
    frames_of,
    unpack_spikes,
)
from conversion.nir_export import ConversionError, encoder_to_nir, parse_encoder_graph, read_graph
from neuro_codec.data.audio import SAMPLE_RATE_HZ, load_audio
from neuro_codec.errors import CheckpointError, run_command, writing
from neuro_codec.fileio import atomic_path
from neuro_codec.model.arithmetic import Arithmetic
from neuro_codec.model.checkpoint import load_encoder

DEFAULT_CHUNK_STEPS = 256


@dataclass
class SimulationResult:
    """What one Lava run of the encoder produced, aligned to frames."""

    z: np.ndarray              # uint8 [N, T]
    layers: list[np.ndarray]   # uint8 [units_i, T] per LIF layer in graph order; layers[-1] is z
    layer_names: list[str]     # the NIR node names of those LIF layers
    inputs: np.ndarray         # float [frame_samples, T]: the graded input frames Lava received
    #                            (float: samples × input gain; fixed: 12-bit integer payloads)
    n_audio_samples: int
    sample_rate_hz: int
    arithmetic: Arithmetic
    wall_time_s: float         # build + compile + run + readout

    @property
    def n_frames(self) -> int:
        return int(self.z.shape[1])

    @property
    def realtime_factor(self) -> float:
        """Seconds of audio simulated per second of wall time."""
        return self.n_audio_samples / self.sample_rate_hz / max(self.wall_time_s, 1e-9)


@contextlib.contextmanager
def _workers_ignore_sigint(first: bool):
    """Around the run that forks Lava's workers: they inherit a SIGINT handler that only notes.

    A terminal's Ctrl-C reaches the whole process group; a worker that died of it would leave
    the runtime waiting for it forever. With this handler inherited, only this process reacts
    (KeyboardInterrupt, raised once the forking run is back) and `stop()` ends the workers.
    """
    if not first or threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def run_lava_graph(lg: LavaEncoderGraph, progress: bool = False,
                   desc: str = "lava") -> list[np.ndarray]:
    """Run a built graph to the end and return each layer's spikes aligned to frames.

    Args:
        lg: processes from `build_lava_graph` (run once; a graph cannot be rerun).
        progress: show a tqdm bar over simulation steps.
    Returns:
        per layer, uint8 [h_i, T].
    """
    anchor = lg.lifs[0]
    raw = [np.zeros((sink.a_in.shape[0], lg.n_steps), dtype=np.uint8) for sink in lg.sinks]
    schedule = {steps: [] for steps, _, _ in lg.bias_schedule()}
    for steps, lif, bias in lg.bias_schedule():
        schedule[steps].append((lif, bias))
    # Run boundaries: every bias switch, then chunks no longer than the sinks' ring buffers.
    stops = sorted(set(schedule) | set(range(0, lg.n_steps, lg.buffer_steps)) | {lg.n_steps})
    stops = [s for s in stops if 0 < s <= lg.n_steps]
    cfg = lg.run_cfg()
    done = 0
    bar = tqdm(total=lg.n_steps, desc=desc, unit="step", disable=not progress)
    try:
        for stop in stops:
            with _workers_ignore_sigint(first=done == 0):
                anchor.run(condition=RunSteps(num_steps=stop - done), run_cfg=cfg)
            for sink, buf in zip(lg.sinks, raw):
                # Column (step − 1) % buffer holds 1-based step `step`: read once per chunk,
                # since every Var read is one message per element.
                cols = np.arange(done, stop)
                words = sink.data.get()[:, cols % lg.buffer_steps]
                buf[:, cols] = unpack_spikes(words, buf.shape[0])
            for lif, bias in schedule.get(stop, []):
                lif.bias_mant.set(bias)
            bar.update(stop - done)
            done = stop
    finally:
        bar.close()
        anchor.stop()
    return [lg.align(i, r) for i, r in enumerate(raw)]


def simulate_audio(graph: nir.NIRGraph, audio: np.ndarray,
                   arithmetic: Arithmetic | str = Arithmetic.FLOAT,
                   progress: bool = False) -> SimulationResult:
    """Run the encoder graph over a whole waveform in Lava's Loihi 2 simulation.

    Args:
        graph: the encoder's NIR graph (`conversion.nir_export`).
        audio: [samples] mono waveform at 22,050 Hz in [−1, 1].
        arithmetic: FLOAT (floating_pt models) or FIXED (Loihi fixed point), or its value.
        progress: tqdm bar over steps.
    Returns:
        the aligned rasters, T = ⌈samples / frame_samples⌉.
    Raises:
        ConversionError: a graph the Lava mapping cannot run.
        ValueError: unknown arithmetic or empty audio.
    """
    arithmetic = Arithmetic(arithmetic)
    audio = np.asarray(audio).reshape(-1)
    if audio.size == 0:
        raise ValueError("audio holds no samples")
    t0 = time.perf_counter()
    spec = parse_encoder_graph(graph)
    frames = frames_of(audio, spec.frame_samples)
    lg = build_lava_graph(spec, frames, arithmetic, buffer_steps=DEFAULT_CHUNK_STEPS)
    layers = run_lava_graph(lg, progress=progress, desc=f"lava {arithmetic.value}")
    return SimulationResult(
        z=layers[-1], layers=layers, layer_names=list(spec.layer_names),
        inputs=np.asarray(lg.inputs, dtype=np.float64), n_audio_samples=int(audio.size),
        sample_rate_hz=SAMPLE_RATE_HZ, arithmetic=arithmetic,
        wall_time_s=time.perf_counter() - t0,
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m hardware.simulate",
        description="Run the spiking encoder in Lava's Loihi 2 simulation over an audio file "
                    "and write its events z as an (N, T) uint8 .npy array.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path, help="checkpoint holding the encoder")
    src.add_argument("--nir", type=Path, help="the encoder as a NIR graph (conversion.export)")
    p.add_argument("audio", type=Path, help="input audio file (resampled to 22,050 Hz mono)")
    p.add_argument("--precision", choices=[a.value for a in Arithmetic], default=None,
                   help="override the arithmetic: float (floating_pt models) or fixed (Loihi "
                        "fixed point) (default: the checkpoint's own, as `neuro-codec encode`; "
                        "for --nir, the graph's 'arithmetic' metadata, float if it has none)")
    p.add_argument("--events-out", type=Path, required=True,
                   help="where to write z as an (N, T) uint8 .npy array")
    p.add_argument("--snc", type=Path, default=None,
                   help="also write z as a .snc bitstream (smallest format)")
    p.add_argument("--hidden-out", type=Path, default=None,
                   help="also write every layer's spikes to an .npz (keys: NIR layer names)")
    p.add_argument("--mu", type=int, default=None, help="mu-sparse checkpoint: the "
                   "compression level to run (default: the middle level)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_command(lambda: _simulate(args))


def _text(value) -> str:
    """A metadata string as NIR's HDF5 reader returns it (bytes or numpy scalars too)."""
    if isinstance(value, bytes):
        return value.decode("utf8")
    return str(value.item() if isinstance(value, np.generic) else value)


def graph_arithmetic(graph: nir.NIRGraph, source: str = "graph") -> Arithmetic:
    """The arithmetic a NIR graph's metadata records (`conversion.export` writes it); FLOAT for
    a graph without it (one exported by other tools, or before the field existed).

    Raises:
        ConversionError: a value other than "float" or "fixed".
    """
    value = (graph.metadata or {}).get("arithmetic")
    if value is None:
        return Arithmetic.FLOAT
    try:
        return Arithmetic(_text(value))
    except ValueError:
        raise ConversionError(f"{source}: unknown arithmetic {_text(value)!r} in the metadata "
                              f"(expected 'float' or 'fixed')") from None


def _simulate(args) -> int:
    model_id, mu = "", args.mu
    if args.checkpoint is not None:
        loaded = load_encoder(args.checkpoint, args.mu)
        model_id, mu = loaded.model_id, loaded.mu
        graph = encoder_to_nir(loaded.encoder, model_id=model_id)
        own, origin = loaded.arithmetic, "the checkpoint's"
    else:
        graph = read_graph(args.nir)
        meta = graph.metadata or {}
        model_id = _text(meta.get("model_id", ""))
        if "mu" in meta:
            if args.mu is not None and int(args.mu) != int(meta["mu"]):
                raise CheckpointError(f"{args.nir} was exported at μ {int(meta['mu'])}, not "
                                      f"{args.mu}")
            mu = int(meta["mu"])
        own = graph_arithmetic(graph, str(args.nir))
        origin = "the graph's" if "arithmetic" in meta else "the default: the graph names none"
    arithmetic = Arithmetic(args.precision) if args.precision is not None else own
    if args.precision is not None:
        origin = "--precision"
    audio = load_audio(args.audio)
    result = simulate_audio(graph, audio, arithmetic=arithmetic, progress=not args.quiet)
    with writing(args.events_out), atomic_path(args.events_out, suffix=".npy") as tmp:
        np.save(tmp, result.z, allow_pickle=False)
    if args.hidden_out is not None:
        with writing(args.hidden_out), atomic_path(args.hidden_out, suffix=".npz") as tmp:
            np.savez_compressed(tmp, **dict(zip(result.layer_names, result.layers)))
    if args.snc is not None:
        from neuro_codec.coding.bitstream import write_snc

        with writing(args.snc):
            write_snc(args.snc, result.z, sample_rate_hz=result.sample_rate_hz,
                      hop_samples=result.inputs.shape[0],
                      n_audio_samples=result.n_audio_samples, model_id=model_id, mu=mu)
    rate = result.z.sum() / (result.n_audio_samples / result.sample_rate_hz)
    if not args.quiet:
        print(f"{args.events_out}: z {result.z.shape[0]}×{result.z.shape[1]}, "
              f"{int(result.z.sum())} events ({rate:.1f}/s), {arithmetic.value} ({origin}), "
              f"{result.realtime_factor:.1f}× real time", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
