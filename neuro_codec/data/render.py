"""MIDI to piano audio with fluidsynth: the synthesiser behind the built-in dataset.

`render_midi` runs Debian's `fluidsynth` with the General MIDI soundfont of
`fluid-soundfont-gm` (FluidR3_GM) at 22,050 Hz, downmixes its stereo output to mono and
peak-normalises each piece to -1 dBFS before writing 16-bit WAV atomically. `dataset.py`
decides what to render; `midi_gen.py` and `corpus.py` supply the MIDI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import mido
import numpy as np
import soundfile as sf

from neuro_codec.data.audio import SAMPLE_RATE_HZ
from neuro_codec.errors import DataError
from neuro_codec.fileio import atomic_path

PEAK_DBFS = -1.0  # every piece is scaled so that its largest sample sits here
# fluidsynth's master gain. Output is float, so this only sets the level fluidsynth mixes at;
# nothing clips before the peak normalisation.
FLUIDSYNTH_GAIN = 0.5
_SILENCE = 1e-5  # below this peak a render holds no notes (fluidsynth's floor is ~1e-8)
SOUNDFONT_ENV = "NEURO_CODEC_SOUNDFONT"
SOUNDFONT_CANDIDATES = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),  # Debian/Ubuntu fluid-soundfont-gm
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
    Path("/usr/share/soundfonts/FluidR3_GM.sf2"),  # Arch, Fedora
)


def find_fluidsynth() -> str:
    """Path of the `fluidsynth` executable.

    Raises:
        DataError: it is not installed (names the Debian package).
    """
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise DataError("fluidsynth is not installed: "
                        "apt-get install --no-install-recommends fluidsynth")
    return exe


def find_soundfont() -> Path:
    """The General MIDI soundfont: $NEURO_CODEC_SOUNDFONT, else FluidR3_GM where distros put it.

    Raises:
        DataError: none found (names the Debian package).
    """
    env = os.environ.get(SOUNDFONT_ENV)
    if env:
        if not Path(env).is_file():
            raise DataError(f"${SOUNDFONT_ENV} names {env}, which is not a file")
        return Path(env)
    for path in SOUNDFONT_CANDIDATES:
        if path.is_file():
            return path
    raise DataError("no General MIDI soundfont found: "
                    "apt-get install --no-install-recommends fluid-soundfont-gm")


def synthesize(midi_path: str | os.PathLike, sample_rate_hz: int = SAMPLE_RATE_HZ,
               soundfont: str | os.PathLike | None = None) -> np.ndarray:
    """Render a MIDI file with fluidsynth, as it comes out (no normalisation).

    fluidsynth plays the file at its own tempo from t = 0, keeps rendering until the last
    voice has died away (the release and reverb tail), and writes stereo float32. Chorus is
    off (it makes a piano waver); reverb is on at fluidsynth's default room.

    Returns:
        [samples] float32 mono (the mean of the two channels).
    Raises:
        DataError: fluidsynth or the soundfont is missing, or fluidsynth fails on the file.
    """
    exe = find_fluidsynth()
    sf2 = Path(soundfont) if soundfont is not None else find_soundfont()
    midi = Path(midi_path)
    if not midi.is_file():
        raise DataError(f"MIDI file not found: {midi}")
    try:  # fluidsynth exits 0 on a file it cannot read, so read it first
        mido.MidiFile(str(midi))
    except (OSError, EOFError, ValueError, KeyError, IndexError) as e:
        raise DataError(f"{midi} is not a readable MIDI file ({e})") from None
    with tempfile.TemporaryDirectory(prefix="neuro_codec_render_") as tmp:
        out = Path(tmp) / "out.wav"
        cmd = [exe, "-n", "-i", "-q", "-C", "0", "-R", "1", "-g", str(FLUIDSYNTH_GAIN),
               "-r", str(sample_rate_hz), "-T", "wav", "-O", "float", "-F", str(out),
               str(sf2), str(midi)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not out.is_file() or out.stat().st_size <= 44:
            msg = (proc.stderr or proc.stdout).strip().splitlines()
            raise DataError(f"fluidsynth failed on {midi}: {msg[-1] if msg else 'no output'}")
        data, rate = sf.read(str(out), dtype="float32", always_2d=True)
    if rate != sample_rate_hz:
        raise DataError(f"fluidsynth wrote {rate} Hz for {midi}, expected {sample_rate_hz} Hz")
    return np.ascontiguousarray(data.mean(axis=1), dtype=np.float32)


def peak_normalise(x: np.ndarray, peak_dbfs: float = PEAK_DBFS) -> np.ndarray:
    """Scale `x` so that max |x| = 10^(peak_dbfs / 20); silence stays silence."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak == 0.0:
        return x.astype(np.float32, copy=True)
    return (x * (10.0 ** (peak_dbfs / 20.0) / peak)).astype(np.float32)


def render_midi(midi_path: str | os.PathLike, wav_path: str | os.PathLike,
                sample_rate_hz: int = SAMPLE_RATE_HZ, peak_dbfs: float = PEAK_DBFS,
                soundfont: str | os.PathLike | None = None) -> float:
    """Render `midi_path` to a mono 16-bit WAV at `wav_path`, peak-normalised to `peak_dbfs`.

    The WAV is written to a temporary file beside `wav_path` and renamed, so an interrupted
    render leaves nothing half-written.

    Returns:
        duration of the audio in seconds.
    Raises:
        DataError: see `synthesize`; also a MIDI file that renders to silence.
    """
    x = synthesize(midi_path, sample_rate_hz, soundfont)
    if not np.max(np.abs(x), initial=0.0) > _SILENCE:
        raise DataError(f"{midi_path} renders to silence (no notes?)")
    # Round to 16 bits here: libsndfile's own float conversion turns fluidsynth's ~1e-8 noise
    # floor into a -1 LSB offset wherever the piece is silent.
    pcm = np.round(peak_normalise(x, peak_dbfs) * 32767.0).astype(np.int16)
    with atomic_path(wav_path, suffix=".wav") as tmp:
        sf.write(str(tmp), pcm, sample_rate_hz, subtype="PCM_16", format="WAV")
    return len(pcm) / sample_rate_hz
