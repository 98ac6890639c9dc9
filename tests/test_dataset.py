"""The built-in dataset: plan and splits, rendering cache, manifest, onset rolls, clips, CLI."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile as sf
import torch

from neuro_codec.cli import main
from neuro_codec.data import dataset as ds
from neuro_codec.data.acoustics import CLEAN, Acoustics
from neuro_codec.data.corpus import CorpusWork
from neuro_codec.data.midi_gen import target_duration_s
from neuro_codec.data.pianos import CANONICAL_PIANO, HELD_OUT_PIANO, TRAINING_PIANOS
from neuro_codec.errors import DataError

SR = 22_050
TINY_ROOM = Acoustics(rt60_s=0.6, drr_db=3.0, low_shelf_db=2.0, high_shelf_db=-3.0,
                      peak_dbfs=-30.0, noise_dbfs=-75.0, seed=11)
needs_fluidsynth = pytest.mark.skipif(shutil.which("fluidsynth") is None,
                                      reason="fluidsynth is not installed")


def _tiny_plan(minutes: float = 1.0, seed: int = 0) -> list[ds.PieceSpec]:
    """Four short pieces: a real one and a generated one in test, one each in the others."""
    short = [s for s in range(500) if target_duration_s(s) < 34][:3]
    work = CorpusWork("piano-schoenberg-opus19-movement6", "schoenberg/opus19/movement6.mxl",
                      "piano", 37.0, 120.0)
    return [
        ds.PieceSpec(work.piece_id, ds.SOURCE_PIANO, "test", 18.5, work=work),
        ds.PieceSpec("gen-0000", ds.SOURCE_GENERATED, "test", 33, gen_seed=short[0]),
        # timidity with freepats, in a room, coloured, quiet and noisy
        ds.PieceSpec("gen-0001", ds.SOURCE_GENERATED, "validation", 33, gen_seed=short[1],
                     piano="freepats-grand", acoustics=TINY_ROOM),
        ds.PieceSpec("gen-0002", ds.SOURCE_GENERATED, "train", 33, gen_seed=short[2],
                     piano="fluidr3-honky-tonk",
                     acoustics=Acoustics(low_cut_hz=40.0, tilt_db=2.0, peak_dbfs=-12.0)),
    ]


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    """The tiny plan, rendered in this process (the slow test covers the worker pool)."""
    if shutil.which("fluidsynth") is None:
        pytest.skip("fluidsynth is not installed")
    root = tmp_path_factory.mktemp("builtin")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ds, "plan_builtin", _tiny_plan)
        ds.ensure_builtin(root, minutes=1, seed=0, workers=1)
    return root


def _mtimes(root: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted(root.glob("*/*"))}


# --- plan and splits -------------------------------------------------------------------------

def test_split_pattern():
    got = [ds.split_of_index(i) for i in range(22)]
    assert got == (["test", "validation"] + ["train"] * 8) * 2 + ["test", "validation"]


def test_small_plan_has_every_split_and_real_test_pieces():
    plan = ds.plan_builtin(5, seed=0)
    splits = {s.split for s in plan}
    assert splits == {"train", "validation", "test"}
    test_sources = {s.source for s in plan if s.split == "test"}
    assert test_sources & {ds.SOURCE_PIANO, ds.SOURCE_CHORALE}
    assert sum(s.est_duration_s for s in plan) >= 5 * 60
    assert len({s.piece_id for s in plan}) == len(plan)


def test_plan_is_fixed_by_seed_and_stable_across_sizes():
    small = [(s.piece_id, s.split) for s in ds.plan_builtin(5, seed=0)]
    assert small == [(s.piece_id, s.split) for s in ds.plan_builtin(5, seed=0)]
    large = {s.piece_id: s.split for s in ds.plan_builtin(40, seed=0)}
    assert all(large[pid] == split for pid, split in small)  # same pieces, same splits
    other = [(s.piece_id, s.split) for s in ds.plan_builtin(5, seed=1)]
    assert other != small


def test_default_plan_holds_two_hours_of_training_audio():
    plan = ds.plan_builtin(ds.DEFAULT_MINUTES, seed=0)
    minutes = {k: sum(s.est_duration_s for s in plan if s.split == k) / 60 for k in ds.SPLITS}
    assert minutes["train"] >= 120
    assert minutes["test"] > 0 and minutes["validation"] > 0
    sources = {s.source for s in plan}
    assert sources == {ds.SOURCE_GENERATED, ds.SOURCE_PIANO, ds.SOURCE_CHORALE}
    real_test = [s for s in plan if s.split == "test" and s.source != ds.SOURCE_GENERATED]
    assert {s.source for s in real_test} == {ds.SOURCE_PIANO, ds.SOURCE_CHORALE}


def test_bad_plan_arguments():
    with pytest.raises(ValueError, match="minutes"):
        ds.plan_builtin(0)
    with pytest.raises(ValueError, match="seed"):
        ds.plan_builtin(5, seed=-1)


def test_default_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(ds.DATA_ENV, raising=False)
    assert ds.default_root() == Path("data/builtin")
    monkeypatch.setenv(ds.DATA_ENV, str(tmp_path))
    assert ds.default_root() == tmp_path


# --- onset rolls -----------------------------------------------------------------------------

def _midi(path: Path, notes: list[tuple[int, float]]) -> Path:
    pm = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(80, p, t, t + 0.25) for p, t in notes]
    pm.instruments.append(piano)
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    drums.notes = [pretty_midi.Note(80, 36, 0.1, 0.2)]
    pm.instruments.append(drums)
    pm.write(str(path))
    return path


def test_onset_roll_marks_exactly_the_onset_frames(tmp_path):
    # Times chosen on MIDI's tick grid (pretty_midi: 220 ticks per beat at 120 qpm).
    path = _midi(tmp_path / "n.mid", [(60, 0.0), (62, 0.25), (64, 1.0), (64, 1.5), (67, 2.0)])
    roll = ds.onset_roll(path, start_sample=0, n_frames=80)
    want = np.zeros((128, 80), np.float32)
    want[60, 0] = want[62, 10] = want[64, 43] = want[64, 64] = 1.0  # 2.0 s is frame 86
    assert roll.dtype == np.float32 and roll.shape == (128, 80)
    assert np.array_equal(roll, want)

    # A window starting at sample 22016 = frame 43: the 1.0 s onset (sample 22050) is frame 0.
    roll = ds.onset_roll(path, start_sample=43 * 512, n_frames=44)
    want = np.zeros((128, 44), np.float32)
    want[64, 0] = want[64, (33075 - 22016) // 512] = want[67, (44100 - 22016) // 512] = 1.0
    assert np.array_equal(roll, want)


def test_onset_roll_other_hop_and_missing_file(tmp_path):
    path = _midi(tmp_path / "n.mid", [(70, 1.0)])
    roll = ds.onset_roll(path, 0, 200, hop_samples=256)
    assert np.argwhere(roll).tolist() == [[70, 22050 // 256]]
    with pytest.raises(DataError, match="not found"):
        ds.onset_roll(tmp_path / "none.mid", 0, 4)


# --- rendering, cache, manifest --------------------------------------------------------------

def test_rendered_manifest(tiny_root):
    pieces = ds.load_manifest(tiny_root)
    assert [p.id for p in pieces] == ["gen-0002", "gen-0001", "gen-0000",
                                      "piano-schoenberg-opus19-movement6"]
    assert [p.split for p in pieces] == ["train", "validation", "test", "test"]
    for p in pieces:
        info = sf.info(str(p.wav_path))
        assert (info.samplerate, info.channels) == (SR, 1)
        assert p.duration_s == pytest.approx(info.frames / SR, abs=1e-3)
        assert p.midi_path.is_file() and p.midi_path.parent == tiny_root / "midi"
    real = [p for p in pieces if p.source == ds.SOURCE_PIANO]
    assert real[0].split == "test" and 15 < real[0].duration_s < 30
    text = (tiny_root / ds.MANIFEST_NAME).read_text().splitlines()
    assert text[0] == ",".join(ds.MANIFEST_COLUMNS)
    assert text[1].startswith("gen-0002,generated,train,")
    assert ",wav/gen-0002.wav,midi/gen-0002.mid,fluidr3-honky-tonk," in text[1]
    by_id = {p.id: p for p in pieces}
    assert Acoustics.from_json(by_id["gen-0001"].acoustics) == TINY_ROOM
    assert by_id["gen-0000"].piano == CANONICAL_PIANO
    assert Acoustics.from_json(by_id["gen-0000"].acoustics) == CLEAN


def test_rendered_conditions_are_the_drawn_ones(tiny_root):
    """The room piece peaks at its drawn level, and its pauses hold the drawn noise, not
    digital silence; the clean test piece is peak-normalised with silent pauses."""
    x, _ = sf.read(str(tiny_root / "wav" / "gen-0001.wav"), dtype="float64")
    assert 20 * np.log10(np.max(np.abs(x))) == pytest.approx(-30.0, abs=0.2)
    quietest = min(np.sqrt(np.mean(x[i:i + 4096] ** 2)) for i in range(0, x.size - 4096, 4096))
    assert 20 * np.log10(quietest) == pytest.approx(-75.0, abs=1.5)
    y, _ = sf.read(str(tiny_root / "wav" / "gen-0000.wav"), dtype="float64")
    assert np.max(np.abs(y)) == pytest.approx(10 ** (-1 / 20), abs=1 / 32768)


def test_conditions_keep_the_test_split_canonical_and_the_held_out_piano_out():
    plan = ds.plan_builtin()
    assert all((s.piano, s.acoustics) == (CANONICAL_PIANO, CLEAN)
               for s in plan if s.split == "test")
    trained = [s for s in plan if s.split != "test"]
    assert {s.piano for s in trained} == set(TRAINING_PIANOS)  # every training piano is used
    assert HELD_OUT_PIANO not in {s.piano for s in plan}
    rooms = [s.acoustics.rt60_s is not None for s in trained]
    assert 0.2 < np.mean(rooms) < 0.5  # half the pieces clean, 70 % of the rest in a room
    assert ds.draw_conditions("gen-0003", "train", 0) == ds.draw_conditions("gen-0003", "train", 0)
    assert ds.draw_conditions("gen-0003", "train", 0) != ds.draw_conditions("gen-0003", "train", 1)


def test_rerun_renders_nothing(tiny_root, monkeypatch):
    before = _mtimes(tiny_root)
    monkeypatch.setattr(ds, "plan_builtin", lambda *a: pytest.fail("re-planned a built set"))
    monkeypatch.setattr(ds.render, "find_fluidsynth",
                        lambda *a: pytest.fail("went on to render a built set"))
    pieces = ds.ensure_builtin(tiny_root, minutes=1, seed=0)
    assert len(pieces) == 4 and _mtimes(tiny_root) == before


def test_only_missing_pieces_are_rendered(tiny_root, tmp_path, monkeypatch):
    root = tmp_path / "copy"
    shutil.copytree(tiny_root, root)
    (root / "wav" / "gen-0001.wav").unlink()
    before = _mtimes(root)
    monkeypatch.setattr(ds, "plan_builtin", _tiny_plan)
    ds.ensure_builtin(root, minutes=1, seed=0, workers=1)
    after = _mtimes(root)
    changed = {k for k in after if after[k] != before.get(k)}
    # The missing piece is rebuilt whole (MIDI, audio, then its stamp); no other file is touched.
    assert changed == {"gen-0001.mid", "gen-0001.wav", "gen-0001.json"}
    x, _ = sf.read(str(root / "wav" / "gen-0001.wav"))
    y, _ = sf.read(str(tiny_root / "wav" / "gen-0001.wav"))
    assert np.array_equal(x, y)  # rendering is deterministic


def test_a_piece_whose_piano_changed_is_rendered_again(tiny_root, tmp_path, monkeypatch):
    """A new plan (a new data format) that gives one piece another piano re-renders that piece
    even though its WAV exists, and only it: stale audio is never reused under a new label."""
    root = tmp_path / "copy"
    shutil.copytree(tiny_root, root)
    (root / ds.BUILD_NAME).unlink()  # as after a format bump
    before = _mtimes(root)

    def replanned(minutes: float = 1.0, seed: int = 0) -> list[ds.PieceSpec]:
        return [dataclasses.replace(s, piano="fluidr3-grand") if s.piece_id == "gen-0002" else s
                for s in _tiny_plan(minutes, seed)]

    monkeypatch.setattr(ds, "plan_builtin", replanned)
    pieces = ds.ensure_builtin(root, minutes=1, seed=0, workers=1)
    after = _mtimes(root)
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed == {"gen-0002.mid", "gen-0002.wav", "gen-0002.json"}
    assert {p.id: p.piano for p in pieces}["gen-0002"] == "fluidr3-grand"
    x, _ = sf.read(str(root / "wav" / "gen-0002.wav"))
    y, _ = sf.read(str(tiny_root / "wav" / "gen-0002.wav"))
    assert x.shape != y.shape or not np.allclose(x, y)  # played by another piano


def test_manifest_errors(tmp_path):
    with pytest.raises(DataError, match="neuro-codec data render"):
        ds.load_manifest(tmp_path)
    (tmp_path / ds.MANIFEST_NAME).write_text("id,wav\nx,y.wav\n")
    with pytest.raises(DataError, match="columns"):
        ds.load_manifest(tmp_path)
    with pytest.raises(ValueError, match="data"):
        ds.load_manifest(tmp_path, data="nope")


# --- clips -----------------------------------------------------------------------------------

def test_clips_are_non_overlapping_windows_with_onsets(tiny_root):
    clip = 2**14
    data = ds.ClipDataset(tiny_root, "test", clip_samples=clip)
    lengths = {p.id: sf.info(str(p.wav_path)).frames for p in data.pieces}
    assert len(data) == sum(n // clip for n in lengths.values())
    starts: dict[str, list[int]] = {}
    for i in range(len(data)):
        item = data[i]
        starts.setdefault(item["piece_id"], []).append(item["start"])
    for pid, s in starts.items():
        assert s == [k * clip for k in range(lengths[pid] // clip)]

    item = data[3]
    piece = next(p for p in data.pieces if p.id == item["piece_id"])
    assert item["audio"].dtype == torch.float32 and item["audio"].shape == (clip,)
    assert item["onsets"].dtype == torch.float32 and item["onsets"].shape == (128, clip // 512)
    want, _ = sf.read(str(piece.wav_path), start=item["start"], frames=clip, dtype="float32")
    assert np.array_equal(item["audio"].numpy(), want)
    assert np.array_equal(item["onsets"].numpy(),
                          ds.onset_roll(piece.midi_path, item["start"], clip // 512))
    assert sum(data[i]["onsets"].sum().item() for i in range(len(data))) > 20


def test_random_offset_stays_inside_the_piece(tiny_root):
    clip = 2**15
    data = ds.ClipDataset(tiny_root, "train", clip_samples=clip, random_offset=True)
    n = sf.info(str(data.pieces[0].wav_path)).frames
    torch.manual_seed(0)
    starts = [data[i]["start"] for _ in range(5) for i in range(len(data))]
    for k, s in zip(list(range(len(data))) * 5, starts):
        assert k * clip <= s < (k + 1) * clip and s + clip <= n
    assert len(set(starts)) > len(data)  # offsets really vary


def test_clip_arguments_are_checked(tiny_root):
    with pytest.raises(ValueError, match="clip_samples"):
        ds.ClipDataset(tiny_root, "train", clip_samples=1000)
    with pytest.raises(ValueError, match="split"):
        ds.ClipDataset(tiny_root, "dev")
    with pytest.raises(DataError, match="no piece of at least"):  # every piece is < 47 s
        ds.ClipDataset(tiny_root, "train", clip_samples=512 * 2048)


# --- command line ----------------------------------------------------------------------------

def test_cli_render_and_info(tmp_path, monkeypatch, capsys):
    if shutil.which("fluidsynth") is None:
        pytest.skip("fluidsynth is not installed")
    monkeypatch.setattr(ds, "plan_builtin", _tiny_plan)
    root = tmp_path / "b"
    assert main(["data", "render", "--root", str(root), "--minutes", "1", "--workers", "1"]) == 0
    assert main(["data", "info", "--root", str(root)]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split() for line in out if line[:1].isalpha()}
    assert rows["train"][1] == "1" and rows["validation"][1] == "1" and rows["test"][1] == "2"
    assert rows["total"][1] == "4" and "music21-piano" in " ".join(rows["test"])
    assert main(["data", "info", "--root", str(tmp_path / "none")]) == 1
    assert "neuro-codec data render" in capsys.readouterr().err


@pytest.mark.slow
@needs_fluidsynth
def test_real_small_render(tmp_path):
    pieces = ds.ensure_builtin(tmp_path, minutes=2, seed=0, workers=2)
    assert {p.split for p in pieces} == set(ds.SPLITS)
    assert any(p.split == "test" and p.source != ds.SOURCE_GENERATED for p in pieces)
    for p in pieces:
        assert 10 < p.duration_s < 200
