"""The pianos the built-in data is played on: sample sets from Debian packages, their synthesiser
and General MIDI program, which of them training may use and which one is held out.

A codec trained on one piano learns that piano (measured: on other sample sets its ViSQOL fell
by ~1); timbre variety is what makes it generalise. `render.py` plays a MIDI file on a `Piano`.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from neuro_codec.errors import DataError

Engine = Literal["fluidsynth", "timidity"]

FLUIDR3_SF2 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")  # fluid-soundfont-gm
CSOUND_SF2 = Path("/usr/share/sounds/sf2/sf_GMbank.sf2")  # csound-soundfont
FREEPATS_CFG = Path("/etc/timidity/freepats.cfg")  # freepats (GUS patches), read by timidity
# from the Debian package musescore-general-soundfont-small
MUSESCORE_SF3 = Path("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3")


@dataclass(frozen=True)
class Piano:
    """One playable piano: a sample set, the program of it that is played, and the synthesiser.

    fluidsynth plays SoundFont 2 banks; timidity plays freepats' GUS patches (and is a second
    synthesis engine with its own envelopes, filters and reverb, which is variety too).
    """

    name: str  # id used in manifests and tables, e.g. "fluidr3-grand"
    engine: Engine
    bank: Path  # .sf2 file (fluidsynth) or timidity .cfg file
    program: int  # General MIDI program, 0-based (0 acoustic grand … 3 honky-tonk)
    package: str  # the Debian package that installs `bank`
    label: str  # human-readable, for tables and plots

    def check(self) -> None:
        """Raise DataError naming the missing program or Debian package."""
        exe = "timidity" if self.engine == "timidity" else "fluidsynth"
        if shutil.which(exe) is None:
            raise DataError(f"{exe} is not installed (needed for the piano {self.name}): "
                            f"apt-get install --no-install-recommends {exe}")
        if not self.bank.is_file():
            raise DataError(f"{self.bank} is missing (needed for the piano {self.name}): "
                            f"apt-get install --no-install-recommends {self.package}")


PIANOS: dict[str, Piano] = {p.name: p for p in (
    Piano("fluidr3-grand", "fluidsynth", FLUIDR3_SF2, 0, "fluid-soundfont-gm",
          "FluidR3 acoustic grand"),
    Piano("fluidr3-bright", "fluidsynth", FLUIDR3_SF2, 1, "fluid-soundfont-gm",
          "FluidR3 bright acoustic"),
    Piano("fluidr3-electric-grand", "fluidsynth", FLUIDR3_SF2, 2, "fluid-soundfont-gm",
          "FluidR3 electric grand"),
    Piano("fluidr3-honky-tonk", "fluidsynth", FLUIDR3_SF2, 3, "fluid-soundfont-gm",
          "FluidR3 honky-tonk"),
    Piano("freepats-grand", "timidity", FREEPATS_CFG, 0, "freepats",
          "freepats acoustic grand (timidity)"),
    Piano("freepats-bright", "timidity", FREEPATS_CFG, 1, "freepats",
          "freepats bright acoustic (timidity)"),
    Piano("csound-grand", "fluidsynth", CSOUND_SF2, 0, "csound-soundfont",
          "csound GM bank grand"),
    Piano("musescore-grand", "fluidsynth", MUSESCORE_SF3, 0, "musescore-general-soundfont-small",
          "MuseScore General grand"),
)}

# The piano of the test split's canonical render, and of every piece before this catalogue.
CANONICAL_PIANO = "fluidr3-grand"
# Kept out of training (train and validation splits alike) so that one piano measures what the
# codec does on a sample set it never heard, as a user's own piano recordings would be: a
# fourth, recent sample set (MuseScore General's grand, multi-sampled, compressed SoundFont 3),
# not one of the three that training draws from. It replaced csound's grand as the held-out
# piano once csound's bank joined training: with csound held out, training had only two sample
# sets and the corpus's timbre variety did not transfer (docs/data.md, the ablation).
HELD_OUT_PIANO = "musescore-grand"
# Training draws a piano per piece with these weights: half FluidR3's four programs, half the
# two other sample sets (csound's bank, and freepats through timidity, a second synthesiser),
# so that no one timbre dominates.
TRAINING_PIANO_WEIGHTS: dict[str, float] = {
    "fluidr3-grand": 0.2, "fluidr3-bright": 0.1, "fluidr3-electric-grand": 0.1,
    "fluidr3-honky-tonk": 0.1, "csound-grand": 0.25, "freepats-grand": 0.15,
    "freepats-bright": 0.1,
}
TRAINING_PIANOS: tuple[str, ...] = tuple(TRAINING_PIANO_WEIGHTS)


def get_piano(name: str) -> Piano:
    """The catalogue entry `name`.

    Raises:
        DataError: no such piano (names the known ones).
    """
    try:
        return PIANOS[name]
    except KeyError:
        raise DataError(f"unknown piano {name!r}; known: {', '.join(PIANOS)}") from None
