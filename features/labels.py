"""Session-level labels (DESIGN.md section 3), defined once for training, features and evaluation.

`tolerated` is both a training label and an input to history features (tolerated rate,
intolerant streak), so the pipeline calls the same array function, `tolerated_arrays`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract.dose import AEROBIC_EDGES, RESISTANCE_EDGES, RPE_HIGH
from features.contract.vocab import ADVERSE_EVENTS, MODALITIES
from features.encode import column, to_float, vocab_codes

AEROBIC, RESISTANCE = MODALITIES.index("aerobic"), MODALITIES.index("resistance")
MODERATE_OR_WORSE = ADVERSE_EVENTS.index("moderate")  # codes >= this are moderate or serious
SERIOUS = ADVERSE_EVENTS.index("serious")
COMPLETION_TENTHS = 9  # completed >= 90% of planned, compared as 10 * done >= 9 * planned (exact)
RPE_SLACK = 1.0  # RPE may exceed the band's top by at most one point


def target_rpe_high(modality: object, pct: object) -> np.ndarray:
    """Top of the target RPE band for each (modality, %HRmax or %1RM); NaN when unknown.

    `modality` holds "aerobic"/"resistance" strings (or, internally, their integer codes).
    """
    pct_arr = np.atleast_1d(np.asarray(pct, dtype=np.float64))
    code = _modality_codes(modality, len(pct_arr))
    # bands of features.contract.dose (guidelines.md section 5)
    aer = RPE_HIGH[np.searchsorted(AEROBIC_EDGES, pct_arr, side="right")]
    res = RPE_HIGH[np.searchsorted(RESISTANCE_EDGES, pct_arr, side="right")]
    out = np.where(code == AEROBIC, aer, np.where(code == RESISTANCE, res, np.nan))
    return np.where(np.isnan(pct_arr), np.nan, out)


def _modality_codes(modality: object, n: int) -> np.ndarray:
    if isinstance(modality, np.ndarray) and modality.dtype.kind in "iu":
        return modality
    if isinstance(modality, str):
        return np.full(n, MODALITIES.index(modality) if modality in MODALITIES else -1)
    series = modality if isinstance(modality, pd.Series) else pd.Series(np.asarray(modality))
    return vocab_codes(series, MODALITIES)


def completion_parts(
    modality: np.ndarray,
    planned_minutes: np.ndarray,
    completed_minutes: np.ndarray,
    planned_sets: np.ndarray,
    completed_sets: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(done, planned): sets for resistance sessions when both are known, else minutes."""
    use_sets = (modality == RESISTANCE) & ~np.isnan(planned_sets) & ~np.isnan(completed_sets)
    done = np.where(use_sets, completed_sets, completed_minutes)
    plan = np.where(use_sets, planned_sets, planned_minutes)
    return done, plan


def tolerated_arrays(
    modality: np.ndarray,
    attended: np.ndarray,
    planned_minutes: np.ndarray,
    completed_minutes: np.ndarray,
    planned_sets: np.ndarray,
    completed_sets: np.ndarray,
    intensity: np.ndarray,
    rpe: np.ndarray,
    adverse: np.ndarray,
) -> np.ndarray:
    """The tolerated label on arrays (modality and adverse event as vocabulary codes).

    `intensity` is the planned %HRmax for aerobic and %1RM for resistance sessions. Missing
    completion or RPE counts as fine: a log that records attendance only is not a failure.
    """
    done, plan = completion_parts(
        modality, planned_minutes, completed_minutes, planned_sets, completed_sets
    )
    with np.errstate(invalid="ignore"):
        completed_ok = np.isnan(done) | np.isnan(plan) | (10.0 * done >= COMPLETION_TENTHS * plan)
        top = target_rpe_high(modality, intensity)
        rpe_ok = np.isnan(rpe) | np.isnan(top) | (rpe <= top + RPE_SLACK)
    no_ae = adverse < MODERATE_OR_WORSE
    ok = completed_ok & rpe_ok & no_ae
    return np.where(attended.astype(bool), ok.astype(np.float64), np.nan)


def session_intensity(
    modality: np.ndarray, pct_hrmax: np.ndarray, pct_1rm: np.ndarray
) -> np.ndarray:
    """Planned intensity in the session's own unit: %HRmax (aerobic) or %1RM (resistance)."""
    return np.where(
        modality == AEROBIC, pct_hrmax, np.where(modality == RESISTANCE, pct_1rm, np.nan)
    )


def tolerated(sessions: pd.DataFrame) -> pd.Series:
    """1.0 if an attended session was tolerated, 0.0 if not, NaN if not attended (same index)."""
    n = len(sessions)
    modality = vocab_codes(column(sessions, "modality"), MODALITIES, n)
    adverse = vocab_codes(column(sessions, "adverse_event"), ADVERSE_EVENTS, n)
    adverse = np.where(adverse < 0, 0, adverse)  # missing adverse event means none
    attended = to_float(column(sessions, "attended"), n)
    value = tolerated_arrays(
        modality,
        np.nan_to_num(attended) != 0,
        to_float(column(sessions, "planned_minutes"), n),
        to_float(column(sessions, "completed_minutes"), n),
        to_float(column(sessions, "planned_sets"), n),
        to_float(column(sessions, "completed_sets"), n),
        session_intensity(
            modality,
            to_float(column(sessions, "planned_pct_hrmax"), n),
            to_float(column(sessions, "planned_pct_1rm"), n),
        ),
        to_float(column(sessions, "rpe"), n),
        adverse,
    )
    return pd.Series(value, index=sessions.index, name="tolerated")
