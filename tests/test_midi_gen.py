"""The procedural piano generator: determinism, ranges, pedal, well-formed MIDI."""

from __future__ import annotations

import io

import numpy as np
import pretty_midi
import pytest

from neuro_codec.data.midi_gen import (
    PIANO_HIGH,
    PIANO_LOW,
    SUSTAIN_CC,
    GeneratorConfig,
    generate_piece,
    midi_bytes,
    target_duration_s,
    without_overlaps,
)

SEEDS = range(24)


@pytest.fixture(scope="module")
def pieces() -> dict[int, pretty_midi.PrettyMIDI]:
    return {s: generate_piece(s) for s in SEEDS}


def test_same_seed_same_bytes_and_seeds_differ():
    a, b = midi_bytes(generate_piece(7)), midi_bytes(generate_piece(7))
    assert a == b
    assert a[:4] == b"MThd"
    assert len({midi_bytes(generate_piece(s)) for s in range(6)}) == 6


def test_bytes_read_back_to_the_same_notes():
    pm = generate_piece(3)
    back = pretty_midi.PrettyMIDI(io.BytesIO(midi_bytes(pm)))
    got = sorted((n.pitch, n.velocity, n.start) for n in back.instruments[0].notes)
    want = sorted((n.pitch, n.velocity, n.start) for n in pm.instruments[0].notes)
    assert [g[:2] for g in got] == [w[:2] for w in want]
    # Times come back on the file's tick grid (220 ticks per beat): within a few ms.
    assert np.allclose([g[2] for g in got], [w[2] for w in want], atol=0.005)


def test_lengths_between_30_and_120_s_and_near_the_target(pieces):
    for seed, pm in pieces.items():
        end = pm.get_end_time()
        assert 30.0 <= end <= 120.0, (seed, end)
        # The music stops within one bar (at most 6 beats at the slowest tempo) of the target.
        assert target_duration_s(seed) - 6 * 60 / 56 <= end <= max(target_duration_s(seed), 32.0)


def test_one_piano_on_the_keyboard_with_wide_dynamics_and_pedal(pieces):
    velocities, down_s, total_s = [], 0.0, 0.0
    for pm in pieces.values():
        assert len(pm.instruments) == 1
        piano = pm.instruments[0]
        assert piano.program == 0 and not piano.is_drum
        pitches = np.array([n.pitch for n in piano.notes])
        assert pitches.min() >= PIANO_LOW and pitches.max() <= PIANO_HIGH
        assert pitches.max() - pitches.min() >= 36  # at least three octaves used
        velocities += [n.velocity for n in piano.notes]
        cc = [c for c in piano.control_changes if c.number == SUSTAIN_CC]
        assert [c.value for c in cc] == [127, 0] * (len(cc) // 2)  # down, up, down, up, …
        down_s += sum(up.time - down.time for down, up in zip(cc[::2], cc[1::2]))
        total_s += pm.get_end_time()
    assert min(velocities) <= 25 and max(velocities) >= 115
    assert 0.3 < down_s / total_s < 0.9  # some sections are pedalled, some are not


def test_no_two_notes_sound_on_one_key_at_once(pieces):
    for pm in pieces.values():
        last_end: dict[int, float] = {}
        for n in sorted(pm.instruments[0].notes, key=lambda n: n.start):
            assert n.end > n.start
            assert n.start >= last_end.get(n.pitch, -1.0), (n, last_end[n.pitch])
            last_end[n.pitch] = n.end


def test_tempi_vary_across_seeds(pieces):
    tempi = [float(pm.get_tempo_changes()[1][0]) for pm in pieces.values()]
    assert min(tempi) < 90 and max(tempi) > 130


def test_without_overlaps_cuts_the_earlier_note():
    a = pretty_midi.Note(80, 60, 0.0, 1.0)
    b = pretty_midi.Note(70, 60, 0.5, 1.5)
    c = pretty_midi.Note(60, 60, 0.5, 0.8)  # same key, same onset as b: merged (b is louder)
    out = without_overlaps([b, a, c])
    assert [(n.start, n.end, n.velocity) for n in out] == [(0.0, 0.495, 80), (0.5, 1.5, 70)]


def test_config_is_checked():
    with pytest.raises(ValueError, match="min_duration_s"):
        GeneratorConfig(min_duration_s=50, max_duration_s=40)
    with pytest.raises(ValueError, match="max_velocity"):
        GeneratorConfig(max_velocity=200)
    short = GeneratorConfig(min_duration_s=5, max_duration_s=8)
    assert 5.0 <= generate_piece(1, short).get_end_time() <= 8.0
