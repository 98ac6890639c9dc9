"""`python -m conversion.export`: a checkpoint's spiking encoder → NIR graph file (HDF5).

Writes with `nir.write` to a temporary file, reads it back with `nir.read`, refuses to keep it
unless every field of every node equals the exported graph, then renames it into place. The
graph's metadata records the model id, the event arithmetic the checkpoint was trained for
("arithmetic": "float" | "fixed", which `hardware.simulate --nir` runs by default) and, for
μ-SPARSE, the level ("mu").
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nir

from conversion.nir_export import (
    ConversionError,
    encoder_to_nir,
    graph_differences,
    parse_encoder_graph,
)
from neuro_codec.errors import run_command, writing
from neuro_codec.fileio import atomic_path
from neuro_codec.model.checkpoint import load_encoder


def export_checkpoint(checkpoint: str | os.PathLike, out: str | os.PathLike,
                      mu: int | None = None) -> nir.NIRGraph:
    """Export a checkpoint's encoder to `out` and verify the file; returns the graph read back.

    A μ-SPARSE encoder is exported at one level `mu` (default its middle level): the level's
    embeddings are constant currents, folded into the Affine biases, and the level is
    recorded in the graph's metadata (`mu`). The checkpoint's arithmetic
    (`Checkpoint.arithmetic`) is recorded as `arithmetic`.

    Raises:
        CheckpointError: the checkpoint is missing or does not hold an encoder.
        ConversionError: the encoder cannot be expressed, or the file does not read back equal.
        OutputError: `out` cannot be written.
    """
    loaded = load_encoder(checkpoint, mu)
    graph = encoder_to_nir(loaded.encoder, model_id=loaded.model_id)
    graph.metadata["arithmetic"] = loaded.arithmetic.value
    if loaded.mu is not None:
        graph.metadata["mu"] = loaded.mu
    with writing(out), atomic_path(out, suffix=".nir") as tmp:
        nir.write(tmp, graph)
        back = nir.read(tmp)
        diffs = graph_differences(graph, back)
        if diffs:
            raise ConversionError(f"the written NIR file does not read back equal: {diffs[0]}")
        parse_encoder_graph(back)    # the Lava mapping can run what was written
    return back


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m conversion.export",
        description="Export a checkpoint's spiking encoder as a NIR graph (HDF5), checked by "
                    "reading it back.")
    p.add_argument("--checkpoint", type=Path, required=True,
                   help="checkpoint holding the encoder (neuro-codec .pt)")
    p.add_argument("output", type=Path, nargs="?", default=Path("encoder.nir"),
                   metavar="OUT.nir", help="NIR file to write (default: encoder.nir)")
    p.add_argument("--mu", type=int, default=None, help="mu-sparse: the compression level "
                   "to export (default: the middle level)")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_command(lambda: _export(args))


def _export(args) -> int:
    graph = export_checkpoint(args.checkpoint, args.output, args.mu)
    if not args.quiet:
        spec = parse_encoder_graph(graph)
        sizes = "-".join(str(layer.size) for layer in spec.layers)
        meta = graph.metadata
        print(f"{args.output}: {len(graph.nodes)} nodes, LIF layers {sizes}, "
              f"model {meta.get('model_id', '')}, {meta['arithmetic']} arithmetic"
              + (f", μ {meta['mu']}" if "mu" in meta else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
