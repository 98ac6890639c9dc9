"""The checkpoints shipped in the package (`neuro_codec/checkpoints/<kind>-small.pt`).

`neuro-codec encode` takes one by kind when no `--checkpoint` is given (default SPARSE);
`neuro-codec decode` finds the one whose model id a `.snc` / `.rvq` file names. Which kinds
ship is read from the folder, never assumed: a kind without a file is refused by name.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from neuro_codec.errors import CheckpointError
from neuro_codec.model.kind import ModelKind

CHECKPOINT_DIR = Path(__file__).resolve().parents[1] / "checkpoints"
DEFAULT_KIND = ModelKind.SPARSE
SHIPPED_PRESET = "small"
REFINER_FILE = "refiner.pt"   # the shipped flow-matching refiner of the small models


def shipped_path(kind: ModelKind | str = DEFAULT_KIND,
                 folder: str | os.PathLike | None = None) -> Path:
    """`folder/<kind>-small.pt` (default folder: CHECKPOINT_DIR), the shipped checkpoint of a
    model kind.

    Raises:
        CheckpointError: the kind is not shipped (no such file).
    """
    kind = ModelKind(kind)
    folder = Path(CHECKPOINT_DIR if folder is None else folder)
    path = folder / f"{kind.value}-{SHIPPED_PRESET}.pt"
    if not path.is_file():
        have = ", ".join(sorted(p.stem for p in folder.glob(f"*-{SHIPPED_PRESET}.pt")))
        raise CheckpointError(f"no shipped {kind.value} checkpoint ({path} is missing; shipped: "
                              f"{have or 'none'}); give --checkpoint PATH")
    return path


@functools.lru_cache(maxsize=64)
def _model_id(path: Path, mtime_ns: int, size: int) -> str | None:
    """A checkpoint's `model_id`, read with `weights_only` and memory-mapped (the tensors are not
    read); None for a file that is not a readable checkpoint. Cached per (path, mtime, size)."""
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # torch raises many types for foreign or corrupt files
        return None
    model_id = ckpt.get("model_id") if isinstance(ckpt, dict) else None
    return model_id if isinstance(model_id, str) else None


def shipped_model_ids(folder: str | os.PathLike | None = None) -> dict[str, Path]:
    """{model id: path} of every readable `*.pt` in `folder` (default CHECKPOINT_DIR), in
    file-name order."""
    out: dict[str, Path] = {}
    for path in sorted(Path(CHECKPOINT_DIR if folder is None else folder).glob("*.pt")):
        st = path.stat()
        model_id = _model_id(path.resolve(), st.st_mtime_ns, st.st_size)
        if model_id is not None:
            out.setdefault(model_id, path)
    return out


def find_shipped(model_id: str, folder: str | os.PathLike | None = None) -> Path:
    """The shipped checkpoint (in `folder`, default CHECKPOINT_DIR) whose model id is
    `model_id`.

    Raises:
        CheckpointError: none of them is (the message names the id and what ships).
    """
    ids = shipped_model_ids(folder)
    if model_id in ids:
        return ids[model_id]
    raise CheckpointError(f"no shipped checkpoint has model id {model_id!r} (shipped: "
                          f"{', '.join(ids) or 'none'}); give --checkpoint PATH")


def shipped_refiner_path(folder: str | os.PathLike | None = None) -> Path | None:
    """`folder/refiner.pt` (default folder: CHECKPOINT_DIR), the shipped refiner; None if it
    does not ship."""
    path = Path(CHECKPOINT_DIR if folder is None else folder) / REFINER_FILE
    return path if path.is_file() else None
