"""fluidsynth rendering: pitch, onset alignment, level, mono 22,050 Hz, errors, atomic writes."""

from __future__ import annotations

import numpy as np
import pretty_midi
import pytest
import soundfile as sf
from factories import needs_fluidsynth, needs_pianos

from neuro_codec.data import render
from neuro_codec.errors import DataError

SR = 22_050


def _write_midi(path, notes: list[tuple[int, float, float, int]]) -> None:
    """notes: (pitch, start_s, end_s, velocity)."""
    pm = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(v, p, s, e) for p, s, e, v in notes]
    pm.instruments.append(piano)
    pm.write(str(path))


@pytest.fixture(scope="module")
def a4(tmp_path_factory):
    """One A4 (440 Hz) from 0.5 s to 1.5 s, rendered."""
    d = tmp_path_factory.mktemp("a4")
    _write_midi(d / "a4.mid", [(69, 0.5, 1.5, 100)])
    duration = render.render_midi(d / "a4.mid", d / "a4.wav")
    return d, duration


@needs_fluidsynth
def test_render_is_mono_22050_and_peak_normalised(a4):
    d, duration = a4
    info = sf.info(str(d / "a4.wav"))
    assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_16")
    assert duration == pytest.approx(info.frames / SR)
    assert 1.5 < duration < 5.0  # the note plus its release tail
    x, _ = sf.read(str(d / "a4.wav"), dtype="float32")
    assert np.max(np.abs(x)) == pytest.approx(10 ** (render.PEAK_DBFS / 20), abs=1 / 32768)


@needs_fluidsynth
def test_rendered_note_has_its_fundamental(a4):
    d, _ = a4
    x, _ = sf.read(str(d / "a4.wav"), dtype="float64")
    seg = x[int(0.6 * SR):int(0.6 * SR) + 8192] * np.hanning(8192)
    power = np.abs(np.fft.rfft(seg)) ** 2
    freqs = np.fft.rfftfreq(8192, 1 / SR)

    def band(lo, hi):
        return power[(freqs >= lo) & (freqs < hi)].sum()

    assert 420 <= freqs[np.argmax(power)] <= 460 or band(420, 460) > 0.2 * power.sum()
    assert band(420, 460) > 30 * band(300, 400)  # fundamental vs. the gap below it
    assert band(420, 460) > 30 * band(520, 800)  # and the gap above it


@needs_fluidsynth
def test_onset_is_where_the_midi_says(a4):
    d, _ = a4
    x, _ = sf.read(str(d / "a4.wav"), dtype="float64")
    env = np.abs(x)
    first = int(np.argmax(env > 0.01 * env.max()))
    assert abs(first - int(0.5 * SR)) < 512  # within one 512-sample frame
    assert np.max(env[:int(0.49 * SR)]) == 0.0  # silence before the note


@needs_fluidsynth
def test_bad_midi_leaves_nothing_behind(tmp_path):
    (tmp_path / "bad.mid").write_bytes(b"MThd this is not a MIDI file")
    with pytest.raises(DataError):
        render.render_midi(tmp_path / "bad.mid", tmp_path / "out" / "bad.wav")
    out = tmp_path / "out"
    assert not out.exists() or list(out.iterdir()) == []


@needs_fluidsynth
def test_missing_midi_file(tmp_path):
    with pytest.raises(DataError, match="MIDI file not found"):
        render.render_midi(tmp_path / "none.mid", tmp_path / "none.wav")


def test_missing_fluidsynth_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setattr(render.shutil, "which", lambda name: None)
    with pytest.raises(DataError) as e:
        render.synthesize(tmp_path / "x.mid")
    assert str(e.value) == ("fluidsynth is not installed: "
                            "apt-get install --no-install-recommends fluidsynth")


def test_missing_soundfont_names_the_package(monkeypatch, tmp_path):
    monkeypatch.delenv(render.SOUNDFONT_ENV, raising=False)
    monkeypatch.setattr(render, "SOUNDFONT_CANDIDATES", (tmp_path / "none.sf2",))
    with pytest.raises(DataError, match="apt-get install --no-install-recommends "
                                        "fluid-soundfont-gm"):
        render.find_soundfont()
    monkeypatch.setenv(render.SOUNDFONT_ENV, str(tmp_path / "also-none.sf2"))
    with pytest.raises(DataError, match="also-none.sf2"):
        render.find_soundfont()


def test_peak_normalise():
    x = np.array([0.0, 0.25, -0.5], dtype=np.float32)
    y = render.peak_normalise(x, -6.0)
    assert np.max(np.abs(y)) == pytest.approx(10 ** (-6 / 20))
    assert y[1] / y[2] == pytest.approx(-0.5)
    assert np.array_equal(render.peak_normalise(np.zeros(4, np.float32)), np.zeros(4))


# --- the piano catalogue ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def every_piano(tmp_path_factory):
    """A4 from 0.5 s to 1.5 s, velocity 100, played on every piano: {name: mono float32}."""
    from neuro_codec.data.pianos import PIANOS

    d = tmp_path_factory.mktemp("pianos")
    _write_midi(d / "a4.mid", [(69, 0.5, 1.5, 100)])
    return {name: render.synthesize(d / "a4.mid", piano=piano) for name, piano in PIANOS.items()}


@needs_pianos
def test_every_piano_plays_the_note_at_its_time(every_piano):
    for name, x in every_piano.items():
        env = np.abs(x)
        first = int(np.argmax(env > 0.01 * env.max()))
        assert abs(first - int(0.5 * SR)) < 512, name  # within a frame of the MIDI onset
        seg = x[int(0.6 * SR):int(0.6 * SR) + 8192].astype(np.float64) * np.hanning(8192)
        power = np.abs(np.fft.rfft(seg)) ** 2
        freqs = np.fft.rfftfreq(8192, 1 / SR)
        fundamental = power[(freqs >= 420) & (freqs < 460)].sum()
        assert fundamental > 10 * power[(freqs >= 300) & (freqs < 400)].sum(), name


@needs_pianos
def test_the_pianos_sound_different(every_piano):
    """Seven timbres, not one sample set seven times: the long-term spectra differ pairwise."""
    spectra = {}
    for name, x in every_piano.items():
        seg = x[int(0.5 * SR):int(1.5 * SR)].astype(np.float64)
        s = np.log10(np.abs(np.fft.rfft(seg * np.hanning(seg.size))) + 1e-6)
        spectra[name] = (s - s.mean()) / s.std()
    names = sorted(spectra)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            corr = float(np.mean(spectra[a] * spectra[b]))
            assert corr < 0.99, (a, b, corr)


def test_program_rewrite_selects_the_piano_program(tmp_path):
    _write_midi(tmp_path / "a.mid", [(60, 0.0, 0.5, 90)])
    out = render._with_program(tmp_path / "a.mid", 3, tmp_path)
    import mido

    programs = [m.program for t in mido.MidiFile(str(out)).tracks for m in t
                if m.type == "program_change"]
    assert programs and set(programs) == {3}


def test_missing_bank_names_its_debian_package(tmp_path):
    from dataclasses import replace

    from neuro_codec.data.pianos import PIANOS

    piano = replace(PIANOS["csound-grand"], bank=tmp_path / "none.sf2")
    with pytest.raises(DataError, match="apt-get install --no-install-recommends "
                                        "csound-soundfont"):
        piano.check()
    with pytest.raises(DataError, match="unknown piano 'steinway'"):
        from neuro_codec.data.pianos import get_piano

        get_piano("steinway")
