"""The benefit objective and the risk measures (issue 10): effective dose per session, expected
benefit of a week, expected intolerant sessions."""

from __future__ import annotations

import numpy as np

from features.contract.dose import (
    MODERATE_PCT_HRMAX,
    TARGET_AEROBIC_MINUTES,
    TARGET_RESISTANCE_SESSIONS,
    vo2_reserve_fraction,
)
from serving.policy.config import PolicyConfig
from serving.policy.scoring import A, PlanScores, R

RESISTANCE_FLOOR_PCT_1RM = 30.0  # see resistance_session_dose


def aerobic_session_dose(
    minutes: np.ndarray, pct_hrmax: np.ndarray, light_credit: float = 0.0
) -> np.ndarray:
    """Net MET-minutes of one session per MET of the patient's reserve.

    MET-minutes above rest = minutes x VO2R fraction x (peak METs - 1); the patient's peak METs
    scale every option alike, so they drop out of the comparison. The guideline dose is moderate
    to vigorous (Garber 2011; Campbell 2019): minutes below 64% HRmax count only `light_credit`
    of their MET-minutes (light exercise still helps the deconditioned, Garber 2011; and when the
    envelope allows nothing above light, the best light dose must still win).
    """
    pct = np.asarray(pct_hrmax, dtype=float)
    dose = np.asarray(minutes, dtype=float) * vo2_reserve_fraction(pct)
    return np.where(pct >= MODERATE_PCT_HRMAX, dose, light_credit * dose)


def resistance_session_dose(sets: np.ndarray, reps: np.ndarray, pct_1rm: np.ndarray) -> np.ndarray:
    """Effective volume-load of one session: sets x reps x the load above a very-light floor.

    Volume-load (sets x reps x load, ACSM 2009) with the load counted above 30% 1RM, where
    strength training for frail beginners starts (NSCA 2019: 20-30% 1RM) and below which a
    load is not a strength stimulus; light loads (40-50%, Garber 2011 for low-strength beginners)
    count partly, moderate-to-vigorous loads (60-80%, ACSM 2009) fully. Project choice.
    """
    load = np.clip(np.asarray(pct_1rm, float) - RESISTANCE_FLOOR_PCT_1RM, 0.0, None) / 100
    return np.asarray(sets, float) * np.asarray(reps, float) * load


# Campbell 2019 generic effective dose (guidelines.md section 1): 3 x 30 min moderate aerobic
# (~70% HRmax, the middle of 64-76%) and 2 x 2 sets x 12 reps at 60% 1RM. One reference week of
# either modality is worth 1.
AEROBIC_REFERENCE = float(3 * aerobic_session_dose(np.array(30.0), np.array(70.0)))
RESISTANCE_REFERENCE = float(2 * resistance_session_dose(np.array(2), np.array(12), np.array(60)))


def expected_benefit(
    plans: np.ndarray,
    scores: PlanScores,
    cfg: PolicyConfig,
    resistance_first: np.ndarray | bool = False,
) -> np.ndarray:
    """Expected attended sessions x effective dose per session, per modality normalised to the
    generic dose, capped, weighted and summed (module docstring, PolicyConfig); per plan,
    `resistance_first` (sarcopenia recorded) weighs resistance `resistance_first_weight` x."""
    tol = _fill(scores.tolerance, 0.0)
    att = _fill(scores.attendance, 0.0)
    done = tol + (1.0 - tol) * cfg.intolerant_completion
    a_dose = aerobic_session_dose(plans[:, 1], plans[:, 2], cfg.light_credit) / AEROBIC_REFERENCE
    r_dose = resistance_session_dose(plans[:, 4], plans[:, 5], plans[:, 6]) / RESISTANCE_REFERENCE
    a = plans[:, 0] * att[:, A] * done[:, A] * a_dose
    r = plans[:, 3] * att[:, R] * done[:, R] * r_dose
    return (
        cfg.aerobic_weight * np.minimum(a, cfg.aerobic_dose_cap) ** cfg.benefit_exponent
        + resistance_weight(resistance_first, cfg)
        * np.minimum(r, cfg.resistance_dose_cap) ** cfg.benefit_exponent
        + cfg.target_bonus * at_guideline_target(plans)
    )


def resistance_weight(resistance_first: np.ndarray | bool, cfg: PolicyConfig) -> np.ndarray:
    """The objective's resistance weight per plan: higher where sarcopenia is recorded."""
    return cfg.resistance_weight * np.where(resistance_first, cfg.resistance_first_weight, 1.0)


def at_guideline_target(plans: np.ndarray) -> np.ndarray:
    """The week meets the guideline dose: >= 150 min of moderate-or-harder aerobic exercise and
    >= 2 resistance sessions (Garber 2011; Campbell 2019; PAG 2018)."""
    return (
        (plans[:, 2] >= MODERATE_PCT_HRMAX)
        & (plans[:, 0] * plans[:, 1] >= TARGET_AEROBIC_MINUTES - 1e-9)
        & (plans[:, 3] >= TARGET_RESISTANCE_SESSIONS)
    ).astype(float)


def _fill(x: np.ndarray, value: float) -> np.ndarray:
    """NaN (a modality the plan lacks) replaced by `value`."""
    return np.where(np.isnan(x), value, x)


def weekly_intolerant(plans: np.ndarray, scores: PlanScores) -> np.ndarray:
    """Expected intolerant attended sessions per week (an upper bound on expected moderate or
    serious adverse events: such an event makes its session intolerant)."""
    tol = _fill(scores.tolerance, 1.0)
    att = _fill(scores.attendance, 0.0)
    return plans[:, 0] * att[:, A] * (1 - tol[:, A]) + plans[:, 3] * att[:, R] * (1 - tol[:, R])
