"""The project's exceptions: one base class, so that the CLI can turn any of them into one line.

Library code raises these at its boundaries (files, audio, checkpoints, bitstreams); the
`neuro-codec` command catches `CodecError` and prints `error: <message>` with exit code 1.
"""

from __future__ import annotations


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
