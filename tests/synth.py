"""A fast synthetic cohort (numpy only) for feature tests and benchmarks.

Not the simulator: no latent state, no calibration. It only has to produce valid tables in the
contract's ranges, with the messiness real tables have (missing values, several snapshots per
patient, unsorted rows), and to be fast enough for 5 million sessions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from features.contract.rest import Patient, RecommendRequest, Session
from features.contract.tables import PATIENT_LIST_FIELDS, PATIENT_NESTED
from features.contract.vocab import (
    CANCER_TYPES,
    COMORBIDITIES,
    METASTATIC_SITES,
    RESISTANCE_EXPERIENCE,
    SEXES,
    STAGES,
    TREATMENT_PHASES,
)

START = pd.Timestamp("2026-01-05")


def _lists(rng: np.random.Generator, n: int, vocab: tuple[str, ...], p_any: float) -> np.ndarray:
    """`;`-joined random sublists; only a few distinct values are built, then sampled."""
    pool = [""]
    for _ in range(40):
        k = int(rng.integers(1, 3))
        pool.append(";".join(sorted(rng.choice(vocab, size=k, replace=False))))
    pick = np.where(rng.random(n) < p_any, rng.integers(1, len(pool), n), 0)
    return np.array(pool, dtype=object)[pick]


def _with_nan(rng: np.random.Generator, x: np.ndarray, p: float) -> np.ndarray:
    return np.where(rng.random(len(x)) < p, np.nan, x)


def synth_cohort(
    n_patients: int,
    sessions_per_patient: float = 50.0,
    *,
    snapshots: int = 1,
    seed: int = 0,
    shuffle: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(patients, sessions): `snapshots` weekly patient snapshots from START, Poisson sessions."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"p{i:06d}" for i in range(n_patients)], dtype=object)
    weeks = max(snapshots, math.ceil(sessions_per_patient / 4.0) + 1)

    # --- patients: static attributes repeated over snapshots, clinical values varying --------
    n = n_patients * snapshots
    pid = np.repeat(np.arange(n_patients), snapshots)
    week = np.tile(np.arange(snapshots), n_patients)
    phase = rng.choice(np.array(TREATMENT_PHASES, dtype=object), n_patients)[pid]
    chemo = phase == "chemotherapy"
    patients = pd.DataFrame(
        {
            "patient_id": ids[pid],
            "as_of": START + pd.to_timedelta(7 * week, unit="D"),
            "age": rng.integers(25, 90, n_patients)[pid].astype(float),
            "sex": rng.choice(np.array(SEXES, dtype=object), n_patients, p=[0.55, 0.44, 0.01])[pid],
            "height_cm": np.round(rng.normal(168, 9, n_patients), 1).clip(140, 200)[pid],
            "weight_kg": np.round(rng.normal(74, 14, n), 1).clip(40, 150),
            "cancer_type": rng.choice(np.array(CANCER_TYPES, dtype=object), n_patients)[pid],
            "stage": rng.choice(np.array(STAGES, dtype=object), n_patients)[pid],
            "metastatic_sites": _lists(rng, n_patients, METASTATIC_SITES, 0.15)[pid],
            "treatment_phase": phase,
            "days_since_infusion": np.where(chemo, rng.integers(0, 21, n), np.nan),
            "ecog": rng.choice([0.0, 1.0, 2.0, 3.0], n, p=[0.4, 0.4, 0.15, 0.05]),
            "comorbidities": _lists(rng, n_patients, COMORBIDITIES, 0.3)[pid],
            "medical_clearance": (rng.random(n_patients) < 0.6)[pid],
            "resistance_experience": rng.choice(
                np.array(RESISTANCE_EXPERIENCE, dtype=object), n_patients
            )[pid],
            "sarcopenia": pd.array(
                np.where(rng.random(n) < 0.1, None, rng.random(n) < 0.38), dtype="boolean"
            ),
            "resting_hr": _with_nan(rng, np.round(rng.normal(76, 10, n)).clip(45, 130), 0.05),
            "systolic_bp": _with_nan(rng, np.round(rng.normal(125, 15, n)).clip(85, 210), 0.05),
            "diastolic_bp": _with_nan(rng, np.round(rng.normal(78, 9, n)).clip(50, 115), 0.05),
            "spo2": _with_nan(rng, np.round(rng.normal(97, 1.5, n)).clip(85, 100), 0.1),
            "temperature_c": _with_nan(rng, np.round(rng.normal(36.8, 0.35, n), 1), 0.1),
            "hemoglobin_g_dl": _with_nan(rng, np.round(rng.normal(12, 1.6, n), 1), 0.2),
            "platelets_10e9_l": _with_nan(rng, np.round(rng.normal(230, 70, n)).clip(5), 0.2),
            "anc_10e9_l": _with_nan(rng, np.round(rng.gamma(4, 0.9, n), 2), 0.2),
            "fatigue": _with_nan(rng, rng.integers(0, 11, n).astype(float), 0.1),
            "pain": _with_nan(rng, rng.integers(0, 11, n).astype(float), 0.1),
            "vomiting_24h": pd.array(
                np.where(rng.random(n) < 0.2, None, rng.random(n) < 0.03), dtype="boolean"
            ),
            "vo2peak_ml_kg_min": _with_nan(rng, np.round(rng.normal(20, 5, n), 1).clip(5), 0.3),
            "six_minute_walk_m": _with_nan(rng, np.round(rng.normal(450, 80, n)).clip(50), 0.3),
            "grip_strength_kg": _with_nan(rng, np.round(rng.normal(28, 8, n), 1).clip(3), 0.3),
        }
    )

    # --- sessions ----------------------------------------------------------------------------
    counts = rng.poisson(sessions_per_patient, n_patients)
    m = int(counts.sum())
    spid = np.repeat(np.arange(n_patients), counts)
    day = rng.integers(0, 7 * weeks, m)
    order = np.lexsort((day, spid))
    spid, day = spid[order], day[order]
    aer = rng.random(m) < 0.65
    attended = rng.random(m) < 0.8
    pm = np.where(aer, rng.choice([20.0, 25.0, 30.0, 40.0], m), rng.choice([30.0, 45.0], m))
    sets = np.where(aer, np.nan, rng.integers(1, 4, m).astype(float))
    cm = np.where(attended, np.round(pm * rng.uniform(0.7, 1.05, m)), np.nan)
    cs = np.where(attended & ~aer, np.maximum(sets - (rng.random(m) < 0.15), 0), np.nan)
    rpe = np.where(attended, rng.integers(8, 18, m).astype(float), np.nan)
    ae = rng.choice(
        np.array(["none", "mild", "moderate", "serious"], dtype=object),
        m,
        p=[0.9, 0.07, 0.025, 0.005],
    )
    sessions = pd.DataFrame(
        {
            "patient_id": ids[spid],
            "date": START + pd.to_timedelta(day, unit="D"),
            "modality": np.where(aer, "aerobic", "resistance").astype(object),
            "planned_minutes": pm,
            "planned_pct_hrmax": np.where(aer, rng.integers(45, 90, m).astype(float), np.nan),
            "planned_pct_1rm": np.where(aer, np.nan, rng.integers(30, 80, m).astype(float)),
            "planned_sets": sets,
            "planned_reps": np.where(aer, np.nan, rng.integers(8, 16, m).astype(float)),
            "attended": attended,
            "completed_minutes": np.where(aer | (rng.random(m) < 0.5), cm, np.nan),
            "completed_sets": cs,
            "rpe": _with_nan(rng, rpe, 0.1),
            "avg_hr": np.where(attended & aer, rng.integers(90, 160, m).astype(float), np.nan),
            "adverse_event": ae,
            "pain": np.where(attended, rng.integers(0, 6, m).astype(float), np.nan),
            "fatigue": np.where(attended, rng.integers(0, 8, m).astype(float), np.nan),
        }
    )
    if shuffle:
        perm = rng.permutation(len(sessions))
        sessions = sessions.iloc[perm].reset_index(drop=True)
        patients = patients.iloc[rng.permutation(len(patients))].reset_index(drop=True)
    return patients, sessions


def _clean(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def to_request(patient_row: dict[str, Any], sessions: pd.DataFrame, as_of: Any) -> RecommendRequest:
    """A REST request from one patients-table row and that patient's sessions before as_of."""
    row = {k: _clean(v) for k, v in patient_row.items()}
    body: dict[str, Any] = {}
    for name in Patient.model_fields:
        if name in PATIENT_NESTED:
            body[name] = {c: row.get(c) for c in PATIENT_NESTED[name]}
        elif name in PATIENT_LIST_FIELDS:
            body[name] = [x for x in str(row.get(name) or "").split(";") if x]
        else:
            body[name] = row.get(name)
    for key in ("age", "ecog", "days_since_infusion"):
        if body[key] is not None:
            body[key] = int(body[key])
    as_of = pd.Timestamp(as_of)
    items = []
    for s in sessions[sessions["date"] < as_of].to_dict("records"):
        item = {k: _clean(s.get(k)) for k in Session.model_fields}
        item["date"] = pd.Timestamp(s["date"]).date()
        for key in ("planned_sets", "planned_reps", "completed_sets", "rpe", "avg_hr", "pain"):
            if item[key] is not None:
                item[key] = int(item[key])
        if item["fatigue"] is not None:
            item["fatigue"] = int(item["fatigue"])
        items.append({k: v for k, v in item.items() if v is not None})
    return RecommendRequest(patient=Patient(**body), sessions=items, as_of=as_of.date())
