"""MIDI to piano audio: the synthesisers behind the built-in dataset.

`synthesize` plays a MIDI file on a piano of `pianos.py`: Debian's `fluidsynth` with a
SoundFont (FluidR3_GM by default, csound's GM bank) or `timidity` with freepats, at 22,050 Hz,
downmixed to mono. `render_midi` then applies a piece's recording conditions
(`acoustics.py`: room, colouring, level, noise; by default peak normalisation to -1 dBFS) and
writes 16-bit WAV atomically. `dataset.py` decides what to render; `midi_gen.py` and
`corpus.py` supply the MIDI.
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

from neuro_codec.data.acoustics import CLEAN, Acoustics, apply_acoustics
from neuro_codec.data.audio import SAMPLE_RATE_HZ
from neuro_codec.data.pianos import Piano
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
               soundfont: str | os.PathLike | None = None,
               piano: Piano | None = None) -> np.ndarray:
    """Render a MIDI file as it comes out of the synthesiser (no normalisation).

    Without `piano`: fluidsynth with `soundfont` (`find_soundfont()` if None), the programs the
    file names. With `piano`: its synthesiser and bank, every non-drum part switched to its
    program. The synthesiser plays the file at its own tempo from t = 0 and keeps rendering
    until the last voice has died away (the release and reverb tail). fluidsynth: chorus off
    (it makes a piano waver), reverb on at its default room; timidity: its defaults (Freeverb
    driven by the file's CC91, which ours leave at the default).

    Returns:
        [samples] float32 mono (the mean of the two channels).
    Raises:
        DataError: the synthesiser or the bank is missing, or it fails on the file.
    """
    if piano is not None:
        piano.check()
    else:
        find_fluidsynth()
    midi = Path(midi_path)
    if not midi.is_file():
        raise DataError(f"MIDI file not found: {midi}")
    try:  # fluidsynth and timidity exit 0 on a file they cannot read, so read it first
        mido.MidiFile(str(midi))
    except (OSError, EOFError, ValueError, KeyError, IndexError) as e:
        raise DataError(f"{midi} is not a readable MIDI file ({e})") from None
    with tempfile.TemporaryDirectory(prefix="neuro_codec_render_") as tmp:
        out = Path(tmp) / "out.wav"
        source = midi if piano is None else _with_program(midi, piano.program, Path(tmp))
        if piano is not None and piano.engine == "timidity":
            # -Ow: RIFF WAV (16 bit); timidity has no float output, and 16 bits are what the
            # dataset stores anyway.
            # --preserve-silence: timidity drops the silence before the first note by default,
            # which would move every onset away from the MIDI's.
            cmd = ["timidity", "-c", str(piano.bank), "-Ow", "--preserve-silence", "-s",
                   str(sample_rate_hz), "-o", str(out), str(source)]
        else:
            sf2 = piano.bank if piano is not None else (
                Path(soundfont) if soundfont is not None else find_soundfont())
            cmd = [find_fluidsynth(), "-n", "-i", "-q", "-C", "0", "-R", "1", "-g",
                   str(FLUIDSYNTH_GAIN), "-r", str(sample_rate_hz), "-T", "wav", "-O", "float",
                   "-F", str(out), str(sf2), str(source)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not out.is_file() or out.stat().st_size <= 44:
            msg = (proc.stderr or proc.stdout).strip().splitlines()
            raise DataError(f"{Path(cmd[0]).name} failed on {midi}: "
                            f"{msg[-1] if msg else 'no output'}")
        data, rate = sf.read(str(out), dtype="float32", always_2d=True)
    if rate != sample_rate_hz:
        raise DataError(f"the synthesiser wrote {rate} Hz for {midi}, "
                        f"expected {sample_rate_hz} Hz")
    return np.ascontiguousarray(data.mean(axis=1), dtype=np.float32)


def _with_program(midi: Path, program: int, folder: Path) -> Path:
    """A copy of `midi` in `folder` whose every non-drum program change selects `program`
    (and whose tracks start with one, for files that never set a program)."""
    f = mido.MidiFile(str(midi))
    for track in f.tracks:
        channels = {m.channel for m in track if hasattr(m, "channel") and m.channel != 9}
        for m in track:
            if m.type == "program_change" and m.channel != 9:
                m.program = program
        for ch in sorted(channels):
            track.insert(0, mido.Message("program_change", channel=ch, program=program, time=0))
    out = folder / "program.mid"
    f.save(str(out))
    return out


def peak_normalise(x: np.ndarray, peak_dbfs: float = PEAK_DBFS) -> np.ndarray:
    """Scale `x` so that max |x| = 10^(peak_dbfs / 20); silence stays silence."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak == 0.0:
        return x.astype(np.float32, copy=True)
    return (x * (10.0 ** (peak_dbfs / 20.0) / peak)).astype(np.float32)


def render_midi(midi_path: str | os.PathLike, wav_path: str | os.PathLike,
                sample_rate_hz: int = SAMPLE_RATE_HZ, peak_dbfs: float = PEAK_DBFS,
                soundfont: str | os.PathLike | None = None, piano: Piano | None = None,
                acoustics: Acoustics | None = None) -> float:
    """Render `midi_path` to a mono 16-bit WAV at `wav_path`.

    Played on `piano` (see `synthesize`), then recorded under `acoustics` (`acoustics.py`);
    without `acoustics`, only peak-normalised to `peak_dbfs`. The WAV is written to a
    temporary file beside `wav_path` and renamed, so an interrupted render leaves nothing
    half-written.

    Returns:
        duration of the audio in seconds.
    Raises:
        DataError: see `synthesize`; also a MIDI file that renders to silence.
    """
    x = synthesize(midi_path, sample_rate_hz, soundfont, piano)
    if not np.max(np.abs(x), initial=0.0) > _SILENCE:
        raise DataError(f"{midi_path} renders to silence (no notes?)")
    # Clean conditions take the float32 path every piece took before conditions existed, so
    # that the canonical test split stays byte-identical.
    y = (peak_normalise(x, peak_dbfs) if acoustics is None
         else peak_normalise(x, acoustics.peak_dbfs) if acoustics == CLEAN
         else apply_acoustics(x, acoustics, sample_rate_hz))
    # Round to 16 bits here: libsndfile's own float conversion turns fluidsynth's ~1e-8 noise
    # floor into a -1 LSB offset wherever the piece is silent.
    pcm = np.clip(np.round(y * 32767.0), -32768, 32767).astype(np.int16)
    with atomic_path(wav_path, suffix=".wav") as tmp:
        sf.write(str(tmp), pcm, sample_rate_hz, subtype="PCM_16", format="WAV")
    return len(pcm) / sample_rate_hz
