"""The project's exceptions: one base class, so that every command turns them into one line.

Two policies, the same in every command (`neuro-codec`, `python -m neuro_codec.train`,
`python -m conversion.export`, `python -m hardware.simulate`, `python -m hardware.energy`):
- usage errors (an unknown flag, a missing argument, a value of the wrong type or range) are
  argparse's: usage and one `error:` line on stderr, exit code 2;
- input errors (a file or value that is well formed but cannot be used) are `CodecError`s,
  raised where the input is read: `run_command` prints `error: <message>`, exit code 1.
Anything else (a ValueError deep inside, an OSError that is no input's) is a bug and keeps its
traceback.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator


class CodecError(Exception):
    """Base class of every error the project raises on bad input."""


class AudioError(CodecError):
    """An audio file that cannot be read, is empty, or is not audio."""


class BitstreamError(CodecError):
    """A `.snc` file or event matrix that is malformed, truncated or inconsistent."""


class CheckpointError(CodecError):
    """A checkpoint that is missing, corrupt, or does not match the model or the file."""


class DataError(CodecError):
    """A dataset that is missing, incomplete, or cannot be built (missing tools included)."""


class ConfigError(CodecError):
    """A configuration a user gave (flags, overrides) that the config classes refuse."""


class ReportError(CodecError):
    """Input of the listening page that is missing or incomplete: a folder that is not a
    rate–quality run with saved clips, a clip its index lists but the folder lacks, an energy
    or selectivity folder without its report."""


class OutputError(CodecError):
    """An output file or folder that cannot be written (permissions, a file where a folder
    should be, a full disk)."""


@contextlib.contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Around the writing of one output: an OSError becomes an `OutputError` naming `path`."""
    try:
        yield
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from None


def run_command(body: Callable[[], int | None]) -> int:
    """Run a command's body the way every project command ends: the project's errors become
    one line `error: …` on stderr with exit code 1, Ctrl-C exits 130, never a traceback.
    Returns the exit code."""
    try:
        return int(body() or 0)
    except CodecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
