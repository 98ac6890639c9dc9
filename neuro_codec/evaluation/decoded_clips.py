"""The decoded clips of a rate–quality run, kept so that the listening page (`report.py`) plays
exactly the audio that was scored: `DecodedClipsWriter` fills a run's folder as
`benchmarks/rate_quality.py` codes, `read_decoded_clips` checks and reads it back.

Layout under the run's folder (`--out` of the benchmark):

    clips.json                      the index (`INDEX_NAME`), written last: a run without it
                                    did not finish
    clips/<clip>/reference.flac     the excerpt, 16-bit FLAC at the codec's sample rate
    clips/<clip>/<codec>.flac       each codec's decoded audio, 16-bit FLAC
    clips/<clip>/<codec>.snc        each spiking model's events: the very file that was scored

A run on other pianos (`benchmarks/generalization.py`) also records each clip's piano.

FLAC because Chromium and Firefox play it from `file://` at about 60 % of the WAV's size
(6 s of piano: ≈ 150 kB); 16 bits because the metrics' differences between codecs are far
above the quantisation's (−98 dB full scale).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from neuro_codec.data.audio import HOP_SAMPLES, SAMPLE_RATE_HZ
from neuro_codec.errors import ReportError
from neuro_codec.fileio import atomic_path, write_bytes_atomic

INDEX_NAME = "clips.json"
INDEX_KIND = "neuro-codec decoded clips"
INDEX_VERSION = 1
CLIPS_FOLDER = "clips"
AUDIO_SUFFIX = ".flac"


def slug(text: str) -> str:
    """A file-name-safe form of a clip or codec name: "μ-SPARSE μ=6" → "mu-sparse-mu-6",
    "chorale-bwv11.6@5.94s" → "chorale-bwv11.6-5.94s"."""
    s = re.sub(r"[^a-z0-9.]+", "-", text.replace("μ", "mu").lower()).strip("-.")
    return s or "x"


def write_flac(path: Path, x: np.ndarray, sample_rate_hz: int = SAMPLE_RATE_HZ) -> None:
    """Mono float audio → 16-bit FLAC, atomically; samples beyond ±1 are clipped (a decoder's
    overshoot would otherwise wrap around in the integer format)."""
    x = np.clip(np.asarray(x, dtype=np.float32).reshape(-1), -1.0, 1.0)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), x, sample_rate_hz, subtype="PCM_16", format="FLAC")


class DecodedClipsWriter:
    """Keeps a run's references, decoded audio and event files under `folder`, then its index.

    Args:
        folder: the run's output folder (`clips/` and `clips.json` go inside).
        command: the command line that made the run, shown on the page.
    """

    def __init__(self, folder: str | Path, command: str = "",
                 sample_rate_hz: int = SAMPLE_RATE_HZ, hop_samples: int = HOP_SAMPLES):
        self.folder = Path(folder)
        self.command = command
        self.sample_rate_hz = sample_rate_hz
        self.hop_samples = hop_samples
        self._clips: dict[str, dict] = {}
        self._decoded: list[dict] = []
        # An index left by an earlier run would vouch for clips this run is overwriting: until
        # this run writes its own, the folder is not a finished run.
        (self.folder / INDEX_NAME).unlink(missing_ok=True)

    def _path(self, clip: str, name: str) -> Path:
        return self.folder / CLIPS_FOLDER / slug(clip) / name

    def reference(self, clip: str, x: np.ndarray, piano: str | None = None) -> None:
        """Keep the reference excerpt `x` [samples] of `clip`, and the piano (a
        `data.pianos.PIANOS` name) that played it when the run knows it."""
        path = self._path(clip, "reference" + AUDIO_SUFFIX)
        write_flac(path, x, self.sample_rate_hz)
        self._clips[clip] = {"clip": clip, "samples": int(np.asarray(x).size),
                             "reference": path.relative_to(self.folder).as_posix()}
        if piano is not None:
            self._clips[clip]["piano"] = piano

    def decoded(self, codec: str, clip: str, x_hat: np.ndarray, coded=None) -> None:
        """Keep `codec`'s decoded audio of `clip`, and its `.snc` when `coded` (a
        `compression.Encoded`) holds events. The clip's reference must be kept first."""
        if clip not in self._clips:
            raise ValueError(f"keep the reference of {clip!r} before its decoded audio")
        taken = {slug(d["codec"]) for d in self._decoded if d["clip"] == clip}
        if slug(codec) in taken or slug(codec) == "reference":
            raise ValueError(f"codec name {codec!r} clashes with another in the file names")
        audio = self._path(clip, slug(codec) + AUDIO_SUFFIX)
        write_flac(audio, x_hat, self.sample_rate_hz)
        entry = {"codec": codec, "clip": clip,
                 "audio": audio.relative_to(self.folder).as_posix(), "events": None}
        if coded is not None and getattr(coded.header, "format", None) is not None:
            events = self._path(clip, slug(codec) + ".snc")   # only .snc headers have a format
            write_bytes_atomic(events, coded.data)
            entry["events"] = events.relative_to(self.folder).as_posix()
        self._decoded.append(entry)

    def sink(self, codec: str) -> Callable[[str, np.ndarray, object], None]:
        """`decoded` with `codec` bound: the `keep` callback of `evaluate_clips`."""
        return lambda clip, x_hat, coded=None: self.decoded(codec, clip, x_hat, coded)

    def write_index(self) -> Path:
        """Write clips.json (after everything else: its presence says the run finished)."""
        index = {"kind": INDEX_KIND, "version": INDEX_VERSION,
                 "sample_rate_hz": self.sample_rate_hz, "hop_samples": self.hop_samples,
                 "command": self.command, "clips": list(self._clips.values()),
                 "decoded": self._decoded}
        path = self.folder / INDEX_NAME
        write_bytes_atomic(path, (json.dumps(index, indent=1, ensure_ascii=False) + "\n")
                           .encode("utf-8"))
        return path


