"""The decision label (progress / maintain / regress) says what the plan does to the dose."""

from __future__ import annotations

import numpy as np
import pytest

from serving.policy import decide

CURRENT = {
    "rx_aerobic_sessions": 3,
    "rx_aerobic_minutes": 30.0,
    "rx_aerobic_pct_hrmax_low": 64.0,
    "rx_aerobic_pct_hrmax_high": 68.0,
    "rx_resistance_sessions": 2,
    "rx_resistance_sets": 2,
    "rx_resistance_pct_1rm_low": 45.0,
    "rx_resistance_pct_1rm_high": 50.0,
}


def plan(a_s=3, a_m=30.0, a_p=66.0, r_s=2, r_sets=2, r_p=47.5) -> np.ndarray:
    """A week plan (PLAN_COLUMNS order); intensities are the middles of the prescribed bands."""
    return np.array([a_s, a_m, a_p, r_s, r_sets, 12, r_p], dtype=float)


def test_the_same_bands_are_maintain() -> None:
    # the plan's point intensity is the middle of its band (64-68 -> 66): same band, same dose
    assert decide(plan(), CURRENT) == "maintain"


@pytest.mark.parametrize(
    "changed",
    [{"a_m": 33.0}, {"r_s": 3}, {"a_p": 69.0}, {"r_sets": 3, "a_m": 33.0}],
)
def test_any_rise_and_no_fall_is_progress(changed: dict) -> None:
    assert decide(plan(**changed), CURRENT) == "progress"


@pytest.mark.parametrize("changed", [{"a_p": 63.0}, {"a_s": 2}, {"r_p": 42.5, "a_m": 35.0}])
def test_any_fall_is_regress(changed: dict) -> None:
    assert decide(plan(**changed), CURRENT) == "regress"


def test_without_a_current_prescription_any_dose_is_progress() -> None:
    assert decide(plan(), {}) == "progress"
