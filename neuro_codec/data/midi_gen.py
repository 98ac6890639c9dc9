"""Seeded procedural piano music: the generated half of the built-in dataset.

`generate_piece(seed)` writes a solo piano piece (GM program 0) of 30–120 s as a
`pretty_midi.PrettyMIDI`: a key, a tempo and a metre, then sections of 2–8 bars over a
diatonic chord progression, each with its own texture (block chords, arpeggios, scales,
melody over an accompaniment, and sparse ones: single notes left to decay, a chord now and
then), register, dynamic shape (soft passages among them) and pedalling (CC64), with air in
it: rests between sections, general pauses, an opening silence and fade-outs. A codec must
have heard silence to reproduce it. The same seed gives the same MIDI bytes; `render.py`
turns it into audio.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pretty_midi

PIANO_LOW, PIANO_HIGH = 21, 108  # MIDI pitches of the 88-key piano, A0 … C8
SUSTAIN_CC = 64

_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_HARMONIC_MINOR = (0, 2, 3, 5, 7, 8, 11)
# Chord progressions as scale degrees (0 = tonic), one chord per bar.
_PROGRESSIONS = (
    (0, 3, 4, 0), (0, 5, 3, 4), (0, 5, 1, 4), (1, 4, 0, 0), (0, 3, 0, 4),
    (0, 4, 5, 3), (5, 3, 0, 4), (0, 2, 3, 4), (0, 3, 6, 2, 5, 1, 4, 0),
)


@dataclass(frozen=True)
class GeneratorConfig:
    """Ranges the generator draws from; every piece draws its own values inside them."""

    min_duration_s: float = 30.0  # length of the music before the final release
    max_duration_s: float = 120.0
    min_tempo_bpm: float = 56.0  # beats (quarter notes) per minute
    max_tempo_bpm: float = 168.0
    min_velocity: int = 18  # MIDI velocity range of section dynamics (1..127)
    max_velocity: int = 118
    timing_jitter_s: float = 0.008  # standard deviation of onset humanisation
    rest_probability: float = 0.3  # after a section, a rest (every key and the pedal up)
    max_rest_s: float = 4.0  # a rest lasts 0.5 s … this long (rounded to beats)
    soft_probability: float = 0.2  # a section played pp (velocity ≤ 35)
    fade_out_probability: float = 0.35  # the last sections die away to pp
    max_lead_in_s: float = 1.5  # silence before the first note: 0 … this, in half the pieces

    def __post_init__(self) -> None:
        if not 0 < self.min_duration_s <= self.max_duration_s:
            raise ValueError(f"min_duration_s/max_duration_s: {self.min_duration_s}/"
                             f"{self.max_duration_s}; need 0 < min <= max")
        if not 0 < self.min_tempo_bpm <= self.max_tempo_bpm:
            raise ValueError(f"min_tempo_bpm/max_tempo_bpm: {self.min_tempo_bpm}/"
                             f"{self.max_tempo_bpm}; need 0 < min <= max")
        if not 1 <= self.min_velocity <= self.max_velocity <= 127:
            raise ValueError(f"min_velocity/max_velocity: {self.min_velocity}/"
                             f"{self.max_velocity}; need 1 <= min <= max <= 127")
        if self.timing_jitter_s < 0:
            raise ValueError(f"timing_jitter_s: {self.timing_jitter_s}; need >= 0")
        for name in ("rest_probability", "soft_probability", "fade_out_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}: {getattr(self, name)}; need 0 <= p <= 1")
        if self.max_rest_s < 0.5 or self.max_lead_in_s < 0:
            raise ValueError(f"max_rest_s/max_lead_in_s: {self.max_rest_s}/"
                             f"{self.max_lead_in_s}; need >= 0.5 and >= 0")


@dataclass(frozen=True)
class _Section:
    """What one section plays: the context every texture function receives."""

    scale: tuple[int, ...]  # absolute pitch classes of the key's scale, tonic first
    beat_s: float  # seconds per beat
    beats_per_bar: int
    rh_center: int  # MIDI pitch around which the right hand plays
    lh_center: int  # MIDI pitch around which the left hand plays
    articulation: float  # sounding fraction of each written duration (legato 1, staccato 0.5)


def target_duration_s(seed: int, config: GeneratorConfig = GeneratorConfig()) -> float:
    """The length `generate_piece(seed, config)` aims at, without generating it (for planning)."""
    return float(np.random.default_rng(seed).uniform(config.min_duration_s,
                                                     config.max_duration_s))


def generate_piece(seed: int,
                   config: GeneratorConfig = GeneratorConfig()) -> pretty_midi.PrettyMIDI:
    """A solo piano piece, fully determined by `seed`.

    Returns:
        PrettyMIDI with one instrument (program 0, acoustic grand piano), notes in
        [21, 108] that never overlap on the same key, and sustain-pedal (CC64) events.
        The last note ends within one bar before `target_duration_s(seed)` (never below
        `config.min_duration_s`).
    """
    rng = np.random.default_rng(seed)
    duration_s = rng.uniform(config.min_duration_s, config.max_duration_s)  # first draw
    tempo_bpm = float(rng.uniform(config.min_tempo_bpm, config.max_tempo_bpm))
    beats_per_bar = int(rng.choice([2, 3, 4, 4, 6]))
    tonic = int(rng.integers(0, 12))
    steps = _MAJOR if rng.random() < 0.6 else _HARMONIC_MINOR
    scale = tuple((tonic + s) % 12 for s in steps)
    beat_s = 60.0 / tempo_bpm
    bar_s = beat_s * beats_per_bar

    notes: list[pretty_midi.Note] = []
    pedal: list[pretty_midi.ControlChange] = []
    # The closing chord lasts two beats; 0.1 s spare for the humanised timing.
    final_start = duration_s - 2 * beat_s - 0.1
    fade_out = rng.random() < config.fade_out_probability
    t = float(rng.uniform(0.0, config.max_lead_in_s)) if rng.random() < 0.5 else 0.0
    while True:
        bars_left = int((final_start - t) // bar_s)
        if bars_left < 1:
            if t + 2 * beat_s >= config.min_duration_s:
                break
            bars_left = 1  # a slow tempo left the piece short: one more bar
        n_bars = min(int(rng.choice([2, 4, 4, 8])), bars_left)
        progression = _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
        shift = int(rng.choice([-12, 0, 0, 12])) + int(rng.integers(-3, 4))
        section = _Section(
            scale=scale, beat_s=beat_s, beats_per_bar=beats_per_bar,
            rh_center=int(np.clip(67 + shift, 48, 88)),
            lh_center=int(np.clip(45 + shift + int(rng.integers(-5, 3)), 30, 57)),
            articulation=float(rng.choice([1.0, 0.95, 0.85, 0.5])),
        )
        texture = _TEXTURES[int(rng.integers(len(_TEXTURES)))]
        v0, v1 = _dynamic_shape(rng, config)
        if rng.random() < config.soft_probability:  # pianissimo: velocities 10…35
            v0, v1 = (float(rng.uniform(10, 35)) for _ in range(2))
        if fade_out and t + n_bars * bar_s > final_start - 4 * bar_s:  # dying away to the end
            v1 = min(v1, v0, 30.0)
        use_pedal = rng.random() < 0.7
        for bar in range(n_bars):
            degree = progression[bar % len(progression)]
            chord = _chord(scale, degree, seventh=rng.random() < 0.25)
            velocity = v0 + (v1 - v0) * bar / max(n_bars - 1, 1)
            start = t + bar * bar_s
            notes += texture(rng, section, chord, start, velocity)
            if use_pedal:
                # Catch the pedal just after the chord change and lift it just before the next.
                pedal.append(pretty_midi.ControlChange(SUSTAIN_CC, 127, start + 0.04))
                pedal.append(pretty_midi.ControlChange(SUSTAIN_CC, 0, start + bar_s - 0.03))
        t += n_bars * bar_s
        if rng.random() < config.rest_probability and t + bar_s < final_start:
            # A rest: nothing sounds (the texture's notes end within their bar, the pedal is up
            # before it) for 0.5 s … max_rest_s, whole beats, so the music keeps its pulse.
            rest_beats = max(1, round(rng.uniform(0.5, config.max_rest_s) / beat_s))
            t += min(rest_beats, int((final_start - t) // beat_s)) * beat_s

    # Final tonic chord held for two beats (soft after a fade-out), left to decay to silence.
    final = _Section(scale, beat_s, beats_per_bar, 67, 45, 1.0)
    notes += _block_chords(rng, final, _chord(scale, 0, False), t, 25.0 if fade_out else 70.0,
                           beats=2)
    if pedal:  # a pedalled piece pedals its last chord too
        pedal.append(pretty_midi.ControlChange(SUSTAIN_CC, 127, t + 0.04))
        pedal.append(pretty_midi.ControlChange(SUSTAIN_CC, 0, t + 2 * beat_s))

    notes = _humanise(rng, notes, config)
    piano = pretty_midi.Instrument(program=0, name="Piano")
    piano.notes = without_overlaps(notes)
    piano.control_changes = pedal
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo_bpm)
    pm.instruments.append(piano)
    return pm


def midi_bytes(pm: pretty_midi.PrettyMIDI) -> bytes:
    """The Standard MIDI File bytes that `pm.write` would put on disk."""
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


# --- harmony -------------------------------------------------------------------------------

def _chord(scale: tuple[int, ...], degree: int, seventh: bool) -> list[int]:
    """Pitch classes of the diatonic triad (or seventh chord) on `degree`, root first."""
    idx = [degree, degree + 2, degree + 4] + ([degree + 6] if seventh else [])
    return [scale[i % 7] for i in idx]


def _near(pitch_class: int, center: int) -> int:
    """The MIDI pitch of `pitch_class` closest to `center`."""
    p = center + ((pitch_class - center) % 12)
    return p - 12 if p - center > 6 else p


def _fold(pitch: int) -> int:
    """Move `pitch` by octaves into the piano's range."""
    while pitch < PIANO_LOW:
        pitch += 12
    while pitch > PIANO_HIGH:
        pitch -= 12
    return pitch


