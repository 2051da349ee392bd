"""Shortcuts taken for speed on the one-patient path give what the general code gives: candidate
features with non-finite session counts, and monitoring inputs with infinities."""

from __future__ import annotations

import numpy as np

from features import FEATURE_SET
from features.candidates import COLUMNS, candidate_features
from features.history import RECENT_COLUMNS
from features.table import Table
from serving.monitoring import model_inputs


def test_candidate_counts_that_are_not_finite_count_as_nan_to_num_says() -> None:
    n = 4
    sessions = np.array([3.0, np.nan, np.inf, 2.0])
    cands = Table(
        {
            "aerobic_sessions": sessions,
            "aerobic_minutes": np.full(n, 30.0),
            "aerobic_pct_hrmax": np.full(n, 70.0),
            "resistance_sessions": np.array([2.0, 2.0, np.nan, -np.inf]),
            "resistance_sets": np.full(n, 2.0),
            "resistance_reps": np.full(n, 12.0),
            "resistance_pct_1rm": np.full(n, 60.0),
            "modality": np.array(["aerobic", "resistance", "aerobic", None], dtype=object),
        }
    )
    recent = {c: np.array([np.nan, 0.0, 20.0, np.inf]) for c in RECENT_COLUMNS}
    a = np.nan_to_num(sessions)
    r = np.nan_to_num(cands.values("resistance_sessions"))
    with np.errstate(invalid="ignore", over="ignore"):
        got = candidate_features(cands, n, recent)
        weekly = np.where(a == 0, 0.0, a * 30.0)
    np.testing.assert_array_equal(got["total_sessions"], a + r)
    np.testing.assert_array_equal(got["weekly_aerobic_minutes"], weekly)
    # minutes over the usual minutes: only where the usual is a positive finite number
    want = np.array([np.nan, np.nan, 30.0 / 20.0, np.nan])
    np.testing.assert_array_equal(got["session_minutes_vs_recent"], want)
    assert list(got) == list(COLUMNS)


def test_monitoring_inputs_store_non_numbers_as_none() -> None:
    row = np.arange(len(FEATURE_SET.columns), dtype=float)
    row[[0, 5, 9]] = [np.nan, np.inf, -np.inf]
    (got,) = model_inputs([row])
    assert list(got) == list(FEATURE_SET.columns)
    assert [got[c] for c in np.array(FEATURE_SET.columns)[[0, 5, 9]]] == [None, None, None]
    assert got[FEATURE_SET.columns[1]] == 1.0 and type(got[FEATURE_SET.columns[1]]) is float
