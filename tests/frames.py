"""Test helpers: REST requests as pandas tables (the service itself builds numpy columns with
`features.contract.convert.requests_to_columns`; tests also check the DataFrame path agrees)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from features.contract.convert import (
    patient_to_row,
    prescription_to_row,
    reference_to_row,
    sessions_to_columns,
)
from features.contract.rest import RecommendRequest, Session
from features.contract.tables import SESSION_COLUMNS


def sessions_to_frame(patient_id: str, sessions: list[Session]) -> pd.DataFrame:
    """`sessions_to_columns` as a DataFrame."""
    return pd.DataFrame(sessions_to_columns(patient_id, sessions))


def coerce_sessions(df: pd.DataFrame) -> pd.DataFrame:
    """Canonical dtypes of a sessions table without full validation (to compare paths)."""
    out = df.copy()
    out["patient_id"] = out["patient_id"].astype(str)
    out["date"] = pd.to_datetime(out["date"]).astype("datetime64[ns]")
    for col in SESSION_COLUMNS:
        if col not in ("patient_id", "date", "modality", "attended", "adverse_event"):
            out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    out["attended"] = out["attended"].astype(bool)
    out["adverse_event"] = out["adverse_event"].fillna("none").astype(str)
    out["modality"] = out["modality"].astype(str)
    return out


def request_to_frames(req: RecommendRequest) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One REST request -> (patients table with one row incl. rx_* columns, sessions table)."""
    as_of = req.as_of or dt.date.today()
    row = patient_to_row(req.patient, as_of) | prescription_to_row(req.current_prescription)
    row |= reference_to_row(req.progression_reference)
    patients = pd.DataFrame([row])
    sessions = sessions_to_frame(req.patient.patient_id, req.sessions)
    return patients, sessions
