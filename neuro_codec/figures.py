"""Figures written to files: matplotlib on its Agg backend, chosen once, and figures saved
atomically.

Every plot of the project (commands, evaluation, hardware, benchmarks, scripts) is drawn for a
file, never for a window: `pyplot()` selects Agg before pyplot is first imported, and
`save_figure` writes through `fileio.atomic_path`, so that an interrupted run leaves no half
PNG. matplotlib is imported on first use only: it costs a few tenths of a second, which the
commands that draw nothing should not pay.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING

from neuro_codec.fileio import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@functools.cache
def pyplot():
    """`matplotlib.pyplot` on the Agg backend (files only; no display is needed or opened)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 110) -> None:
    """Write `fig` to `path` (the format from its suffix, e.g. .png) atomically, then close it.

    Args:
        fig: the figure; closed afterwards, also when the write fails.
        path: the destination; a temporary file beside it is renamed over it.
        dpi: resolution in dots per inch.
    """
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi)
    finally:
        pyplot().close(fig)
