"""The project's exceptions: one base class, so that the CLI can turn any of them into one line.

Library code raises these at its boundaries (files, audio, checkpoints, bitstreams); the
`neuro-codec` command catches `CodecError` and prints `error: <message>` with exit code 1.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


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


def run_command(body: Callable[[], int | None],
                also: tuple[type[BaseException], ...] = ()) -> int:
    """Run a command's body the way every project command ends: the project's errors (and
    `also`) become one line `error: …` on stderr with exit code 1, Ctrl-C exits 130, never a
    traceback. Returns the exit code."""
    try:
        return int(body() or 0)
    except (CodecError, *also) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
