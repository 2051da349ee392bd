"""`map_record`: a whole prefetched record -> `Mapped` (every resource validated first, then
read by the other modules of this package)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from features.contract.rest import RecommendRequest
from serving.cds.fhir_map.code_tables import REQUIRED_FIELDS
from serving.cds.fhir_map.observations import map_observations, map_sessions
from serving.cds.fhir_map.patient import map_conditions, map_patient_resource
from serving.cds.fhir_map.result import Builder, Mapped
from serving.cds.fhir_map.treatment import map_next_infusion, map_treatment


def _drop(patient: dict[str, Any], loc: tuple[Any, ...]) -> bool:
    """Remove the value at `loc` (a ValidationError location under `patient`); False if absent."""
    target: Any = patient
    for key in loc[:-1]:
        if not isinstance(target, dict) or key not in target:
            return False
        target = target[key]
    if isinstance(target, dict) and loc and loc[-1] in target:
        del target[loc[-1]]
        return True
    return False


def map_record(
    patient_id: str,
    as_of: dt.date,
    patient: Mapping[str, Any],
    conditions: list[Mapping[str, Any]] | None,
    observations: list[Mapping[str, Any]] | None,
    activity: list[Mapping[str, Any]] | None,
    medications: list[Mapping[str, Any]] | None,
    procedures: list[Mapping[str, Any]] | None,
    site_codes: Sequence[tuple[str, str, str]] = (),
    appointments: list[Mapping[str, Any]] | None = None,
    infusion_codes: Sequence[tuple[str, str]] = (),
) -> Mapped:
    """The contract request for this FHIR record (None with missing required facts), and the facts
    used, the fields missing and the values ignored. `site_codes`: the site's own symptom-score
    codes, (system, code, "fatigue" | "pain") (Settings.symptom_codes); `appointments`: the
    patient's Appointments (the next infusion), None when not fetched; `infusion_codes`: the
    site's own (system, code) of an infusion visit (Settings.infusion_codes)."""
    b = Builder(as_of)
    b.patient["patient_id"] = patient_id
    map_patient_resource(b, patient)
    if conditions is not None:
        map_conditions(b, conditions)
    if observations is not None:
        map_observations(b, observations, site_codes)
    map_treatment(b, medications, procedures)
    map_next_infusion(b, appointments, infusion_codes)
    sessions = map_sessions(b, activity or [])
    b.out.sessions_used = len(sessions)
    if activity is None:
        b.out.missing.append("sessions")
    optional = (
        "labs.platelets_10e9_l",
        "labs.anc_10e9_l",
        "labs.hemoglobin_g_dl",
        "vitals.resting_hr",
        "vitals.systolic_bp",
        "vitals.diastolic_bp",
        "vitals.spo2",
        "vitals.temperature_c",
        "symptoms.pain",
        "symptoms.fatigue",
        "days_since_infusion",
    )
    if b.patient.get("treatment_phase") == "chemotherapy":  # the kernel's infusion window
        optional += ("next_infusion_in_days",)
    for name in (*REQUIRED_FIELDS, *optional):
        if not b.has(name):
            b.out.missing.append(name)
    if b.out.missing_required:
        return b.out
    body = {"patient": b.patient, "sessions": sessions, "as_of": as_of.isoformat()}
    for _ in range(8):  # an implausible value is dropped (unknown), never clipped
        try:
            b.out.request = RecommendRequest.model_validate(body)
            return b.out
        except ValidationError as exc:
            dropped = False
            for err in exc.errors(include_url=False, include_input=False):
                loc = tuple(err["loc"])
                if loc[:1] == ("patient",) and _drop(b.patient, loc[1:]):
                    name = ".".join(str(x) for x in loc[1:])
                    b.out.ignored.append(f"{name}: implausible value")
                    b.out.facts = [f for f in b.out.facts if f.field != name]
                    b.out.missing.append(name)
                    dropped = True
                elif loc[:1] == ("sessions",) and len(loc) > 1:
                    idx = int(loc[1])
                    if idx < len(sessions):
                        sessions.pop(idx)
                        b.out.ignored.append("a session with an implausible value")
                        dropped = True
                        break
            if not dropped or b.out.missing_required:
                return b.out
