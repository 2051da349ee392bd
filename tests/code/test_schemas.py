"""The data contract: examples validate; every kind of invalid value is rejected, field named."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pandas as pd
import pandera.errors
import pytest
from pydantic import ValidationError

from features.contract.convert import requests_to_columns
from features.contract.rest import RecommendRequest, RecommendResponse
from features.contract.tables import (
    OPTIONAL_PATIENT_COLUMNS,
    PATIENT_COLUMNS,
    PATIENT_ROW_COLUMNS,
    RX_COLUMNS,
    SESSION_COLUMNS,
    validate_patients,
    validate_sessions,
)
from tests.frames import request_to_frames

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture()
def request_body() -> dict:
    return json.loads((FIXTURES / "recommend-request.json").read_text())


def test_contract_examples_validate(request_body: dict) -> None:
    req = RecommendRequest.model_validate(request_body)
    assert req.patient.patient_id == "pt-000417"
    assert len(req.sessions) == 6
    resp = json.loads((FIXTURES / "recommend-response.json").read_text())
    assert RecommendResponse.model_validate(resp).decision == "progress"


def test_request_flattens_into_valid_tables(request_body: dict) -> None:
    patients, sessions = request_to_frames(RecommendRequest.model_validate(request_body))
    patients = validate_patients(patients)
    sessions = validate_sessions(sessions)
    assert list(patients.columns[: len(PATIENT_COLUMNS)]) == list(PATIENT_COLUMNS)
    assert set(RX_COLUMNS) <= set(patients.columns)
    assert patients.loc[0, "comorbidities"] == "lymphedema"
    assert patients.loc[0, "rx_aerobic_minutes"] == 30
    assert list(sessions.columns) == list(SESSION_COLUMNS)
    assert sessions["attended"].sum() == 5


def _set(body: dict, path: tuple, value) -> dict:
    body = copy.deepcopy(body)
    node = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return body


INVALID = [
    (("patient", "age"), 17, "age"),
    (("patient", "age"), "old", "age"),
    (("patient", "patient_id"), "Jane Doe", "patient_id"),
    (("patient", "patient_id"), "", "patient_id"),
    (("patient", "sex"), "f", "sex"),
    (("patient", "cancer_type"), "brain", "cancer_type"),
    (("patient", "stage"), "V", "stage"),
    (("patient", "metastatic_sites"), ["bone", "heart"], "metastatic_sites"),
    (("patient", "treatment_phase"), "surgery", "treatment_phase"),
    (("patient", "ecog"), 5, "ecog"),
    (("patient", "days_since_infusion"), -1, "days_since_infusion"),
    (("patient", "comorbidities"), ["asthma"], "comorbidities"),
    (("patient", "resistance_experience"), "expert", "resistance_experience"),
    (("patient", "height_cm"), 99, "height_cm"),
    (("patient", "weight_kg"), 301, "weight_kg"),
    (("patient", "vitals", "resting_hr"), 251, "resting_hr"),
    (("patient", "vitals", "spo2"), 101, "spo2"),
    (("patient", "labs", "platelets_10e9_l"), -5, "platelets_10e9_l"),
    (("patient", "labs", "hemoglobin_g_dl"), 30, "hemoglobin_g_dl"),
    (("patient", "symptoms", "fatigue"), 11, "fatigue"),
    (("patient", "fitness", "vo2peak_ml_kg_min"), 2, "vo2peak_ml_kg_min"),
    (("patient", "nickname"), "x", "nickname"),
    (("sessions", 0, "modality"), "yoga", "modality"),
    (("sessions", 0, "rpe"), 21, "rpe"),
    (("sessions", 0, "planned_minutes"), 0, "planned_minutes"),
    (("sessions", 0, "adverse_event"), "fatal", "adverse_event"),
    (("sessions", 0, "date"), "2026-13-01", "date"),
    (("sessions", 0, "date"), "2026-11-20", "sessions"),  # not before as_of
    (("current_prescription", "aerobic", "sessions_per_week"), -1, "sessions_per_week"),
    (("current_prescription", "restrictions"), ["no_running"], "restrictions"),
    (("as_of",), "yesterday", "as_of"),
    # additive optional fields (contract 2026-11-30)
    (("patient", "next_infusion_in_days"), -1, "next_infusion_in_days"),
    (("patient", "recent_surgery_days"), -3, "recent_surgery_days"),
    (("patient", "recent_surgery_days"), 2.5, "recent_surgery_days"),
    (("patient", "cardiotoxic_therapy"), "maybe", "cardiotoxic_therapy"),
    (("patient", "lvef_pct"), 9, "lvef_pct"),
    (("patient", "lvef_pct"), 81, "lvef_pct"),
    (("patient", "neurological_symptoms"), "numb", "neurological_symptoms"),
    (("patient", "bone_fracture_risk"), "severe", "bone_fracture_risk"),
    (("patient", "labs", "glucose_mg_dl"), 19, "glucose_mg_dl"),
    (("patient", "labs", "glucose_mg_dl"), 801, "glucose_mg_dl"),
    (("current_prescription", "restrictions"), ["no_aerobics"], "restrictions"),
]


@pytest.mark.parametrize(
    ("path", "value", "field"), INVALID, ids=[i[2] + "-" + str(i[1]) for i in INVALID]
)
def test_invalid_values_are_rejected_naming_the_field(
    request_body: dict, path: tuple, value, field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        RecommendRequest.model_validate(_set(request_body, path, value))
    locs = [".".join(str(p) for p in e["loc"]) for e in info.value.errors()]
    assert any(field in loc for loc in locs) or any(field in e["msg"] for e in info.value.errors())


def test_too_many_sessions_rejected(request_body: dict) -> None:
    body = copy.deepcopy(request_body)
    body["sessions"] = body["sessions"][:1] * 501
    with pytest.raises(ValidationError) as info:
        RecommendRequest.model_validate(body)
    assert info.value.errors()[0]["loc"][0] == "sessions"


def test_table_schema_names_bad_columns(request_body: dict) -> None:
    patients, sessions = request_to_frames(RecommendRequest.model_validate(request_body))
    bad = patients.assign(age=300, cancer_type="brain", metastatic_sites="bone;heart")
    with pytest.raises(pandera.errors.SchemaErrors) as info:
        validate_patients(bad)
    failed = set(info.value.failure_cases["column"].astype(str))
    assert {"age", "cancer_type", "metastatic_sites"} <= failed
    bad_s = sessions.assign(rpe=25.0, modality="yoga")
    with pytest.raises(pandera.errors.SchemaErrors) as info:
        validate_sessions(bad_s)
    assert {"rpe", "modality"} <= set(info.value.failure_cases["column"].astype(str))


def test_tables_accept_missing_optional_values(request_body: dict) -> None:
    patients, _ = request_to_frames(RecommendRequest.model_validate(request_body))
    patients = patients.assign(spo2=None, platelets_10e9_l=float("nan"), sarcopenia=None)
    out = validate_patients(patients)
    assert pd.isna(out.loc[0, "spo2"])


def test_fast_session_frame_equals_coerced_frame(request_body: dict) -> None:
    from tests.frames import coerce_sessions, sessions_to_frame

    req = RecommendRequest.model_validate(request_body)
    fast = sessions_to_frame("pt-1", req.sessions)
    rows = [{"patient_id": "pt-1", **s.model_dump()} for s in req.sessions]
    slow = coerce_sessions(pd.DataFrame(rows, columns=list(SESSION_COLUMNS)))
    pd.testing.assert_frame_equal(fast, slow)
    empty = sessions_to_frame("pt-1", [])
    assert list(empty.columns) == list(SESSION_COLUMNS) and len(empty) == 0


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nan_and_infinity_are_rejected(request_body: dict, value: float) -> None:
    with pytest.raises(ValidationError) as info:
        RecommendRequest.model_validate(_set(request_body, ("patient", "weight_kg"), value))
    assert info.value.errors()[0]["loc"][-1] == "weight_kg"


def test_dates_outside_the_clinical_window_are_rejected(request_body: dict) -> None:
    with pytest.raises(ValidationError) as info:
        RecommendRequest.model_validate(_set(request_body, ("sessions", 0, "date"), "1800-01-01"))
    assert "date" in [str(x) for x in info.value.errors()[0]["loc"]]


NEW_FIELDS = {
    "next_infusion_in_days": 4,
    "recent_surgery_days": 60,
    "cardiotoxic_therapy": True,
    "lvef_pct": 48.5,
    "neurological_symptoms": False,
    "bone_fracture_risk": "moderate",
}


def test_new_optional_fields_are_additive(request_body: dict) -> None:
    """Old requests stay valid (every new field unknown); new ones validate and flatten into the
    optional patients-table columns, the same way on both request paths."""
    old = RecommendRequest.model_validate(request_body)
    assert all(getattr(old.patient, k) is None for k in NEW_FIELDS)
    assert old.patient.labs.glucose_mg_dl is None
    body = copy.deepcopy(request_body)
    body["patient"] |= NEW_FIELDS
    body["patient"]["labs"]["glucose_mg_dl"] = 112
    body["current_prescription"]["restrictions"] = ["no_aerobic", "check_temperature"]
    req = RecommendRequest.model_validate(body)
    patients, _ = request_to_frames(req)
    assert list(patients.columns[: len(PATIENT_ROW_COLUMNS)]) == list(PATIENT_ROW_COLUMNS)
    assert set(OPTIONAL_PATIENT_COLUMNS) == {*NEW_FIELDS, "glucose_mg_dl"}
    row = validate_patients(patients).iloc[0]
    for k, v in (NEW_FIELDS | {"glucose_mg_dl": 112}).items():
        assert row[k] == v, k
    columns, _ = requests_to_columns([req])
    for k, v in (NEW_FIELDS | {"glucose_mg_dl": 112}).items():
        assert columns[k][0] == v, k
    # a patients table written before these fields existed is still valid
    assert not set(OPTIONAL_PATIENT_COLUMNS) & set(PATIENT_COLUMNS)
    validate_patients(patients.drop(columns=list(OPTIONAL_PATIENT_COLUMNS)))


def test_optional_columns_are_range_checked_when_present(request_body: dict) -> None:
    patients, _ = request_to_frames(RecommendRequest.model_validate(request_body))
    bad = patients.assign(lvef_pct=95.0, bone_fracture_risk="severe", glucose_mg_dl=5.0)
    with pytest.raises(pandera.errors.SchemaErrors) as info:
        validate_patients(bad)
    failed = set(info.value.failure_cases["column"].astype(str))
    assert {"lvef_pct", "bone_fracture_risk", "glucose_mg_dl"} <= failed


def test_response_unknown_facts_is_additive() -> None:
    resp = json.loads((FIXTURES / "recommend-response.json").read_text())
    assert RecommendResponse.model_validate(resp).unknown_facts == []
    resp.pop("unknown_facts")
    assert RecommendResponse.model_validate(resp).unknown_facts == []  # older responses too
