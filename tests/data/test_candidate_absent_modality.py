"""A modality the plan does not contain has no dose: serving's zeros read as training's NaN."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.candidates import candidate_features
from features.contract.dose import PLAN_COLUMNS


def _features(plan: dict[str, float]) -> dict[str, np.ndarray]:
    cands = pd.DataFrame([{**plan, "modality": "aerobic"}])
    recent = {
        "aerobic_pct_hrmax_mean_28d": np.array([66.0]),
        "resistance_pct_1rm_mean_28d": np.array([55.0]),
        "aerobic_minutes_mean_28d": np.array([28.0]),
        "resistance_sets_mean_28d": np.array([2.0]),
        "aerobic_weekly_minutes_28d": np.array([80.0]),
    }
    return candidate_features(cands, 1, recent)


def test_a_plan_without_resistance_reads_the_same_with_zeros_or_nan():
    aerobic = {"aerobic_sessions": 3.0, "aerobic_minutes": 30.0, "aerobic_pct_hrmax": 70.0}
    zeros = _features(
        {
            **aerobic,
            "resistance_sessions": 0.0,
            "resistance_sets": 0.0,
            "resistance_reps": 0.0,
            "resistance_pct_1rm": 0.0,
        }
    )
    missing = _features(
        {
            **aerobic,
            "resistance_sessions": 0.0,
            "resistance_sets": np.nan,
            "resistance_reps": np.nan,
            "resistance_pct_1rm": np.nan,
        }
    )
    for c in zeros:
        np.testing.assert_array_equal(zeros[c], missing[c], err_msg=c)
    for c in ("resistance_sets", "resistance_reps", "resistance_pct_1rm"):
        assert np.isnan(zeros[c]).all(), c
    assert np.isnan(zeros["resistance_pct_1rm_vs_recent"]).all()
    assert zeros["aerobic_minutes"][0] == 30.0  # the modality the plan has keeps its dose


def test_a_plan_with_both_modalities_keeps_every_dose():
    plan = dict(zip(PLAN_COLUMNS, (3.0, 30.0, 70.0, 2.0, 2.0, 12.0, 60.0), strict=True))
    got = _features(plan)
    for c, v in plan.items():
        assert got[c][0] == v, c
