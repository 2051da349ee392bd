"""Pure definitions shared by the generator and its checks: RPE bands, the tolerated label, holds.

These mirror DESIGN.md section 3 and guidelines.md sections 4-5 exactly, so that the simulated
`p_tolerate` is the true probability of the label the feature pipeline computes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Plan columns, band edges and RPE bands: features.contract.dose (guidelines.md section 5).
from features.contract.dose import PLAN_COLUMNS, target_rpe_band

__all__ = ["PLAN_COLUMNS", "target_rpe_band", "target_rpe_high", "tolerated_label"]


def target_rpe_high(modality: object, pct: object) -> float | np.ndarray:
    """Top of the prescribed RPE band: 11 light, 13 moderate, 17 vigorous (scalar or vectorised).

    Aerobic %HRmax: < 64 -> 11 (below 57 is treated as light), 64-76 -> 13, 77-95 -> 17,
    >= 96 -> 19. Resistance %1RM: < 50 -> 11, 50-69 -> 13, >= 70 -> 17. NaN pct gives NaN.
    """
    high = target_rpe_band(modality, pct)[1]
    return float(high) if np.ndim(high) == 0 else high


def tolerated_label(sessions: pd.DataFrame) -> pd.Series:
    """DESIGN.md section 3 label per session: 1.0 tolerated, 0.0 not, NaN when not attended.

    Tolerated = completed >= 90% of planned minutes (aerobic) or sets (resistance), RPE at most one
    point above the band's top, and no adverse event of moderate or worse.
    """
    s = sessions
    aerobic = (s["modality"] == "aerobic").to_numpy()
    pct = np.where(aerobic, s["planned_pct_hrmax"], s["planned_pct_1rm"]).astype(float)
    top = np.asarray(target_rpe_high(s["modality"].to_numpy(), pct), dtype=float)
    done = np.where(  # 10 * done >= 9 * planned: exact, no floating-point edge at 90%
        aerobic,
        10 * s["completed_minutes"].to_numpy(float) >= 9 * s["planned_minutes"].to_numpy(float),
        10 * s["completed_sets"].to_numpy(float) >= 9 * s["planned_sets"].to_numpy(float),
    )
    rpe_ok = s["rpe"].to_numpy(float) <= top + 1
    ae_ok = ~s["adverse_event"].isin(["moderate", "serious"]).to_numpy()
    label = (done & rpe_ok & ae_ok).astype(float)
    label[~s["attended"].to_numpy(bool)] = np.nan
    return pd.Series(label, index=s.index, name="tolerated")


def hold_mask(snapshot: pd.DataFrame, serious_ae_recent: np.ndarray | None = None) -> np.ndarray:
    """Clinic hold conditions on the recorded snapshot (DESIGN.md section 5, kind 1).

    Missing values never trigger a hold (the clinic cannot act on a value it did not record).
    """

    def col(name: str) -> np.ndarray:
        return pd.to_numeric(snapshot[name], errors="coerce").to_numpy(float)

    with np.errstate(invalid="ignore"):
        hold = (
            (col("platelets_10e9_l") < 20)
            | (col("hemoglobin_g_dl") < 8)
            | (col("anc_10e9_l") < 0.5)
            | (col("temperature_c") >= 38.0)
            | (col("resting_hr") >= 120)
            | (col("systolic_bp") > 200)
            | (col("diastolic_bp") > 110)
            | (col("spo2") < 88)
        )
    vomit = snapshot["vomiting_24h"].astype("boolean").fillna(False).to_numpy(bool)
    hold = hold | vomit
    if serious_ae_recent is not None:
        hold = hold | np.asarray(serious_ae_recent, dtype=bool)
    return hold


def serious_ae_within(
    history: pd.DataFrame, patient_ids: pd.Series, as_of: pd.Timestamp
) -> np.ndarray:
    """True for each patient with a serious adverse event in the 7 days before `as_of`."""
    if history is None or len(history) == 0:
        return np.zeros(len(patient_ids), dtype=bool)
    recent = history[
        (history["adverse_event"] == "serious")
        & (pd.to_datetime(history["date"]) >= as_of - pd.Timedelta(days=7))
        & (pd.to_datetime(history["date"]) < as_of)
    ]
    return patient_ids.astype(str).isin(set(recent["patient_id"].astype(str))).to_numpy()


def refer_mask(snapshot: pd.DataFrame) -> np.ndarray:
    """Refer conditions (DESIGN.md section 5, kind 2): ECOG >= 3, bone or brain mets uncleared."""
    sites = snapshot["metastatic_sites"].fillna("").astype(str)
    cleared = snapshot["medical_clearance"].astype(bool).to_numpy()
    bone = sites.str.contains("bone").to_numpy()
    brain = sites.str.contains("brain").to_numpy()
    ecog = pd.to_numeric(snapshot["ecog"], errors="coerce").to_numpy(float)
    return (ecog >= 3) | ((bone | brain) & ~cleared)
