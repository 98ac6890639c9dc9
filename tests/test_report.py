"""The listening page (`neuro-codec report`): a tiny rate–quality run of the tiny checkpoint on
two 1-s excerpts, and a tiny generalization run of it on the same two pieces played by other
pianos, their page opened from file:// in headless Chromium, and bad input."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pretty_midi
import pytest
import soundfile as sf
from browser import Chromium, find_chromium
from factories import needs_pianos

from benchmarks import generalization, rate_quality
from neuro_codec import compression
from neuro_codec.cli import main
from neuro_codec.coding.bitstream import read_snc
from neuro_codec.data.audio import HOP_SAMPLES, SAMPLE_RATE_HZ, bits_per_second, save_audio
from neuro_codec.data.dataset import load_manifest, write_manifest
from neuro_codec.data.held_out import variant_root
from neuro_codec.data.pianos import HELD_OUT_PIANO, PIANOS
from neuro_codec.data.pieces import Piece
from neuro_codec.data.synthetic import SyntheticTones
from neuro_codec.errors import ReportError
from neuro_codec.evaluation.decoded_clips import (
    INDEX_NAME,
    DecodedClipsWriter,
    read_decoded_clips,
    slug,
)
from neuro_codec.evaluation.decoded_clips import ReferenceClip as Ref
from neuro_codec.evaluation.report import choose_excerpts
from neuro_codec.evaluation.report_page import markdown_html
from neuro_codec.fileio import atomic_folder
from neuro_codec.training import TrainConfig, train

HELD_OUT_NAME = PIANOS[HELD_OUT_PIANO].label

CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (scripts/setup.sh installs Debian's "
                             "chromium)")
needs_opus = pytest.mark.skipif(shutil.which("opusenc") is None,
                                reason="opus-tools is not installed (scripts/setup.sh does)")
SECONDS = 1.0
FRAME_S = HOP_SAMPLES / SAMPLE_RATE_HZ


def piano_like(seconds: float, seed: int) -> np.ndarray:
    """Struck, decaying harmonic notes: audio the spectrogram and the encoder both react to."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    x = np.zeros_like(t)
    for start in np.arange(0, seconds, 0.25):
        f0 = 110 * 2 ** (rng.integers(0, 36) / 12)
        env = np.where(t >= start, np.exp(-(t - start) * 6), 0)
        x += sum(env * np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6))
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def write_midi(path: Path, seed: int) -> None:
    """Five struck notes in 1.25 s: what the tiny pieces play when rendered on other pianos."""
    rng = np.random.default_rng(seed)
    pm = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(90, int(rng.integers(48, 84)), t, t + 0.4)
                   for t in (0.0, 0.25, 0.5, 0.75, 1.0)]
    pm.instruments.append(piano)
    path.parent.mkdir(parents=True, exist_ok=True)
    pm.write(str(path))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A real rate–quality run (tiny FREE checkpoint and Opus 6 kbps, 2 excerpts of 1 s from
    2 pieces, clips kept), an energy report and a selectivity figure of the same model."""
    root = tmp_path_factory.mktemp("tiny-run")
    cfg = TrainConfig(model="free", preset="tiny", data="synthetic", steps=2, seed=0)
    train(cfg, root / "train", dataset=SyntheticTones(n_clips=2, clip_samples=2**13))
    ckpt = root / "train" / "last.pt"
    data = root / "data"
    pieces = []
    for i, source in enumerate(("generated", "music21-piano")):
        wav = data / "wav" / f"piece{i}.wav"
        save_audio(wav, piano_like(1.5, seed=i))
        write_midi(data / "midi" / f"p{i}.mid", seed=i)
        pieces.append(Piece(f"piece{i}", source, "test", 1.5, wav, data / "midi" / f"p{i}.mid"))
    write_manifest(data, pieces)
    rq = root / "rq"
    assert rate_quality.main([
        "--root", str(data), "--clips", "2", "--seconds", str(SECONDS), "--free", str(ckpt),
        "--sparse", "none", "--mu-sparse", "none", "--rvq", "none", "--opus", "6",
        "--no-visqol", "--out", str(rq)]) == 0
    from hardware.energy import main as energy_main  # the snnTorch backend needs no Lava

    energy = root / "energy"
    assert energy_main(["--checkpoint", str(ckpt), "--audio", str(pieces[0].wav_path),
                        "--backend", "snntorch", "--out", str(energy), "--quiet"]) == 0
    selectivity = root / "selectivity"
    write_selectivity(selectivity)
    return SimpleNamespace(ckpt=ckpt, data=data, rq=rq, energy=energy,
                           selectivity=selectivity, pieces=pieces)


@pytest.fixture(scope="module")
def tiny_generalization(tiny_run):
    """A real generalization run of the same model (and Opus 6 kbps) on the tiny run's two
    pieces rendered again on the training pianos ("seen") and on the held-out piano."""
    out = tiny_run.data.parent / "generalization"
    assert generalization.main([
        "--root", str(tiny_run.data), "--clips", "2", "--seconds", str(SECONDS),
        "--free", str(tiny_run.ckpt), "--sparse", "none", "--mu-sparse", "none", "--rvq",
        "none", "--opus", "6", "--no-visqol", "--out", str(out)]) == 0
    return out


def write_selectivity(folder: Path) -> None:
    """What `neuro-codec analyze --out` writes, from seeded events and onsets."""
    from neuro_codec.evaluation import selectivity as sel
    from neuro_codec.figures import save_figure

    rng = np.random.default_rng(0)
    z = (rng.random((3, 8, 64)) < 0.1).astype(np.uint8)
    onsets = (rng.random((3, len(sel.NOTE_NAMES), 64)) < 0.05).astype(np.uint8)
    corr, lags = sel.event_onset_correlation(z, onsets)
    phi = sel.peak_prominence(corr, lags)
    summary = sel.summarize(corr, lags, phi, clips=3, events_per_clip=float(z.sum() / 3))
    folder.mkdir(parents=True)
    fig = sel.plot_selectivity({"free (tiny)": (corr, lags, phi)})
    save_figure(fig, folder / "selectivity.png", dpi=40)
    (folder / "selectivity.json").write_text(json.dumps({"free (tiny)": summary.to_dict()}))


def audio_and_images(browser: Chromium) -> tuple[list[dict], list[dict]]:
    """Every player once its metadata loaded (or failed), and every image's natural size."""
    audio = browser.evaluate("""
        Promise.all([...document.querySelectorAll('audio')].map(a => a.readyState >= 1 ? 0 :
          new Promise(done => { a.addEventListener('loadedmetadata', done, {once: true});
                                a.addEventListener('error', done, {once: true}); })))
        .then(() => [...document.querySelectorAll('audio')].map(a => ({
          src: a.getAttribute('src'), ready: a.readyState, duration: a.duration,
          error: a.error && a.error.code})))""")
    images = browser.evaluate(
        "[...document.images].map(i => ({src: i.getAttribute('src'), w: i.naturalWidth,"
        " h: i.naturalHeight}))")
    return audio, images


