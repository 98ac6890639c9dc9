"""Spiking encoder -> NIR graph -> Lava processes.

`conversion.nir_export` (no Lava needed) is re-exported here; `conversion.lava_graph` imports
Lava, so import it explicitly where a Lava run is wanted.
"""

from conversion.nir_export import (
    ConversionError,
    EncoderGraph,
    LayerSpec,
    encoder_to_nir,
    graph_differences,
    parse_encoder_graph,
    read_graph,
    write_graph,
)

__all__ = [
    "ConversionError",
    "EncoderGraph",
    "LayerSpec",
    "encoder_to_nir",
    "graph_differences",
    "parse_encoder_graph",
    "read_graph",
    "write_graph",
]
