"""The summary of per-clip rows (neuro_codec.evaluation.evaluate): means and sample sds that
leave out NaN, the mark of a measure a clip or codec does not have."""

import math

import pytest

from neuro_codec.evaluation.evaluate import nan_mean, nan_sd, summarize

NAN = float("nan")
ROWS = [
    {"clip": "a", "si_snr_db": 1.0, "visqol": NAN, "event_rate": 0.25, "mu": NAN},
    {"clip": "b", "si_snr_db": 2.0, "visqol": 4.0, "event_rate": 0.5, "mu": NAN},
    {"clip": "c", "si_snr_db": 6.0, "visqol": NAN, "event_rate": NAN, "mu": NAN},
]


def test_nan_mean_and_sd_leave_nan_out():
    assert nan_mean([1.0, NAN, 2.0, 6.0]) == 3.0
    assert nan_sd([1.0, NAN, 2.0, 6.0]) == pytest.approx(math.sqrt(7.0))   # ddof = 1: 14 / 2
    assert nan_mean(iter([5.0])) == 5.0 and math.isnan(nan_sd([5.0, NAN]))  # one value: no sd
    assert math.isnan(nan_mean([NAN, NAN])) and math.isnan(nan_mean([]))


def test_summarize_every_numeric_column_or_the_ones_asked():
    mean = summarize(ROWS)
    assert list(mean) == ["si_snr_db", "visqol", "event_rate", "mu"]   # "clip" is not a number
    assert mean["si_snr_db"] == 3.0 and mean["visqol"] == 4.0 and mean["event_rate"] == 0.375
    assert math.isnan(mean["mu"])
    table = summarize(ROWS, ("si_snr_db", "visqol"), with_sd=True)
    assert list(table) == ["si_snr_db", "si_snr_db_sd", "visqol", "visqol_sd"]
    assert table["si_snr_db_sd"] == pytest.approx(math.sqrt(7.0))
    assert math.isnan(table["visqol_sd"])
