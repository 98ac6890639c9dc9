"""File writes that appear whole or not at all, and the read of a coded file.

Every writer in the project goes through `atomic_path`: it writes to a temporary file in the
destination folder and renames it over the target with `os.replace`, which is atomic on POSIX
within one file system. An interrupted or failed write leaves no half-written output behind.
A folder written as a whole (the listening page) goes through `atomic_folder` the same way.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it to `path`, else delete it.

    Args:
        path: the final destination.
        suffix: suffix of the temporary file (defaults to the destination's, so that tools
            which choose a format by extension, e.g. soundfile or numpy, behave the same).
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{dest.name}.", suffix=suffix if suffix is not None else dest.suffix,
        dir=dest.parent,
    )
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp makes the file private (0600); outputs get the usual mode, as open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a new temporary folder beside `path`; on success it replaces `path` (a folder
    already there is moved aside, the new one renamed in, the old one deleted), else it is
    deleted with everything in it. A failed run leaves neither a half folder nor a new `path`.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)   # mkdtemp's folder is private (0700), as mkstemp's files
    try:
        yield tmp
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
            os.replace(dest, old / dest.name)
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def read_coded_file(path: str | os.PathLike) -> bytes:
    """The bytes of a coded file (`.snc`, `.rvq`); a file that cannot be read is a
    BitstreamError naming it."""
    from neuro_codec.errors import BitstreamError

    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise BitstreamError(f"cannot read {path}: {e.strerror or e}") from None