def _voicing(chord: list[int], center: int, n: int) -> list[int]:
    """`n` ascending chord tones starting near `center`."""
    out, p, i = [], _near(chord[0], center - 4), 0
    while len(out) < n:
        pc = chord[i % len(chord)]
        p = p + ((pc - p) % 12 or (12 if out else 0))
        out.append(_fold(p))
        i += 1
    return out


def _dynamic_shape(rng: np.random.Generator, config: GeneratorConfig) -> tuple[float, float]:
    """Start and end velocity of a section: flat, crescendo or diminuendo."""
    lo, hi = config.min_velocity, config.max_velocity
    v0 = float(rng.uniform(lo, hi))
    shape = rng.integers(3)
    v1 = v0 if shape == 0 else float(np.clip(v0 + (1 if shape == 1 else -1)
                                             * rng.uniform(10, 40), lo, hi))
    return v0, v1


def _note(velocity: float, pitch: int, start: float, length: float) -> pretty_midi.Note:
    return pretty_midi.Note(int(np.clip(round(velocity), 1, 127)), _fold(pitch),
                            start, start + max(length, 0.03))


# --- textures: each returns the notes of one bar ---------------------------------------------

def _bass(s: _Section, chord: list[int], start: float, velocity: float, octave: bool,
          beats: int | None = None) -> list[pretty_midi.Note]:
    """The chord's root in the left hand (with its lower octave), held `beats` (a bar)."""
    bar = s.beat_s * (beats or s.beats_per_bar) * s.articulation
    root = _near(chord[0], s.lh_center - 5)
    out = [_note(velocity, root, start, bar)]
    if octave:
        out.append(_note(velocity * 0.9, root - 12, start, bar))
    return out


