"""The dose vocabulary (features/contract/dose.py) is the reference's table, and every reader
agrees with it: labels, the simulator, the policy's prescriptions and the contract's week plan."""

from __future__ import annotations

import numpy as np
import pytest

from features.contract import dose
from features.contract.rest import ProgressionReference, WeekPlan
from features.labels import target_rpe_high as label_rpe_high
from training.simulator.rules import target_rpe_high as sim_rpe_high

# guidelines.md section 5 (ACSM GETP 10 / Garber 2011), written out independently
REFERENCE = [(60, (9, 11)), (64, (12, 13)), (76, (12, 13)), (77, (14, 17)), (95, (14, 17))]


@pytest.mark.parametrize(("pct", "band"), REFERENCE)
def test_aerobic_rpe_band_is_the_reference_table(pct: float, band: tuple[int, int]) -> None:
    assert dose.aerobic_rpe_band(pct) == band
    lo, hi = dose.target_rpe_band("aerobic", np.array([pct]))
    assert (lo[0], hi[0]) == band


def test_labels_simulator_and_vocabulary_agree_on_band_tops() -> None:
    pct = np.arange(30.0, 101.0, 0.5)
    for modality in ("aerobic", "resistance"):
        want = dose.target_rpe_band(modality, pct)[1]
        np.testing.assert_array_equal(label_rpe_high(modality, pct), want)
        np.testing.assert_array_equal(sim_rpe_high(np.full(len(pct), modality), pct), want)


def test_policy_prescribes_the_vocabulary_band() -> None:
    from serving import policy
    from serving.policy import prescribe

    assert prescribe._rpe_band(80.0) == (14, 17)  # settled from the reference (was 14-16)
    assert policy.PLAN_COLUMNS == dose.PLAN_COLUMNS


def test_week_plan_fields_are_the_plan_columns() -> None:
    assert tuple(WeekPlan.model_fields) == dose.PLAN_COLUMNS
    assert tuple(f"ref_{c}" for c in ProgressionReference.model_fields) == dose.REFERENCE_COLUMNS


def test_rep_scheme_and_vigorous_minutes() -> None:
    assert dose.resistance_rep_range(45) == (12, 15)
    assert dose.resistance_rep_range(60) == (10, 12)
    assert dose.resistance_rep_range(70) == (8, 12)
    assert dose.vo2_reserve_fraction(np.array(64.0)) == pytest.approx(0.40)
    assert dose.vo2_reserve_fraction(np.array(77.0)) == pytest.approx(0.60)
