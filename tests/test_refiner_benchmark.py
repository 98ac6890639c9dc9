"""benchmarks/refiner.py's table: means per (model, K) and each row's change from its own
first stage (K = 0), computed exactly."""

from benchmarks.refiner import COLUMNS, markdown, table


def _row(model, steps, **values):
    base = {c: 0.0 for c in COLUMNS}
    return {"model": model, "steps": steps, **base, **values}


def test_rows_are_means_and_changes_from_the_first_stage():
    rows = [_row("FREE", 0, mel_distance=0.004, quiet_lsd_db=20.0, si_snr_db=3.0),
            _row("FREE", 0, mel_distance=0.002, quiet_lsd_db=10.0, si_snr_db=5.0),
            _row("FREE", 2, mel_distance=0.0027, quiet_lsd_db=12.0, si_snr_db=2.0),
            _row("FREE", 2, mel_distance=0.0027, quiet_lsd_db=12.0, si_snr_db=3.0),
            _row("SPARSE", 0, mel_distance=0.005)]
    summary = table(rows)
    assert [(r["model"], r["steps"]) for r in summary] == [("FREE", 0), ("FREE", 2),
                                                           ("SPARSE", 0)]
    free0, free2 = summary[0], summary[1]
    assert free0["mel_distance"] == 0.003 and free0["quiet_lsd_db"] == 15.0
    assert free2["delta"]["mel_distance"] == 0.0027 - 0.003
    assert free2["delta"]["quiet_lsd_db"] == -3.0 and free2["delta"]["si_snr_db"] == -1.5
    assert all(v == 0 for v in free0["delta"].values())
    text = markdown(summary, 2, "python -m benchmarks.refiner")
    # Relative changes of the two "lower is better" spectral measures: −10 % and −20 %.
    assert "| FREE | 2 |" in text and "-10 %" in text and "-20 %" in text


def test_scoring_in_worker_processes_gives_the_serial_rows(tmp_path):
    import numpy as np

    from benchmarks.refiner import score, score_in_parallel
    from neuro_codec.model.presets import ModelKind
    from neuro_codec.model.refiner import BandSplitRefiner, RefinerConfig, RefinerFile
    from neuro_codec.model.shipped import shipped_path

    cfg = RefinerConfig(n_fft=256, stft_hop=128, channels=8, blocks=1, time_dim=8)
    RefinerFile(cfg, BandSplitRefiner(cfg).state_dict()).save(tmp_path / "r.pt")
    x = (0.1 * np.random.default_rng(0).standard_normal(11_025)).astype(np.float32)
    models = {ModelKind.FREE: str(shipped_path("free")),
              ModelKind.SPARSE: str(shipped_path("sparse"))}
    args = (str(tmp_path / "r.pt"), [("noise", x)], [1], 18, False)
    serial = score(models, *args, progress=False)
    parallel = score_in_parallel(models, *args, jobs=2)
    timing = ("encode_x_realtime", "decode_x_realtime")
    assert [(r["model"], r["steps"]) for r in parallel] == [
        ("FREE", 0), ("FREE", 1), ("SPARSE", 0), ("SPARSE", 1)]
    for a, b in zip(serial, parallel, strict=True):
        assert a.keys() == b.keys()
        for k in a.keys() - set(timing):
            # NaN where a measure has nothing to measure (no pause in noise, no ViSQOL)
            assert a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]), k