def build_page(run, out: Path, *extra: str) -> dict:
    assert main(["report", "--from", str(run.rq), "--out", str(out), "--excerpts", "2",
                 "--energy", str(run.energy), "--selectivity", str(run.selectivity),
                 *extra]) == 0
    return json.loads((out / "report.json").read_text())


def test_the_run_keeps_exactly_what_it_scored(tiny_run):
    clips = read_decoded_clips(tiny_run.rq)
    assert [c.clip for c in clips.clips] == ["piece0@0s", "piece1@0s"]
    assert clips.codecs == ["Opus 6 kbps", "FREE"]
    model = compression.load_model(tiny_run.ckpt)
    n = int(SECONDS * SAMPLE_RATE_HZ)
    for ref, piece in zip(clips.clips, tiny_run.pieces):
        x, rate = sf.read(ref.audio, dtype="float32")
        source, _ = sf.read(piece.wav_path, dtype="float32")   # 16-bit both: lossless copy
        assert rate == SAMPLE_RATE_HZ and np.array_equal(x, source[:n])
        free = next(d for d in clips.of_clip(ref.clip) if d.codec == "FREE")
        assert np.array_equal(read_snc(free.events)[1], compression.events(model, x))
        opus = next(d for d in clips.of_clip(ref.clip) if d.codec == "Opus 6 kbps")
        assert opus.events is None and sf.info(opus.audio).frames == n
    assert "--clips 2" in clips.command
    assert clips.command.startswith("python -m benchmarks.rate_quality ")