def _block_chords(rng: np.random.Generator, s: _Section, chord: list[int], start: float,
                  velocity: float, beats: int | None = None) -> list[pretty_midi.Note]:
    """Right-hand chords on every beat (or every other), left-hand bass."""
    step = beats or int(rng.choice([1, 2, s.beats_per_bar]))
    voicing = _voicing(chord, s.rh_center, int(rng.integers(3, 5)))
    out = _bass(s, chord, start, velocity * 0.9, octave=rng.random() < 0.5, beats=beats)
    for b in range(0, beats or s.beats_per_bar, step):
        accent = 1.1 if b == 0 else 0.95
        for p in voicing:
            out.append(_note(velocity * accent, p, start + b * s.beat_s,
                             step * s.beat_s * s.articulation))
    return out


def _arpeggio(rng: np.random.Generator, s: _Section, chord: list[int], start: float,
              velocity: float) -> list[pretty_midi.Note]:
    """Broken chord over one or two octaves, up, down or up-down, in 8ths or 16ths."""
    per_beat = int(rng.choice([2, 3, 4]))
    tones = _voicing(chord, s.lh_center + int(rng.integers(0, 13)), int(rng.integers(4, 8)))
    pattern = rng.integers(3)
    if pattern == 1:
        tones = tones[::-1]
    elif pattern == 2:
        tones = tones + tones[-2:0:-1]
    dt = s.beat_s / per_beat
    out = _bass(s, chord, start, velocity * 0.85, octave=False)
    for i in range(s.beats_per_bar * per_beat):
        out.append(_note(velocity * (1.05 if i % per_beat == 0 else 0.9), tones[i % len(tones)],
                         start + i * dt, dt * 1.5 * s.articulation))
    return out


