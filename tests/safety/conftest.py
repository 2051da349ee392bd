"""Shared fixtures of the safety tests, and the hypothesis profiles.

Profiles live in tests/conftest.py (`ci` derandomised by default, `thorough` random) so that
``uv run pytest tests/safety --hypothesis-profile=thorough`` works. The kernel properties never run
fewer than 2,000 examples: they take ``max(2000, active profile)`` (see
``test_kernel_properties.py``). We deliberately do not re-register hypothesis' global ``default``
profile at 2,000 examples: that would silently apply to every other hypothesis test of the suite
(policy and contract tests that cost far more per example).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from features.contract.tables import RX_COLUMNS

# A well, fit, cleared-for-nothing survivor: no rule beyond the global caps fires.
HEALTHY: dict[str, Any] = {
    "patient_id": "pt-healthy",
    "age": 50,
    "sex": "female",
    "height_cm": 165.0,
    "weight_kg": 65.0,
    "cancer_type": "breast",
    "stage": "I",
    "metastatic_sites": "",
    "treatment_phase": "post_treatment",
    "days_since_infusion": None,
    "ecog": 0,
    "comorbidities": "",
    "medical_clearance": False,
    "resistance_experience": "experienced",
    "sarcopenia": False,
    "resting_hr": 70.0,
    "systolic_bp": 120.0,
    "diastolic_bp": 80.0,
    "spo2": 98.0,
    "temperature_c": 36.6,
    "hemoglobin_g_dl": 13.0,
    "platelets_10e9_l": 250.0,
    "anc_10e9_l": 4.0,
    "fatigue": 2.0,
    "pain": 1.0,
    "vomiting_24h": False,
    "vo2peak_ml_kg_min": 25.0,
    "six_minute_walk_m": 550.0,
    "grip_strength_kg": 28.0,
    "next_infusion_in_days": None,
    "recent_surgery_days": 400,
    "cardiotoxic_therapy": False,
    "lvef_pct": None,
    "neurological_symptoms": False,
    "bone_fracture_risk": None,
    "glucose_mg_dl": None,
    "serious_ae_7d": 0,
    "moderate_ae_7d": 0,
    "intolerant_streak": 0,
    "aerobic_intolerant_streak": 0,
    "resistance_intolerant_streak": 0,
    "aerobic_moderate_ae_7d": 0,
    "resistance_moderate_ae_7d": 0,
    "aerobic_completion_rate_14d": 1.0,
    "resistance_completion_rate_14d": 1.0,
    "resistance_tolerated_rate_14d": 1.0,
    "resistance_moderate_ae_14d": 0,
    **dict.fromkeys(RX_COLUMNS),
}

# A current prescription in rx_* form: 3 x 30 min at 64-68% HRmax, 2 x 2 x 10-12 at 45-50% 1RM.
CURRENT_RX: dict[str, Any] = {
    "rx_aerobic_sessions": 3,
    "rx_aerobic_minutes": 30.0,
    "rx_aerobic_pct_hrmax_low": 64.0,
    "rx_aerobic_pct_hrmax_high": 68.0,
    "rx_aerobic_rpe_low": 12,
    "rx_aerobic_rpe_high": 13,
    "rx_resistance_sessions": 2,
    "rx_resistance_sets": 2,
    "rx_resistance_reps_low": 10,
    "rx_resistance_reps_high": 12,
    "rx_resistance_pct_1rm_low": 45.0,
    "rx_resistance_pct_1rm_high": 50.0,
    "rx_restrictions": "",
}


@pytest.fixture
def healthy() -> Callable[..., dict[str, Any]]:
    """Factory: the healthy patient's facts with some facts changed (``healthy(ecog=2)``)."""

    def make(**changes: Any) -> dict[str, Any]:
        return HEALTHY | changes

    return make


@pytest.fixture
def current_rx() -> dict[str, Any]:
    return dict(CURRENT_RX)