@needs_pianos
def test_the_generalization_run_keeps_what_it_scored_per_piano_set(tiny_run,
                                                                   tiny_generalization):
    model = compression.load_model(tiny_run.ckpt)
    n = int(SECONDS * SAMPLE_RATE_HZ)
    rows = list(csv.DictReader(open(tiny_generalization / "generalization.csv", newline="")))
    for variant, pianos in (("seen", ["fluidr3-grand", "fluidr3-bright"]),
                            ("held-out", [HELD_OUT_PIANO, HELD_OUT_PIANO])):
        clips = read_decoded_clips(tiny_generalization / variant)
        assert [c.clip for c in clips.clips] == ["piece0@0s", "piece1@0s"]
        assert [c.piano for c in clips.clips] == pianos
        assert clips.codecs == ["Opus 6 kbps", "FREE"]
        assert clips.command.startswith("python -m benchmarks.generalization --root ")
        mine = {(r["codec"], r["clip"]): r for r in rows if r["pianos"] == variant}
        assert set(mine) == {(d.codec, d.clip) for d in clips.decoded}
        wavs = {p.id: p.wav_path for p in load_manifest(variant_root(tiny_run.data, variant))}
        for ref in clips.clips:
            x, _ = sf.read(ref.audio, dtype="float32")
            source, _ = sf.read(wavs[ref.piece], dtype="float32")   # 16-bit both: lossless
            assert np.array_equal(x, source[:n])
            free = next(d for d in clips.of_clip(ref.clip) if d.codec == "FREE")
            header, z = read_snc(free.events)
            assert np.array_equal(z, compression.events(model, x))
            # The row's bitrate is this very file's.
            assert float(mine[("FREE", ref.clip)]["payload_kbps"]) == bits_per_second(
                header.payload_bits, n) / 1e3


