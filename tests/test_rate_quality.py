"""benchmarks/rate_quality.py's RVQ curve: one row per number of codebooks K, each coded at
exactly K × 10 bits per frame, and a K the model lacks refused before any clip is coded."""

import csv

import numpy as np
import pytest
import soundfile as sf

from benchmarks import rate_quality
from benchmarks.rate_quality import DEFAULT_CODEBOOKS, rvq_codebooks
from neuro_codec.errors import CodecError
from neuro_codec.model.checkpoint import Checkpoint
from neuro_codec.model.shipped import shipped_path

ONLY_RVQ = ["--free", "none", "--sparse", "none", "--mu-sparse", "none", "--opus", "none",
            "--no-visqol", "--no-clips"]


def test_the_default_ks_are_those_the_model_has():
    assert DEFAULT_CODEBOOKS == (1, 2, 3, 4, 6, 8)
    assert rvq_codebooks(None, 8, "m") == [1, 2, 3, 4, 6, 8]
    assert rvq_codebooks(None, 5, "m") == [1, 2, 3, 4, 5]
    assert rvq_codebooks([8, 2], 8, "m") == [8, 2]
    with pytest.raises(CodecError, match="--codebooks 9: m has 8 codebooks"):
        rvq_codebooks([2, 9], 8, "m")


def _one_piece(root):
    from neuro_codec.data.dataset import write_manifest
    from neuro_codec.data.pieces import Piece

    wav, mid = root / "wav" / "p0.wav", root / "midi" / "p0.mid"
    wav.parent.mkdir(parents=True)
    mid.parent.mkdir(parents=True)
    x = (0.2 * np.random.default_rng(0).standard_normal(22_050)).astype(np.float32)
    sf.write(wav, x, 22_050, subtype="FLOAT")
    mid.write_bytes(b"")
    write_manifest(root, [Piece("p0", "generated", "test", 1.0, wav, mid)])


def test_rvq_rows_at_each_k_bill_k_codebooks(tmp_path, capsys):
    _one_piece(tmp_path / "data")
    out = tmp_path / "rq"
    assert rate_quality.main(["--root", str(tmp_path / "data"), "--clips", "1", "--seconds",
                              "0.5", "--rvq", str(shipped_path("rvq")), "--codebooks", "1",
                              "3", "8", *ONLY_RVQ, "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out / "rate_quality.csv", newline="")))
    assert [r["codec"] for r in rows] == ["RVQ K=1", "RVQ K=3", "RVQ K=8"]
    frames = -(-11_025 // 512)                         # 0.5 s: 22 frames
    for r, k in zip(rows, (1, 3, 8)):
        assert float(r["payload_kbps"]) == pytest.approx(k * 10 * frames / 0.5 / 1e3)
    table = capsys.readouterr().out
    assert "| RVQ K=1 | 0.440 | " in table and "| RVQ K=3 | 1.320 | " in table
    assert (out / "fig4ab.png").stat().st_size > 10_000
    assert rate_quality.main(["--root", str(tmp_path / "none"), "--rvq",
                              str(shipped_path("rvq")), "--codebooks", "9", *ONLY_RVQ,
                              "--out", str(tmp_path / "bad")]) == 1
    model_id = Checkpoint.read(shipped_path("rvq")).model_id
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: --codebooks 9: {model_id} has 8 codebooks"]
    assert not (tmp_path / "bad" / "rate_quality.csv").exists()


def test_refined_rows_decode_with_the_refiner_beside_the_first_stage(tmp_path):
    """An untrained end-point refiner is the identity, so its rows score as the first stage;
    one with random output weights does not."""
    from factories import identity_and_random_refiners

    _one_piece(tmp_path / "data")
    identity_and_random_refiners(tmp_path)
    common = ["--root", str(tmp_path / "data"), "--clips", "1", "--seconds", "0.5",
              "--free", str(shipped_path("free")), "--sparse", "none", "--mu-sparse", "none",
              "--rvq", "none", "--opus", "none", "--no-visqol", "--no-clips"]
    mel = {}
    for name in ("identity", "random"):
        out = tmp_path / name
        assert rate_quality.main([*common, "--refiner", str(tmp_path / f"{name}.pt"),
                                  "--refiner-steps", "1", "2", "--out", str(out)]) == 0
        rows = list(csv.DictReader(open(out / "rate_quality.csv", newline="")))
        assert [r["codec"] for r in rows] == ["FREE", "FREE + refiner K=1",
                                              "FREE + refiner K=2"]
        mel[name] = [float(r["mel_distance"]) for r in rows]
    first, *refined = mel["identity"]
    assert refined == pytest.approx([first, first], rel=1e-3)
    assert all(abs(m - first) > 1e-3 * first for m in mel["random"][1:])


def test_mu_sparse_levels_are_read_against_the_rvq_curve_at_their_own_rate():
    """Linear interpolation in kbps between the RVQ rows that bracket a level's rate, NaN
    outside the curve's rates, and 'level'/'below' by each metric's direction."""
    from benchmarks.rate_quality import against_curve, curve_markdown

    def row(codec, kbps, snr, mel, vq):
        return {"codec": codec, "payload_kbps": kbps, "si_snr_db": snr, "mel_distance": mel,
                "visqol": vq}

    table = [row("RVQ K=2", 0.8, 0.0, 0.006, 3.0), row("RVQ K=1", 0.4, -2.0, 0.008, 2.6),
             row("μ-SPARSE μ=6", 0.5, -1.0, 0.0070, 2.8),   # curve at 0.5: −1.5, 0.0075, 2.7
             row("μ-SPARSE μ=21", 0.3, 1.0, 0.001, 4.0),    # below the curve's rates
             row("μ-SPARSE μ=6 + refiner K=1", 0.5, 9.0, 0.001, 4.5),   # not a level
             row("FREE", 0.6, 9.0, 0.001, 4.5)]
    rows = against_curve(table, "μ-SPARSE μ=", "RVQ K=")
    assert [r["codec"] for r in rows] == ["μ-SPARSE μ=6", "μ-SPARSE μ=21"]
    first = rows[0]
    assert first["si_snr_db_curve"] == pytest.approx(-1.5)
    assert first["mel_distance_curve"] == pytest.approx(0.0075)
    assert first["visqol_curve"] == pytest.approx(2.7)
    assert first["visqol_delta"] == pytest.approx(0.1)
    assert all(np.isnan(rows[1][f"{k}_curve"]) for k in ("si_snr_db", "mel_distance", "visqol"))
    text = curve_markdown(rows, "RVQ")
    assert "| μ-SPARSE μ=6 | 0.500 | -1.00 vs -1.50 (level) | 0.0070 vs 0.0075 (level) | " \
           "2.80 vs 2.70 (level) |" in text
    assert "4.00 (outside)" in text
    worse = against_curve([*table[:2], row("μ-SPARSE μ=9", 0.6, -2.0, 0.009, 2.0)],
                          "μ-SPARSE μ=", "RVQ K=")
    assert curve_markdown(worse, "RVQ").count("(below)") == 3
    # Two curve rows at one rate are one point (their mean); a NaN metric prints as "–".
    twice = [*table[:2], row("RVQ K=3", 0.8, 2.0, 0.004, float("nan")), table[2]]
    (mid,) = against_curve(twice, "μ-SPARSE μ=", "RVQ K=")
    assert mid["si_snr_db_curve"] == pytest.approx(-1.25)   # −2 + (1 − (−2))·(0.1/0.4)
    assert "| – |" in curve_markdown([{**mid, "visqol": float("nan")}], "RVQ")
