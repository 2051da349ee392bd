"""The only converters between REST objects, table rows and prescriptions.

A request becomes one patients-table row (nested objects flattened, lists joined, the current
prescription as `rx_*` columns, a progression reference as `ref_*` columns) and sessions columns.
"""

from __future__ import annotations

import datetime as dt
from operator import attrgetter
from typing import Any

import numpy as np
import pandas as pd

from features.contract.dose import PLAN_COLUMNS, REFERENCE_COLUMNS
from features.contract.rest import (
    Patient,
    Prescription,
    ProgressionReference,
    RecommendRequest,
    Session,
)
from features.contract.tables import (
    PATIENT_LIST_FIELDS,
    PATIENT_NESTED,
    PATIENT_ROW_COLUMNS,
    RX_COLUMNS,
    RX_FIELDS,
    SESSION_COLUMNS,
)
from features.contract.vocab import LIST_SEPARATOR


def patient_to_row(patient: Patient, as_of: dt.date) -> dict[str, Any]:
    """Flatten a REST patient into one patients-table row (the single-patient path)."""
    data = patient.model_dump()
    row: dict[str, Any] = {}
    for key, value in data.items():
        if key in PATIENT_NESTED:
            row.update(value)
        elif key in PATIENT_LIST_FIELDS:
            row[key] = LIST_SEPARATOR.join(value)
        else:
            row[key] = value
    row["as_of"] = pd.Timestamp(as_of)
    return {c: row.get(c) for c in PATIENT_ROW_COLUMNS}


def reference_to_row(ref: ProgressionReference | None) -> dict[str, Any]:
    """Flatten a progression reference into the optional ``ref_*`` columns (None without)."""
    if ref is None:
        return dict.fromkeys(REFERENCE_COLUMNS)
    return {f"ref_{k}": float(v) for k, v in ref.model_dump().items()}


def prescription_to_row(rx: Prescription | None) -> dict[str, Any]:
    """Flatten a prescription into the optional ``rx_*`` columns (all None without one)."""
    row: dict[str, Any] = dict.fromkeys(RX_COLUMNS)
    if rx is None:
        return row
    for col, path in RX_FIELDS.items():
        if getattr(rx, path.partition(".")[0]) is not None:  # that modality is prescribed
            row[col] = attrgetter(path)(rx)
    row["rx_restrictions"] = LIST_SEPARATOR.join(rx.restrictions)
    return row


_SESSION_NUMERIC = tuple(
    c
    for c in SESSION_COLUMNS
    if c not in ("patient_id", "date", "modality", "attended", "adverse_event")
)


def sessions_to_columns(patient_id: str, sessions: list[Session]) -> dict[str, np.ndarray]:
    """REST sessions as sessions-table columns (numpy arrays, canonical dtypes).

    Built column by column from the validated objects (the hot path of every REST request);
    gives the dtypes `validate_sessions` gives for the same rows.
    """
    n = len(sessions)
    cols: dict[str, Any] = {
        "patient_id": np.full(n, patient_id, dtype=object),
        "date": np.array([s.date for s in sessions], dtype="datetime64[D]").astype(
            "datetime64[ns]"
        ),
        "modality": np.array([s.modality for s in sessions], dtype=object),
    }
    for c in _SESSION_NUMERIC:
        values = [getattr(s, c) for s in sessions]
        cols[c] = np.array([np.nan if v is None else v for v in values], dtype=float)
    cols["attended"] = np.array([s.attended for s in sessions], dtype=bool)
    cols["adverse_event"] = np.array([s.adverse_event for s in sessions], dtype=object)
    return {c: cols[c] for c in SESSION_COLUMNS}


def _objects(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def requests_to_columns(
    reqs: list[RecommendRequest],
    patient_ids: list[str] | None = None,
    as_of: dt.date | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """REST requests -> (patients columns incl. rx_*, sessions columns), numpy arrays only.

    The request path of the feature pipeline (`features.table`): the rows of the tables, without
    building DataFrames. `patient_ids` / `as_of` override the
    requests' own (the service gives each item of a batch a surrogate id).
    """
    ids = patient_ids or [r.patient.patient_id for r in reqs]
    rows = []
    for r, pid in zip(reqs, ids, strict=True):
        row = patient_to_row(r.patient, as_of or r.as_of or dt.date.today())
        row |= prescription_to_row(r.current_prescription)
        row |= reference_to_row(r.progression_reference)
        row["patient_id"] = pid
        rows.append(row)
    names = list(PATIENT_ROW_COLUMNS) + [c for c in RX_COLUMNS if c not in PATIENT_ROW_COLUMNS]
    names += list(REFERENCE_COLUMNS)
    patients = {c: _objects([row[c] for row in rows]) for c in names}
    patients["as_of"] = np.array(
        [pd.Timestamp(row["as_of"]).to_datetime64() for row in rows], dtype="datetime64[ns]"
    )
    parts = [sessions_to_columns(pid, r.sessions) for r, pid in zip(reqs, ids, strict=True)]
    sessions = (
        parts[0]
        if len(parts) == 1
        else {c: np.concatenate([p[c] for p in parts]) for c in SESSION_COLUMNS}
    )
    return patients, sessions


def delivered_plan(rx: Prescription | None) -> dict[str, float]:
    """The point dose a patient does under `rx`: the middle of each prescribed band (what the
    closed loop and the simulated deployment deliver, and what monitoring predicts for)."""
    plan = dict.fromkeys(PLAN_COLUMNS, 0.0)
    if rx is None:
        return plan
    if rx.aerobic is not None:
        a = rx.aerobic
        plan |= {
            "aerobic_sessions": float(a.sessions_per_week),
            "aerobic_minutes": float(a.minutes_per_session),
            "aerobic_pct_hrmax": (a.intensity_pct_hrmax.low + a.intensity_pct_hrmax.high) / 2,
        }
    if rx.resistance is not None:
        r = rx.resistance
        plan |= {
            "resistance_sessions": float(r.sessions_per_week),
            "resistance_sets": float(r.sets),
            "resistance_reps": float(round((r.reps.low + r.reps.high) / 2)),
            "resistance_pct_1rm": (r.intensity_pct_1rm.low + r.intensity_pct_1rm.high) / 2,
        }
    return plan