@needs_pianos
def test_keeping_the_clips_changes_none_of_the_generalization_numbers(tiny_run,
                                                                     tiny_generalization,
                                                                     tmp_path):
    out = tmp_path / "gen"
    assert generalization.main([
        "--root", str(tiny_run.data), "--clips", "2", "--seconds", str(SECONDS), "--variants",
        "held-out", "--free", "none", "--sparse", "none", "--mu-sparse", "none", "--rvq",
        "none", "--opus", "6", "--no-visqol", "--no-clips", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "generalization.csv", "generalization.md", "generalization.png"]
    kept = (tiny_generalization / "generalization.csv").read_text().splitlines()
    assert out.joinpath("generalization.csv").read_text().splitlines() == kept[:1] + [
        line for line in kept if line.startswith("Opus 6 kbps,held-out,")]


@needs_opus
@needs_chromium
def test_the_page_plays_and_shows_everything_in_chromium(tiny_run, tmp_path):
    out = tmp_path / "page"
    record = build_page(tiny_run, out)
    tracks = [t for e in record["excerpts"] for t in e["tracks"]]
    assert [t["codec"] for t in tracks] == ["reference", "Opus 6 kbps", "FREE"] * 2
    assert [t["events"] is not None for t in tracks] == [False, False, True] * 2
    with Chromium(CHROMIUM) as browser:
        browser.viewport(1280, 900)
        browser.open((out / "index.html").as_uri())
        audio, images = audio_and_images(browser)
        columns = {}
        for width in (1280, 390):   # two columns on a laptop, one on a phone
            browser.viewport(width, 900, mobile=width < 800)
            columns[width] = browser.evaluate(
                "getComputedStyle(document.querySelector('.cards')).gridTemplateColumns"
                ".split(' ').length")
        browser.viewport(1280, 900)
        size = browser.screenshot(tmp_path / "page.png")
        requests = list(browser.requests)
    assert [a["src"] for a in audio] == [t["audio"] for t in tracks]
    for a, t in zip(audio, tracks):
        assert a["error"] is None and a["ready"] >= 1, a
        assert abs(a["duration"] - t["duration_s"]) <= FRAME_S, (a, t)
        assert abs(t["duration_s"] - SECONDS) <= FRAME_S
    # 6 spectrograms, fig4ab, the selectivity figure and energy.png; each drawn.
    assert len(images) == 9 and all(i["w"] > 0 and i["h"] > 0 for i in images), images
    assert {t["image"] for t in tracks} <= {i["src"] for i in images}
    assert columns == {1280: 2, 390: 1}
    # Nothing leaves the folder: every request is a file inside it, or an inline data: URL
    # (Chromium's own media-control icons).
    inside = out.resolve().as_uri() + "/"
    assert all(u.startswith(inside) or u.startswith("data:") for u in requests), requests
    assert {inside + t["audio"] for t in tracks} <= set(requests)
    from PIL import Image

    with Image.open(tmp_path / "page.png") as im:
        assert im.size == size and size[0] >= 1200 and size[1] > 2000


@needs_pianos
@needs_opus
@needs_chromium
def test_the_held_out_piano_plays_and_shows_in_chromium(tiny_run, tiny_generalization,
                                                        tmp_path):
    out = tmp_path / "page"
    record = build_page(tiny_run, out, "--held-out", str(tiny_generalization / "held-out"))
    excerpts = record["held_out"]["excerpts"]
    held = [t for e in excerpts for t in e["tracks"]]
    assert [(e["clip"], e["piano"]) for e in excerpts] == [("piece0@0s", HELD_OUT_PIANO),
                                                           ("piece1@0s", HELD_OUT_PIANO)]
    assert [t["codec"] for t in held] == ["reference", "Opus 6 kbps", "FREE"] * 2
    # The same clip names as the main excerpts, in files of their own.
    assert all(t["audio"].startswith("audio/held-out/") for t in held)
    assert all(t["image"].startswith("figures/held-out/") for t in held)
    with Chromium(CHROMIUM) as browser:
        browser.viewport(1280, 900)
        browser.open((out / "index.html").as_uri())
        audio, images = audio_and_images(browser)
        in_section = browser.evaluate(
            "[...document.querySelectorAll('section[id^=\"held-out-\"] audio')]"
            ".map(a => a.getAttribute('src'))")
        size = browser.screenshot(tmp_path / "page.png")
        requests = list(browser.requests)
    assert in_section == [t["audio"] for t in held]
    by_src = {a["src"]: a for a in audio}
    for t in held:
        a = by_src[t["audio"]]
        assert a["error"] is None and a["ready"] >= 1, a
        assert abs(a["duration"] - t["duration_s"]) <= FRAME_S, (a, t)
        assert abs(t["duration_s"] - SECONDS) <= FRAME_S
    # 6 + 6 spectrograms, fig4ab, generalization.png, the selectivity figure and energy.png.
    assert len(images) == 16 and all(i["w"] > 0 and i["h"] > 0 for i in images), images
    assert {t["image"] for t in held} | {"figures/generalization.png"} <= {
        i["src"] for i in images}
    inside = out.resolve().as_uri() + "/"
    assert all(u.startswith(inside) or u.startswith("data:") for u in requests), requests
    assert {inside + t["audio"] for t in held} <= set(requests)
    assert size[1] > 2000


def test_the_page_shows_the_csv_numbers_and_decodes_nothing(tiny_run, tmp_path, monkeypatch):
    def no_decoding(*args, **kwargs):
        raise AssertionError("the page decoded audio")

    monkeypatch.setattr(compression, "decode", no_decoding)
    monkeypatch.setattr(compression, "decode_events", no_decoding)
    run = tmp_path / "rq"
    shutil.copytree(tiny_run.rq, run)
    rows = list(csv.DictReader(open(run / "rate_quality.csv", newline="")))
    for i, r in enumerate(rows):   # a metric the benchmark may add later shows up unasked,
        r["new_score"] = f"{0.125 + i}" if r["codec"] == "FREE" else ""   # blank: n/a
        r["note"] = "text"           # and a column of text does not
    with open(run / "rate_quality.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    out = tmp_path / "page"
    build_page(SimpleNamespace(**{**vars(tiny_run), "rq": run}), out)
    page = (out / "index.html").read_text()
    free = next(r for r in rows if r["codec"] == "FREE" and r["clip"] == "piece1@0s")
    assert f"{float(free['si_snr_db']):.2f}" in page
    assert f"{float(free['payload_kbps']):.3f} kbps" in page
    assert page.count("<dt>new score</dt>") == 4 and f"{float(free['new_score']):.4g}" in page
    assert "<dt>note</dt>" not in page
    # The numbers come first in the order SI-SNR, mel distance, ViSQOL after the bitrate.
    lead = page.split('<dl class="lead">')[1].split("</dl>")[0]
    assert [lead.index(k) for k in ("payload", "SI-SNR", "mel distance", "ViSQOL")] == sorted(
        lead.index(k) for k in ("payload", "SI-SNR", "mel distance", "ViSQOL"))
    links = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert links and not [u for u in links if u.startswith("/") or ":" in u or ".." in u]
    assert "http:" not in page and "https:" not in page


@needs_pianos
def test_the_held_out_section_shows_that_runs_numbers_and_table(tiny_run, tiny_generalization,
                                                               tmp_path, monkeypatch):
    def no_decoding(*args, **kwargs):
        raise AssertionError("the page decoded audio")

    monkeypatch.setattr(compression, "decode", no_decoding)
    monkeypatch.setattr(compression, "decode_events", no_decoding)
    out = tmp_path / "page"
    record = build_page(tiny_run, out, "--held-out", str(tiny_generalization / "held-out"),
                        "--held-out-excerpts", "1")
    assert [e["clip"] for e in record["held_out"]["excerpts"]] == ["piece0@0s"]
    assert record["held_out"]["source"] == str(tiny_generalization / "held-out")
    page = (out / "index.html").read_text()
    held = page.split('<section id="held-out">')[1].split('<section id="generalization">')[0]
    assert f"<h2>Played by a piano it never heard ({HELD_OUT_NAME})</h2>" in held
    assert "Held-out piano, excerpt 1: piece0@0s" in held and "excerpt 2" not in held
    assert f"played by {HELD_OUT_NAME}" in held
    rows = list(csv.DictReader(open(tiny_generalization / "generalization.csv", newline="")))

    def shown(r: dict) -> list[str]:
        return [f"<dd>{float(r['payload_kbps']):.3f} <span class=unit>kbps",
                f"<dd>{float(r['si_snr_db']):.2f} <span class=unit>dB",
                f"<dd>{float(r['mel_distance']):.4f}</dd>"]

    for codec in ("Opus 6 kbps", "FREE"):
        mine, seen = (next(r for r in rows if (r["codec"], r["clip"], r["pianos"]) == (
            codec, "piece0@0s", variant)) for variant in ("held-out", "seen"))
        assert shown(mine) != shown(seen)   # else the check below could not tell them apart
        assert all(s in held for s in shown(mine)), (shown(mine), held)
        assert not all(s in held for s in shown(seen))
    # the generalization table and figure, with the command that made them
    table = page.split('<section id="generalization">')[1].split("</section>")[0]
    assert "<td>held-out</td>" in table and "<td>seen</td>" in table
    assert "Made by <code>python -m benchmarks.generalization --root " in table
    assert 'src="figures/generalization.png"' in table
    assert "--held-out-excerpts 1" in page.split("<footer>")[1]


def _only_seen_rows(gen: Path) -> None:
    lines = (gen / "generalization.csv").read_text().splitlines(keepends=True)
    (gen / "generalization.csv").write_text("".join(
        lines[:1] + [line for line in lines if ",seen," in line]))


def _one_row_less(gen: Path) -> None:
    lines = (gen / "generalization.csv").read_text().splitlines(keepends=True)
    (gen / "generalization.csv").write_text("".join(
        line for line in lines if not line.startswith("FREE,held-out,piece1@0s,")))


@needs_pianos
@pytest.mark.parametrize("held_out, damage, message", [
    ("nowhere", None, "is not a folder"),
    ("seen", None, "is not the held-out piano's folder of a generalization run (expected "),
    (".", None, "is not the held-out piano's folder of a generalization run (give "),
    ("held-out", lambda gen: (gen / "generalization.csv").unlink(),
     "of a finished generalization run: no generalization.csv in "),
    ("held-out", lambda gen: (gen / "held-out" / INDEX_NAME).unlink(), "holds no kept clips"),
    ("held-out", lambda gen: (gen / "held-out" / "clips" / slug("piece1@0s") /
                              "free.flac").unlink(), "is missing (clips.json lists it)"),
    ("held-out", _only_seen_rows, "has no rows with columns codec, clip, pianos where "
                                  "pianos is held-out"),
    ("held-out", _one_row_less, "has no held-out row for FREE on piece1@0s"),
    # found while the page is half built: the temporary folder goes too
    ("held-out", lambda gen: (gen / "held-out" / "clips" / slug("piece1@0s") /
                              "free.snc").write_bytes(b"not events"), "not an .snc file"),
])
def test_a_bad_held_out_folder_is_one_error_line_and_no_page(tiny_run, tiny_generalization,
                                                             tmp_path, capsys, held_out,
                                                             damage, message):
    gen = tmp_path / "gen"
    shutil.copytree(tiny_generalization, gen)
    if damage is not None:
        damage(gen)
    capsys.readouterr()
    assert main(["report", "--from", str(tiny_run.rq), "--held-out", str(gen / held_out),
                 "--out", str(tmp_path / "page")]) == 1
    lines = capsys.readouterr().err.splitlines()   # a progress bar may come before the error
    assert lines[-1].startswith("error: ") and message in lines[-1], lines
    assert sum("error" in line for line in lines) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gen"]


def test_a_folder_that_is_not_a_run_is_one_error_line(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "rate_quality.csv").write_text("codec,clip\n")
    out = tmp_path / "page"
    assert main(["report", "--from", str(tmp_path / "run"), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "is not a rate–quality run with saved clips" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


@pytest.mark.parametrize("name, damage, message", [
    ("free.flac", lambda f: f.unlink(), "is missing (clips.json lists it)"),
    ("free.flac", lambda f: f.write_bytes(b"not audio"), "is not a readable audio file"),
    # found while the page is half built: the temporary folder goes too
    ("free.snc", lambda f: f.write_bytes(b"not events"), "free.snc: not an .snc file"),
])
def test_a_missing_or_broken_clip_is_one_error_line_and_leaves_the_old_page(
        tiny_run, tmp_path, capsys, name, damage, message):
    run = tmp_path / "rq"
    shutil.copytree(tiny_run.rq, run)
    out = tmp_path / "page"
    out.mkdir()
    (out / "report.json").write_text(json.dumps({"kind": "neuro-codec listening page"}))
    (out / "index.html").write_text("the old page")
    damage(run / "clips" / slug("piece1@0s") / name)
    capsys.readouterr()
    assert main(["report", "--from", str(run), "--out", str(out), "--excerpts", "2"]) == 1
    lines = capsys.readouterr().err.splitlines()   # a progress bar may come before the error
    assert lines[-1].startswith("error: ") and message in lines[-1], lines
    assert sum("error" in line for line in lines) == 1
    # The old page is untouched and no temporary folder is left beside it.
    assert (out / "index.html").read_text() == "the old page"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page", "rq"]


def test_out_must_be_new_empty_or_a_page(tiny_run, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(["report", "--from", str(tiny_run.rq), "--out", str(out)]) == 1
    assert "holds other files and no listening page" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "keep me"


def test_energy_and_selectivity_folders_without_their_report_are_refused(tiny_run, tmp_path,
                                                                         capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    for flag, message in (("--energy", "holds no energy report"),
                          ("--selectivity", "holds no selectivity figure")):
        assert main(["report", "--from", str(tiny_run.rq), "--out", str(tmp_path / "page"),
                     flag, str(empty)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "page").exists()


def test_writer_and_reader_of_decoded_clips(tmp_path):
    w = DecodedClipsWriter(tmp_path, "cmd")
    x = np.linspace(-1, 1, 1000, dtype=np.float32)
    w.reference("a@0s", x)
    w.reference("b@0s", x, piano="csound-grand")
    w.decoded("μ-SPARSE μ=6", "a@0s", 2 * x)     # overshoot is clipped, not wrapped
    with pytest.raises(ValueError, match="clashes"):
        w.decoded("μ-sparse μ 6", "a@0s", x)
    with pytest.raises(ValueError, match="before its decoded audio"):
        w.decoded("FREE", "c@0s", x)
    with pytest.raises(ReportError, match="no clips.json"):
        read_decoded_clips(tmp_path)
    w.write_index()
    clips = read_decoded_clips(tmp_path)
    assert clips.codecs == ["μ-SPARSE μ=6"] and clips.command == "cmd"
    assert [(c.clip, c.piano) for c in clips.clips] == [("a@0s", None), ("b@0s", "csound-grand")]
    assert clips.decoded[0].audio == tmp_path / "clips" / "a-0s" / "mu-sparse-mu-6.flac"
    y, _ = sf.read(clips.decoded[0].audio, dtype="float32")
    assert y.min() == -1.0 and y.max() == 32767 / 32768 and y[0] == -1.0
    DecodedClipsWriter(tmp_path)      # a new run in the folder: the old index no longer holds
    assert not (tmp_path / INDEX_NAME).exists()


def test_excerpts_take_one_clip_per_piece_first():
    clips = [Ref(name, 10, Path(name)) for name in
             ("a@0s", "b@0s", "a@5s", "c@0s", "b@5s", "d@0s")]
    assert [c.clip for c in choose_excerpts(clips, 4)] == ["a@0s", "b@0s", "c@0s", "d@0s"]
    assert [c.clip for c in choose_excerpts(clips, 5)][-1] == "a@5s"


def test_markdown_tables_become_escaped_html():
    out = markdown_html("# Title\n\nText with `code` and **bold** <script>.\n\n"
                        "| a | b |\n|---|---:|\n| <i> | 1 |\n")
    assert "<h4>Title</h4>" in out and "<code>code</code>" in out
    assert "<strong>bold</strong>" in out and "&lt;script&gt;" in out
    assert "<th>a</th><th>b</th>" in out and "<td>&lt;i&gt;</td><td>1</td>" in out
    assert "---" not in out


def test_atomic_folder_replaces_whole_or_not_at_all(tmp_path):
    dest = tmp_path / "page"
    with atomic_folder(dest) as tmp:
        (tmp / "a").write_text("1")
    assert (dest / "a").read_text() == "1"
    with pytest.raises(RuntimeError), atomic_folder(dest) as tmp:
        (tmp / "b").write_text("half")
        raise RuntimeError
    assert sorted(p.name for p in dest.iterdir()) == ["a"]
    with atomic_folder(dest) as tmp:
        (tmp / "c").write_text("2")
    assert sorted(p.name for p in dest.iterdir()) == ["c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page"]



def test_without_from_a_failed_pass_is_its_one_error_line_and_leaves_no_page(tmp_path, capfd):
    out = tmp_path / "page"
    assert main(["report", "--out", str(out), "--root", str(tmp_path / "no-data"),
                 "--no-visqol"]) == 1
    err = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert err[-1].startswith("error: no built-in dataset at ") and len(err) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.slow
def test_without_from_the_page_runs_its_own_pass_and_plays_it_in_place(tiny_run, tmp_path):
    out = tmp_path / "page"
    assert main(["report", "--out", str(out), "--root", str(tiny_run.data), "--excerpts", "2",
                 "--seconds", "0.5", "--no-visqol"]) == 0
    record = json.loads((out / "report.json").read_text())
    tracks = [t for e in record["excerpts"] for t in e["tracks"]]
    assert len(record["excerpts"]) == 2 and len(tracks) == 2 * 13   # shipped models, Opus
    assert all(t["audio"].startswith("rate_quality/clips/") for t in tracks)
    assert all((out / t["audio"]).is_file() and (out / t["image"]).is_file() for t in tracks)
    assert read_decoded_clips(out / "rate_quality").command.startswith(
        "python -m benchmarks.rate_quality --clips 2 ")


def test_generalization_scores_refined_rows_beside_the_first_stage(tiny_run, tiny_generalization,
                                                                   tmp_path):
    """`--refiner FILE --refiner-steps 1 2`: a refined row per K beside each spiking model's
    first-stage row, on every piano set; an untrained end-point refiner is the identity, so
    its rows score as the first stage's (a random one's do not)."""
    from factories import identity_and_random_refiners

    identity_and_random_refiners(tmp_path)
    mel = {}
    for name in ("identity", "random"):
        out = tmp_path / name
        assert generalization.main([
            "--root", str(tiny_run.data), "--clips", "2", "--seconds", str(SECONDS),
            "--free", str(tiny_run.ckpt), "--sparse", "none", "--mu-sparse", "none", "--rvq",
            "none", "--opus", "none", "--no-visqol", "--no-clips", "--refiner",
            str(tmp_path / f"{name}.pt"), "--refiner-steps", "1", "2", "--out", str(out)]) == 0
        rows = list(csv.DictReader(open(out / "generalization.csv", newline="")))
        codecs = list(dict.fromkeys((r["codec"], r["pianos"]) for r in rows))
        assert codecs == [(c, v) for v in ("seen", "held-out")
                          for c in ("FREE", "FREE + refiner K=1", "FREE + refiner K=2")]
        mel[name] = {key: np.mean([float(r["mel_distance"]) for r in rows
                                   if (r["codec"], r["pianos"]) == key]) for key in codecs}
    for v in ("seen", "held-out"):
        first = mel["identity"][("FREE", v)]
        for k in (1, 2):
            assert mel["identity"][(f"FREE + refiner K={k}", v)] == pytest.approx(first, rel=1e-3)
            assert abs(mel["random"][(f"FREE + refiner K={k}", v)] - first) > 1e-3 * first


def test_generalization_refuses_a_codec_name_twice(tmp_path, capsys):
    """`--model FREE=…` beside the shipped FREE would replace its rows: refused before any
    model is loaded or clip rendered, with or without kept clips."""
    for keep in ([], ["--no-clips"]):
        with pytest.raises(SystemExit) as e:
            generalization.main(["--model", f"FREE={tmp_path / 'other.pt'}", "--sparse", "none",
                                 "--mu-sparse", "none", "--rvq", "none", "--opus", "none",
                                 "--out", str(tmp_path / "out"), *keep])
        assert e.value.code == 2
        assert "repeat" in capsys.readouterr().err
    assert not (tmp_path / "out" / "generalization.csv").exists()