def _scale_run(rng: np.random.Generator, s: _Section, chord: list[int], start: float,
               velocity: float) -> list[pretty_midi.Note]:
    """Scale runs in the right hand over a held left-hand chord."""
    per_beat = int(rng.choice([2, 4]))
    direction = 1 if rng.random() < 0.5 else -1
    pitches = sorted({_fold(o * 12 + pc) for o in range(1, 9) for pc in s.scale})
    i = int(np.searchsorted(pitches, _near(chord[0], s.rh_center)))
    dt = s.beat_s / per_beat
    out = [_note(velocity * 0.8, p, start, s.beat_s * s.beats_per_bar * s.articulation)
           for p in _voicing(chord, s.lh_center, 3)]
    for k in range(s.beats_per_bar * per_beat):
        if not 0 <= i < len(pitches) or (rng.random() < 0.08 and k):
            direction = -direction
            i = int(np.clip(i, 0, len(pitches) - 1))
        out.append(_note(velocity * (1.0 if k % per_beat == 0 else 0.88), pitches[i],
                         start + k * dt, dt * s.articulation))
        i += direction
    return out


def _melody(rng: np.random.Generator, s: _Section, chord: list[int], start: float,
            velocity: float) -> list[pretty_midi.Note]:
    """A stepwise right-hand melody (chord tones on beats) over Alberti, waltz or held bass."""
    out: list[pretty_midi.Note] = []
    bar_beats = s.beats_per_bar
    accompaniment = rng.integers(3)
    lh = _voicing(chord, s.lh_center, 3)
    if accompaniment == 0:  # Alberti bass: low, high, middle, high in 8ths
        for i in range(bar_beats * 2):
            out.append(_note(velocity * 0.7, lh[(0, 2, 1, 2)[i % 4]],
                             start + i * s.beat_s / 2, s.beat_s / 2 * s.articulation))
    elif accompaniment == 1:  # waltz / oom-pah: bass on the downbeat, chord after
        out += _bass(s, chord, start, velocity * 0.8, octave=False)
        for b in range(1, bar_beats):
            for p in lh[1:]:
                out.append(_note(velocity * 0.6, p + 12, start + b * s.beat_s,
                                 s.beat_s * 0.8 * s.articulation))
    else:
        out += [_note(velocity * 0.65, p, start, s.beat_s * bar_beats * s.articulation)
                for p in lh]
    pitches = sorted({_fold(o * 12 + pc) for o in range(1, 9) for pc in s.scale})
    i = int(np.searchsorted(pitches, _near(chord[int(rng.integers(3))], s.rh_center + 5)))
    beat = 0.0
    while beat < bar_beats - 1e-9:
        length = float(min(rng.choice([0.5, 0.5, 1.0, 1.0, 1.5, 2.0]), bar_beats - beat))
        if beat == int(beat):  # on a beat: nearest chord tone
            cands = [j for j in range(len(pitches)) if pitches[j] % 12 in chord]
            i = min(cands, key=lambda j: (abs(j - i), j))
        else:
            i = int(np.clip(i + rng.choice([-2, -1, -1, 1, 1, 2]), 0, len(pitches) - 1))
        out.append(_note(velocity * 1.1, pitches[i], start + beat * s.beat_s,
                         length * s.beat_s * s.articulation))
        beat += length
    return out


