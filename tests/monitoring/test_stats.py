"""The monitoring statistics against known answers and against their definitions."""

from __future__ import annotations

import numpy as np
import pytest

from monitoring import stats


def test_psi_and_js_are_zero_for_the_same_distribution_and_grow_with_shift():
    ref = np.array([100, 200, 300, 400], dtype=float)
    assert stats.psi(ref, ref * 3) == pytest.approx(0.0, abs=1e-12)
    assert stats.js_divergence(ref, ref * 3) == pytest.approx(0.0, abs=1e-12)
    small, large = np.array([120, 200, 300, 380]), np.array([400, 300, 200, 100])
    assert 0 < stats.psi(ref, small) < stats.psi(ref, large)
    assert 0 < stats.js_divergence(ref, small) < stats.js_divergence(ref, large) <= 1


def test_psi_matches_its_formula():
    p = np.array([0.25, 0.25, 0.5])
    q = np.array([0.5, 0.25, 0.25])
    expected = float(np.sum((q - p) * np.log(q / p)))
    assert stats.psi(p * 1000, q * 1000) == pytest.approx(expected, rel=1e-3)


def test_drift_on_empty_side_is_nan_not_zero():
    assert np.isnan(stats.psi(np.array([1.0, 2.0]), np.array([0.0, 0.0])))
    assert np.isnan(stats.js_divergence(np.array([0.0, 0.0]), np.array([1.0, 2.0])))


def test_bin_counts_puts_out_of_range_in_outer_bins_and_counts_missing():
    counts = stats.bin_counts(np.array([-5, 0.5, 1.5, 2.5, 99, np.nan]), [0, 1, 2, 3])
    assert counts.tolist() == [2, 1, 2, 1]


def test_reference_counts_append_missing():
    hist = {"edges": [0, 1, 2], "counts": [3, 4], "missing": 5}
    assert stats.reference_counts(hist).tolist() == [3, 4, 5]


def test_calibration_slope_and_intercept_recover_a_known_miscalibration():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1.5, 40_000)
    true_p = 1 / (1 + np.exp(-x))
    y = (rng.random(x.size) < true_p).astype(float)
    slope, intercept = stats.calibration_slope_intercept(y, true_p)
    assert slope == pytest.approx(1.0, abs=0.05) and intercept == pytest.approx(0.0, abs=0.05)
    # predictions twice as extreme and shifted up: slope 0.5, intercept -0.5 (in logit units)
    over = 1 / (1 + np.exp(-(2 * x + 1)))
    slope, intercept = stats.calibration_slope_intercept(y, over)
    assert slope == pytest.approx(0.5, abs=0.03) and intercept == pytest.approx(-0.5, abs=0.05)


def test_performance_of_a_perfect_and_a_useless_model():
    y = np.array([0, 0, 1, 1] * 50, dtype=float)
    good = stats.performance(y, np.where(y == 1, 0.9, 0.1))
    assert good["auroc"] == 1.0 and good["brier"] == pytest.approx(0.01)
    flat = stats.performance(y, np.full(y.size, 0.5))
    assert flat["auroc"] == 0.5 and np.isnan(flat["calibration_slope"])
    assert flat["ece"] == pytest.approx(0.0)
    assert stats.performance(np.array([]), np.array([]))["n"] == 0


def test_reliability_bins_cover_every_row():
    rng = np.random.default_rng(1)
    p = rng.random(1000)
    y = (rng.random(1000) < p).astype(float)
    bins = stats.reliability(y, p, bins=10)
    assert sum(b["n"] for b in bins) == 1000
    assert all(abs(b["predicted"] - b["observed"]) < 0.15 for b in bins)


def test_data_edges_give_flags_and_small_scales_one_bin_per_value():
    flags = np.array([0, 1, 1, 0, 1, np.nan])
    edges = stats.data_edges(flags)
    assert stats.bin_counts(flags, edges).tolist() == [2, 3, 1]
    stage = np.array([1, 2, 3, 4, 4, 4])
    assert stats.bin_counts(stage, stats.data_edges(stage)).tolist() == [1, 1, 1, 3, 0]
    more = np.array([0.0] * 70 + [1.0] * 30)
    assert (
        stats.psi(
            stats.bin_counts(more, stats.data_edges(flags)),
            stats.bin_counts(flags[:5], stats.data_edges(flags)),
        )
        > 0.1
    )  # a change in a flag's share is visible (quantile bins would merge 0 and 1)
    continuous = np.linspace(0, 1, 1000)
    assert len(stats.data_edges(continuous)) == 11


def test_input_matrix_reads_rows_in_feature_order_and_by_name():
    import json

    from monitoring.store import input_matrix

    names = ("a", "b", "c")
    texts = [
        json.dumps({"a": 1.0, "b": None, "c": 3.0}),  # as serving writes it
        json.dumps({"c": 6.0, "a": 4.0}),  # another order, a feature missing
        json.dumps({"a": 7.0, "b": 8.0, "c": 9.0, "old": 1.0}),  # an extra feature
    ]
    m = input_matrix(texts, names)
    np.testing.assert_array_equal(m[0], [1.0, np.nan, 3.0])
    np.testing.assert_array_equal(m[1], [4.0, np.nan, 6.0])
    np.testing.assert_array_equal(m[2], [7.0, 8.0, 9.0])


def test_iso_week_labels():
    import pandas as pd

    from monitoring.store import iso_week

    days = pd.Series(pd.to_datetime(["2026-03-02", "2026-03-08", "2026-03-09", "2027-01-01"]))
    assert iso_week(days).tolist() == ["2026-W10", "2026-W10", "2026-W11", "2026-W53"]