@dataclass(frozen=True)
class ReferenceClip:
    clip: str       # the excerpt's name, "piece@start_s"
    samples: int    # its length in samples
    audio: Path     # its FLAC
    piano: str | None = None   # the piano that played it (a `PIANOS` name), if recorded

    @property
    def piece(self) -> str:
        return self.clip.split("@")[0]


@dataclass(frozen=True)
class DecodedClip:
    codec: str              # the codec's row name in the rate–quality table
    clip: str               # the excerpt it decodes
    audio: Path             # the decoded FLAC
    events: Path | None     # the `.snc` it was decoded from (spiking models), else None


@dataclass(frozen=True)
class DecodedClips:
    """A finished run's clips, every file checked to exist."""

    folder: Path
    sample_rate_hz: int
    hop_samples: int
    command: str
    clips: list[ReferenceClip]
    decoded: list[DecodedClip]

    @property
    def codecs(self) -> list[str]:
        """The codecs in the order the run coded them (the table's order)."""
        return list(dict.fromkeys(d.codec for d in self.decoded))

    def of_clip(self, clip: str) -> list[DecodedClip]:
        return [d for d in self.decoded if d.clip == clip]


def read_decoded_clips(folder: str | Path) -> DecodedClips:
    """Read and check a run's clips.json and the files it lists.

    Raises:
        ReportError: no such folder, no index (not a rate–quality run with saved clips), an
            index that is malformed or of another version, or a listed file that is missing.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ReportError(f"{folder} is not a folder (expected a rate–quality run's --out)")
    path = folder / INDEX_NAME
    if not path.is_file():
        raise ReportError(f"{folder} is not a rate–quality run with saved clips: no "
                          f"{INDEX_NAME} (run python -m benchmarks.rate_quality --out {folder})")
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
        if index.get("kind") != INDEX_KIND or index.get("version") != INDEX_VERSION:
            raise ReportError(f"{path} is not a version-{INDEX_VERSION} index of decoded clips "
                              f"(kind {index.get('kind')!r}, version {index.get('version')!r})")
        clips = [ReferenceClip(str(c["clip"]), int(c["samples"]), folder / c["reference"],
                               None if c.get("piano") is None else str(c["piano"]))
                 for c in index["clips"]]
        decoded = [DecodedClip(str(d["codec"]), str(d["clip"]), folder / d["audio"],
                               None if d["events"] is None else folder / d["events"])
                   for d in index["decoded"]]
        run = DecodedClips(folder, int(index["sample_rate_hz"]), int(index["hop_samples"]),
                           str(index.get("command", "")), clips, decoded)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError, KeyError,
            TypeError, ValueError) as e:
        raise ReportError(f"{path} is not a readable index of decoded clips ({e!r})") from None
    names = {c.clip for c in clips}
    for d in decoded:
        if d.clip not in names:
            raise ReportError(f"{path}: {d.codec} decodes clip {d.clip!r}, which it does not list")
    inside = folder.resolve()
    for p in [c.audio for c in clips] + [p for d in decoded for p in (d.audio, d.events) if p]:
        if not p.resolve().is_relative_to(inside):
            raise ReportError(f"{path} lists {p}, outside the run's folder")
        if not p.is_file():
            raise ReportError(f"{p} is missing ({INDEX_NAME} lists it)")
    for p in [c.audio for c in clips] + [d.audio for d in decoded]:   # headers only: cheap
        try:
            rate = sf.info(str(p)).samplerate
        except (sf.LibsndfileError, RuntimeError) as e:
            raise ReportError(f"{p} is not a readable audio file ({e})") from None
        if rate != run.sample_rate_hz:
            raise ReportError(f"{p} is at {rate} Hz; {INDEX_NAME} says {run.sample_rate_hz} Hz")
    return run