def _single_notes(rng: np.random.Generator, s: _Section, chord: list[int], start: float,
                  velocity: float) -> list[pretty_midi.Note]:
    """A very sparse texture: one or two notes per bar, each held and left to decay, with
    silence (or a decaying tail) between them."""
    out = []
    onsets = sorted(rng.choice(s.beats_per_bar, size=int(rng.integers(1, 3)), replace=False))
    for b in onsets:
        center = s.rh_center + int(rng.integers(-12, 7))
        pitch = _near(chord[int(rng.integers(len(chord)))], center)
        length = float(rng.uniform(0.3, 1.0)) * (s.beats_per_bar - b) * s.beat_s
        out.append(_note(velocity, pitch, start + b * s.beat_s, length))
    return out


def _sparse_chords(rng: np.random.Generator, s: _Section, chord: list[int], start: float,
                   velocity: float) -> list[pretty_midi.Note]:
    """A chord on the downbeat, held for part of the bar, nothing after it."""
    length = float(rng.uniform(0.25, 0.9)) * s.beats_per_bar * s.beat_s
    return [_note(velocity, p, start, length)
            for p in _voicing(chord, s.rh_center - 5, int(rng.integers(2, 5)))]


_Texture = Callable[[np.random.Generator, _Section, list, float, float], list]
_TEXTURES: tuple[_Texture, ...] = (_block_chords, _arpeggio, _scale_run, _melody, _melody,
                                   _single_notes, _sparse_chords)


# --- performance -----------------------------------------------------------------------------

def _humanise(rng: np.random.Generator, notes: list[pretty_midi.Note],
              config: GeneratorConfig) -> list[pretty_midi.Note]:
    """Jitter onsets (Gaussian, `timing_jitter_s`) and velocities (±6) like a player would."""
    jitter = rng.normal(0.0, config.timing_jitter_s, len(notes))
    dv = rng.integers(-6, 7, len(notes))
    out = []
    for n, dt, v in zip(notes, jitter, dv):
        start = max(0.0, n.start + float(dt))
        out.append(pretty_midi.Note(int(np.clip(n.velocity + v, 1, 127)), n.pitch,
                                    start, max(n.end + float(dt), start + 0.03)))
    return out


def without_overlaps(notes: list[pretty_midi.Note]) -> list[pretty_midi.Note]:
    """Sort notes and cut each one where the next note on the same key starts.

    A MIDI key cannot sound twice: the note-off of the earlier note would silence the later.
    Notes starting at the same time on the same key are merged (the louder one kept).
    """
    notes = sorted(notes, key=lambda n: (n.start, n.pitch, -n.velocity))
    last: dict[int, pretty_midi.Note] = {}
    out: list[pretty_midi.Note] = []
    for n in notes:
        prev = last.get(n.pitch)
        if prev is not None and n.start - prev.start < 0.02:
            continue
        if prev is not None and prev.end > n.start - 0.005:
            prev.end = max(prev.start + 0.01, n.start - 0.005)
        out.append(n)
        last[n.pitch] = n
    return out
