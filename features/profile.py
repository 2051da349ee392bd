"""Profile features: the patient snapshot in force at the prediction point, as numbers.

Categoricals become one-hot columns (or ordinals where the order means something: stage,
resistance experience), lists become one flag per vocabulary item, booleans 1/0 with NaN kept for
"unknown". Missing optional measurements stay NaN (LightGBM routes them; the logistic baseline
imputes). The chemotherapy cycle is carried forward from the snapshot to the prediction day.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract.tables import PATIENT_NESTED
from features.contract.vocab import (
    CANCER_TYPES,
    COMORBIDITIES,
    METASTATIC_SITES,
    RESISTANCE_EXPERIENCE,
    STAGES,
    TREATMENT_PHASES,
)
from features.encode import column, list_flags, to_flag, to_float, vocab_codes

CYCLE_DAYS = 21  # the usual chemotherapy cycle length
INFUSION_WINDOW_DAYS = 5  # DESIGN.md section 5: "not within 5 days of an infusion"
_CHEMO = TREATMENT_PHASES.index("chemotherapy")
_MEASUREMENTS = tuple(c for cols in PATIENT_NESTED.values() for c in cols if c != "vomiting_24h")

STATIC: tuple[str, ...] = (
    "age",
    "height_cm",
    "weight_kg",
    "bmi",
    "sex_female",
    "sex_male",
    *(f"cancer_{c}" for c in CANCER_TYPES),
    "stage",
    "n_metastatic_sites",
    *(f"metastatic_{s}" for s in METASTATIC_SITES),
    *(f"phase_{p}" for p in TREATMENT_PHASES),
    "ecog",
    *(f"comorbidity_{c}" for c in COMORBIDITIES),
    "n_comorbidities",
    "medical_clearance",
    "resistance_experience",
    "sarcopenia",
    *_MEASUREMENTS,
    "vomiting_24h",
)
DYNAMIC: tuple[str, ...] = (
    "days_since_infusion",  # snapshot value + days since the snapshot
    "in_infusion_window",
    "cycle_day_sin",
    "cycle_day_cos",
)
COLUMNS: tuple[str, ...] = STATIC + DYNAMIC


def _one_hot(codes: np.ndarray, k: int) -> np.ndarray:
    """(k, n) one-hot rows; code -1 (missing / unknown) is an all-zero column."""
    return (codes[None, :] == np.arange(k)[:, None]).astype(np.float64)


def static_features(snapshots: pd.DataFrame) -> np.ndarray:
    """(len(STATIC), n) matrix: one row per feature in STATIC order, one column per snapshot."""
    n = len(snapshots)

    def num(name: str) -> np.ndarray:
        return to_float(column(snapshots, name), n)

    def codes(name: str, vocab: tuple[str, ...]) -> np.ndarray:
        return vocab_codes(column(snapshots, name), vocab, n)

    height, weight = num("height_cm"), num("weight_kg")
    stage = codes("stage", STAGES).astype(float)
    experience = codes("resistance_experience", RESISTANCE_EXPERIENCE)
    mets = list_flags(column(snapshots, "metastatic_sites"), METASTATIC_SITES, n).T
    comorb = list_flags(column(snapshots, "comorbidities"), COMORBIDITIES, n).T
    clearance = np.nan_to_num(to_flag(column(snapshots, "medical_clearance"), n))  # default False
    parts = [
        num("age"),
        height,
        weight,
        weight / (height / 100.0) ** 2,
        _one_hot(codes("sex", ("female", "male")), 2),
        _one_hot(codes("cancer_type", CANCER_TYPES), len(CANCER_TYPES)),
        np.where(stage < 0, np.nan, stage + 1.0),
        mets.sum(axis=0),
        mets,
        _one_hot(codes("treatment_phase", TREATMENT_PHASES), len(TREATMENT_PHASES)),
        num("ecog"),
        comorb,
        comorb.sum(axis=0),
        clearance,
        # missing experience is the contract default "none" (0)
        np.where(experience < 0, 0.0, experience.astype(float)),
        to_flag(column(snapshots, "sarcopenia"), n),
        *(num(c) for c in _MEASUREMENTS),
        to_flag(column(snapshots, "vomiting_24h"), n),
    ]
    return np.vstack([np.atleast_2d(p) for p in parts]).astype(np.float64, copy=False)


def infusion_state(snapshots: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(days since infusion at the snapshot, on chemotherapy) per snapshot row."""
    n = len(snapshots)
    dsi = to_float(column(snapshots, "days_since_infusion"), n)
    chemo = vocab_codes(column(snapshots, "treatment_phase"), TREATMENT_PHASES, n) == _CHEMO
    return dsi, chemo


def dynamic_features(
    dsi_at_snapshot: np.ndarray, chemo: np.ndarray, gap_days: np.ndarray
) -> dict[str, np.ndarray]:
    """Chemo-cycle features on the prediction day, `gap_days` after the snapshot.

    During chemotherapy the cycle is assumed to repeat every 21 days, so a snapshot taken on
    cycle day 18 puts the prediction 5 days later on day 2 of the next cycle (in the window).
    """
    dsi = dsi_at_snapshot + gap_days
    cycle_day = np.where(chemo, np.mod(dsi, CYCLE_DAYS), dsi)
    angle = 2.0 * np.pi * cycle_day / CYCLE_DAYS
    in_window = np.where(np.isnan(dsi), 0.0, (cycle_day < INFUSION_WINDOW_DAYS).astype(float))
    return {
        "days_since_infusion": dsi,
        "in_infusion_window": in_window,
        "cycle_day_sin": np.where(chemo, np.sin(angle), np.nan),
        "cycle_day_cos": np.where(chemo, np.cos(angle), np.nan),
    }
