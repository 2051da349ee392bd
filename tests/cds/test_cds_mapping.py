"""FHIR -> contract mapping (serving/cds/fhir_map/) and prefetch handling, on the fixture
patients and on small hand-made resources: every fact read from its code, units converted,
missing data unknown (never invented), invalid resources dropped."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest

from serving.cds.discovery import prefetch_templates
from serving.cds.fhir_map import borg_rpe, map_record
from serving.cds.models import HookRequest
from serving.cds.prefetch import gather, resource_problem
from tests.cds.helpers import ANCHOR, fixture


def mapped(name: str, **prefetch_changes):
    body = fixture(name, ANCHOR)
    body["prefetch"].update(prefetch_changes)
    hook = HookRequest.model_validate(body)
    rec = gather(hook)
    return map_record(
        hook.context["patientId"],
        ANCHOR,
        rec.patient,
        rec.get("conditions"),
        rec.get("observations"),
        rec.get("activity"),
        rec.get("medications"),
        rec.get("procedures"),
    ), rec


def test_chemo_patient_every_fact_from_its_code() -> None:
    m, _ = mapped("chemo")
    p = m.request.patient
    assert (p.age, p.sex, p.cancer_type, p.stage, p.ecog) == (57, "female", "breast", "II", 1)
    assert (p.height_cm, p.weight_kg) == (164, 71.5)
    assert (p.treatment_phase, p.days_since_infusion) == ("chemotherapy", 9)
    assert p.comorbidities == ["lymphedema"] and p.metastatic_sites == []
    assert (p.labs.platelets_10e9_l, p.labs.anc_10e9_l, p.labs.hemoglobin_g_dl) == (212, 2.8, 11.4)
    v = p.vitals
    assert (v.resting_hr, v.systolic_bp, v.diastolic_bp, v.spo2, v.temperature_c) == (
        78,
        124,
        79,
        98,
        36.7,
    )
    # defaults no FHIR resource carries stay conservative, nothing invented
    assert p.medical_clearance is False and p.resistance_experience == "none"
    assert p.sarcopenia is None and p.fitness.vo2peak_ml_kg_min is None
    s = [
        (x.date.isoformat(), x.modality, x.planned_minutes, x.rpe, x.avg_hr)
        for x in m.request.sessions
    ]
    assert s[0] == ("2026-11-09", "aerobic", 30, 10, 108)  # CR10 2 -> RPE 10
    assert s[1] == ("2026-11-10", "resistance", 35, 12, None)  # CR10 3 -> RPE 12
    assert all(x.attended and x.completed_minutes == x.planned_minutes for x in m.request.sessions)
    assert m.cancer_condition == "Condition/pt-chemo-dx"
    dates = {f.field: f.date for f in m.facts}
    assert dates["labs.platelets_10e9_l"] == "2026-11-18" and dates["ecog"] == "2026-11-11"
    # the fixture scores no symptom and books no next infusion
    assert m.missing == ["symptoms.pain", "symptoms.fatigue", "next_infusion_in_days"]


def test_metastatic_panel_sessions_and_sites() -> None:
    m, _ = mapped("metastatic")
    p = m.request.patient
    assert (p.cancer_type, p.stage, p.metastatic_sites) == ("colorectal", "IV", ["liver"])
    assert p.treatment_phase == "post_treatment" and p.recent_surgery_days == 200
    assert len(m.request.sessions) == 5  # PA IG activity panels (hasMember), not their members
    assert {x.modality for x in m.request.sessions} == {"aerobic"}


def test_sparse_record_is_insufficient_and_names_what_is_missing() -> None:
    m, rec = mapped("sparse")
    assert m.request is None
    assert set(m.missing_required) == {"height_cm", "weight_kg", "stage", "treatment_phase", "ecog"}
    assert rec.get("medications") is None  # OperationOutcome = missing
    assert rec.get("procedures") is None and rec.get("activity") is None  # absent / null


def test_units_are_converted_and_unknown_units_ignored() -> None:
    body = fixture("chemo", ANCHOR)
    obs = body["prefetch"]["observations"]["entry"]
    by_code = {e["resource"]["code"]["coding"][0]["code"]: e["resource"] for e in obs}
    by_code["8310-5"]["valueQuantity"] = {"value": 100.4, "unit": "[degF]", "code": "[degF]"}
    by_code["718-7"]["valueQuantity"] = {"value": 114, "unit": "g/L", "code": "g/L"}
    by_code["29463-7"]["valueQuantity"] = {"value": 150, "unit": "[lb_av]", "code": "[lb_av]"}
    by_code["777-3"]["valueQuantity"] = {"value": 212, "unit": "furlongs", "code": "furlongs"}
    hook = HookRequest.model_validate(body)
    rec = gather(hook)
    m = map_record(
        "pt-chemo",
        ANCHOR,
        rec.patient,
        *(
            rec.get(k)
            for k in ("conditions", "observations", "activity", "medications", "procedures")
        ),
    )
    p = m.request.patient
    assert p.vitals.temperature_c == 38.0 and p.labs.hemoglobin_g_dl == 11.4
    assert p.weight_kg == pytest.approx(68.04, abs=0.01)
    assert p.labs.platelets_10e9_l is None and "labs.platelets_10e9_l" in m.missing
    assert any("unit not understood" in i for i in m.ignored)


def _pain(obs_id: str, day: str, **value) -> dict:
    return {
        "resourceType": "Observation",
        "id": obs_id,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
        "subject": {"reference": "Patient/pt-chemo"},
        "effectiveDateTime": day,
    } | value


def _map_chemo(*extra: dict):
    body = fixture("chemo", ANCHOR)
    body["prefetch"]["observations"]["entry"] += [{"resource": r} for r in extra]
    rec = gather(HookRequest.model_validate(body))
    keys = ("conditions", "observations", "activity", "medications", "procedures")
    return map_record("pt-chemo", ANCHOR, rec.patient, *(rec.get(k) for k in keys))


def test_pain_score_of_the_last_7_days_is_read_fatigue_stays_unknown() -> None:
    """Kernel 2026.12.3 reads a blank score as its worst band: pain comes from LOINC 72514-3 when
    scored in the last 7 days; an older score or one that is not 0-10 is ignored, named."""
    m = _map_chemo(
        _pain("p1", "2026-11-18", valueInteger=8), _pain("p0", "2026-11-01", valueInteger=2)
    )
    assert m.request.patient.symptoms.pain == 8
    assert {f.field: f.date for f in m.facts}["symptoms.pain"] == "2026-11-18"
    assert m.request.patient.symptoms.fatigue is None and "symptoms.fatigue" in m.missing
    q = {"valueQuantity": {"value": 3, "unit": "{score}", "code": "{score}"}}
    assert _map_chemo(_pain("p2", "2026-11-19", **q)).request.patient.symptoms.pain == 3
    old = _map_chemo(_pain("p3", "2026-11-13", valueInteger=1))
    assert old.request.patient.symptoms.pain is None and "symptoms.pain" in old.missing
    assert any("older than 7 days" in i for i in old.ignored)
    odd = {"valueQuantity": {"value": 40, "unit": "mm", "code": "mm"}}
    bad = _map_chemo(_pain("p4", "2026-11-19", **odd))
    assert bad.request.patient.symptoms.pain is None
    assert any("not a 0-10 score" in i for i in bad.ignored)


SITE = "urn:oid:2.16.840.1.113883.3.9999.1"  # a site's own code system (ESAS items)
SITE_CODES = ((SITE, "ESAS-TIREDNESS", "fatigue"), (SITE, "ESAS-PAIN", "pain"))


def _site(obs_id: str, code: str, day: str, **value) -> dict:
    return _pain(obs_id, day, **value) | {"code": {"coding": [{"system": SITE, "code": code}]}}


def _map_chemo_with(site_codes, *extra: dict):
    body = fixture("chemo", ANCHOR)
    body["prefetch"]["observations"]["entry"] += [{"resource": r} for r in extra]
    rec = gather(HookRequest.model_validate(body), templates=prefetch_templates(site_codes))
    keys = ("conditions", "observations", "activity", "medications", "procedures")
    return map_record("pt-chemo", ANCHOR, rec.patient, *(rec.get(k) for k in keys), site_codes)


def test_a_site_fatigue_code_is_read_like_pain_and_only_when_configured() -> None:
    """LOINC has no 0-10 fatigue score: a site's own code (Settings.cds_symptom_codes) is read
    like LOINC pain - the newest 0-10 score of the last 7 days, older or odd ones named - and
    without the setting the same observation is not a fatigue score (fatigue stays unknown)."""
    tired = _site("f1", "ESAS-TIREDNESS", "2026-11-18", valueInteger=6)
    older = _site("f0", "ESAS-TIREDNESS", "2026-11-02", valueInteger=1)
    m = _map_chemo_with(SITE_CODES, tired, older)
    assert m.request.patient.symptoms.fatigue == 6
    assert {f.field: f.date for f in m.facts}["symptoms.fatigue"] == "2026-11-18"
    assert "symptoms.fatigue" not in m.missing
    plain = _map_chemo_with((), tired)
    assert plain.request.patient.symptoms.fatigue is None and "symptoms.fatigue" in plain.missing
    stale = _map_chemo_with(SITE_CODES, older)
    assert stale.request.patient.symptoms.fatigue is None
    assert any("ESAS-TIREDNESS older than 7 days" in i for i in stale.ignored)
    odd = _site("f2", "ESAS-TIREDNESS", "2026-11-19", valueInteger=12)
    bad = _map_chemo_with(SITE_CODES, odd)
    assert bad.request.patient.symptoms.fatigue is None
    assert any("ESAS-TIREDNESS is not a 0-10 score" in i for i in bad.ignored)
    # the same code in another system is not the site's code
    other = _pain("f3", "2026-11-19", valueInteger=2) | {
        "code": {"coding": [{"system": "http://loinc.org", "code": "ESAS-TIREDNESS"}]}
    }
    assert _map_chemo_with(SITE_CODES, other).request.patient.symptoms.fatigue is None


def test_the_newest_score_of_a_symptom_wins_across_its_codes() -> None:
    """Pain from LOINC 72514-3 and from a site's pain code: the newer score is today's."""
    loinc = _pain("p1", "2026-11-17", valueInteger=2)
    site = _site("p2", "ESAS-PAIN", "2026-11-19", valueInteger=8)
    assert _map_chemo_with(SITE_CODES, loinc, site).request.patient.symptoms.pain == 8
    site_old = _site("p3", "ESAS-PAIN", "2026-11-15", valueInteger=8)
    assert _map_chemo_with(SITE_CODES, loinc, site_old).request.patient.symptoms.pain == 2


def test_every_code_the_mapping_reads_is_prefetched() -> None:
    """The prefetch asks for every observation code the mapping reads (LOINC 72514-3 pain was
    read but not asked for, so an EHR honouring the query never sent it), and for the site's
    symptom codes."""
    from serving.cds.discovery import LOINC, OBSERVATION_CODES
    from serving.cds.fhir_map import code_tables as ct

    read = {*ct.QUANTITIES, ct.BP_PANEL, *ct.STAGE_CODES, ct.ECOG_CODE}
    read |= {code for system, code, _ in ct.SYMPTOM_SCORES if system == LOINC}
    assert read <= set(OBSERVATION_CODES)
    query = prefetch_templates(SITE_CODES)["observations"]
    tokens = query.split("&code=")[1].split("&")[0].split(",")
    assert {f"{LOINC}|{c}" for c in read} | {f"{SITE}|ESAS-TIREDNESS", f"{SITE}|ESAS-PAIN"} <= set(
        tokens
    )
    assert len(tokens) == len(set(tokens))


def test_newest_value_before_as_of_wins_and_future_is_ignored() -> None:
    body = fixture("hold", ANCHOR)
    entries = body["prefetch"]["observations"]["entry"]
    plt = next(e["resource"] for e in entries if e["resource"]["id"] == "pt-hold-plt")
    older = json.loads(json.dumps(plt)) | {"id": "old", "effectiveDateTime": "2026-11-01"}
    older["valueQuantity"]["value"] = 150
    future = json.loads(json.dumps(plt)) | {"id": "fut", "effectiveDateTime": "2026-11-25"}
    future["valueQuantity"]["value"] = 300
    entries += [{"resource": older}, {"resource": future}]
    hook = HookRequest.model_validate(body)
    rec = gather(hook)
    m = map_record(
        "pt-hold",
        ANCHOR,
        rec.patient,
        *(
            rec.get(k)
            for k in ("conditions", "observations", "activity", "medications", "procedures")
        ),
    )
    assert m.request.patient.labs.platelets_10e9_l == 15


def test_invalid_resources_are_dropped_and_implausible_values_unknown() -> None:
    body = fixture("chemo", ANCHOR)
    entries = body["prefetch"]["observations"]["entry"]
    entries.append({"resource": {"resourceType": "Observation", "id": "bad", "status": "nonsense"}})
    hr = next(e["resource"] for e in entries if e["resource"].get("id") == "pt-chemo-hr")
    hr["valueQuantity"]["value"] = 900  # beyond the contract's bound: unknown, never clipped
    hook = HookRequest.model_validate(body)
    rec = gather(hook)
    assert rec.invalid == 1
    m = map_record(
        "pt-chemo",
        ANCHOR,
        rec.patient,
        *(
            rec.get(k)
            for k in ("conditions", "observations", "activity", "medications", "procedures")
        ),
    )
    assert m.request.patient.vitals.resting_hr is None
    assert "vitals.resting_hr" in m.missing


@pytest.mark.parametrize(
    ("value", "unit", "rpe"),
    [
        (0, "{score}", 6),
        (1, "", 8),
        (3, "{CR10}", 12),
        (5, "", 14),
        (10, "", 20),
        (13, "", 13),
        (9, "{Borg 6-20}", 9),
        (11, "{Borg 6-20}", 11),
        (21, "", None),
        (-1, "", None),
    ],
)
def test_borg_table(value: float, unit: str, rpe: int | None) -> None:
    assert borg_rpe(value, unit) == rpe


def test_absent_prefetch_is_fetched_from_the_fhir_server_with_its_token() -> None:
    body = fixture("chemo", ANCHOR)
    patient = body["prefetch"].pop("patient")
    body["prefetch"]["orders"] = {"resourceType": "Bundle", "type": "searchset"}  # sent: none
    body["fhirServer"] = "https://fhir.ehr.test/r4"
    body["fhirAuthorization"] = {
        "access_token": "tok-123",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/Patient.read",
        "subject": "dosewise",
    }
    seen = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers["authorization"]))
        return httpx.Response(200, json=patient)

    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        rec = gather(HookRequest.model_validate(body), client)
    assert rec.patient["id"] == "pt-chemo"
    assert seen == [("https://fhir.ehr.test/r4/Patient/pt-chemo", "Bearer tok-123")]


def test_age_is_completed_years_at_as_of() -> None:
    from serving.cds.fhir_map import resolve_age

    assert resolve_age(dt.date(1969, 11, 21), ANCHOR) == 56
    assert resolve_age(dt.date(1969, 11, 20), ANCHOR) == 57


def test_only_the_context_patient_is_used() -> None:
    body = fixture("chemo", ANCHOR)
    other = json.loads(json.dumps(body["prefetch"]["observations"]["entry"][3]["resource"]))
    other["id"] = "other-plt"
    other["subject"] = {"reference": "https://fhir.ehr.test/Patient/someone-else"}
    body["prefetch"]["observations"]["entry"].append({"resource": other})
    rec = gather(HookRequest.model_validate(body))
    assert rec.invalid == 1 and "other-plt" not in {o["id"] for o in rec.get("observations")}
    body["prefetch"]["patient"]["id"] = "someone-else"
    assert gather(HookRequest.model_validate(body)).patient is None  # -> 412, never the wrong chart


def test_resources_of_no_resource_type_and_broken_bundles_are_dropped_and_counted() -> None:
    """Found by tests/cds/test_cds_fuzz.py: an unknown resourceType raised in fhir.resources,
    and a Bundle whose `entry` is not a list raised in the reader (both a 500 before)."""
    body = fixture("chemo", ANCHOR)
    entries = body["prefetch"]["observations"]["entry"]
    entries.append({"resource": {"resourceType": "Foo", "id": "x"}})
    entries.append({"resource": {"resourceType": "Coding", "code": "x"}})  # a type, no resource
    body["prefetch"]["conditions"]["entry"] = {"resource": {"resourceType": "Condition"}}
    rec = gather(HookRequest.model_validate(body))
    assert rec.invalid == 3
    assert rec.get("conditions") is None  # missing, never an empty list
    assert {o["resourceType"] for o in rec.get("observations")} == {"Observation"}
    assert resource_problem({"resourceType": "Foo"}) == "resourceType: not a FHIR R4B resource type"
    assert resource_problem({"resourceType": "Patient", "gender": 7}) == "gender: string_type"


def _appointment(appt_id: str, start: str, status: str = "booked", code: str = "367336001",
                 patient: str = "pt-chemo", field: str = "serviceType") -> dict:  # fmt: skip
    concept = {"coding": [{"system": "http://snomed.info/sct", "code": code}]}
    return {
        "resourceType": "Appointment",
        "id": appt_id,
        "status": status,
        field: concept if field == "appointmentType" else [concept],
        "start": start,
        "participant": [{"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"}],
    }


def _map_chemo_appointments(*appointments: dict, infusion_codes=()):
    body = fixture("chemo", ANCHOR)
    body["prefetch"]["appointments"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": a} for a in appointments],
    }
    rec = gather(HookRequest.model_validate(body))
    keys = ("conditions", "observations", "activity", "medications", "procedures")
    appointments = rec.get("appointments")
    lists = (rec.get(k) for k in keys)
    return map_record(
        "pt-chemo", ANCHOR, rec.patient, *lists, (), appointments, infusion_codes
    ), rec


def test_next_infusion_is_the_soonest_chemotherapy_appointment_to_come() -> None:
    """The next infusion (kernel: the infusion window) from Appointments: the soonest one coded
    chemotherapy that is still to come, whatever its status short of cancelled (the soonest is
    the strictest reading). Past, cancelled, other kinds of visit and another patient's
    appointments do not count; without one the date stays unknown and is named missing."""
    m, rec = _map_chemo_appointments(
        _appointment("a-booked", "2026-12-02T09:00:00Z"),  # in 12 days (ANCHOR 2026-11-20)
        _appointment("a-pending", "2026-11-25T09:00:00Z", "pending", field="appointmentType"),
        _appointment("a-cancelled", "2026-11-22T09:00:00Z", "cancelled"),
        _appointment("a-cardiology", "2026-11-21T09:00:00Z", code="394579002"),
        _appointment("a-past", "2026-11-11T09:00:00Z", code="385786002"),
        _appointment("a-other", "2026-11-21T09:00:00Z", patient="pt-other"),
    )
    assert rec.invalid == 1  # another patient's appointment is dropped
    assert m.request.patient.next_infusion_in_days == 5
    fact = {f.field: f for f in m.facts}["next_infusion_in_days"]
    assert (fact.date, fact.source) == ("2026-11-25", "Appointment")
    assert "next_infusion_in_days" not in m.missing
    today = _map_chemo_appointments(_appointment("a-today", "2026-11-20T15:00:00Z", "arrived"))[0]
    assert today.request.patient.next_infusion_in_days == 0  # the infusion day
    for none in ((), (_appointment("a-x", "2026-11-25T09:00:00Z", "cancelled"),)):
        m, _ = _map_chemo_appointments(*none)
        assert m.request.patient.next_infusion_in_days is None
        assert "next_infusion_in_days" in m.missing


def test_a_site_infusion_visit_code_counts_only_when_configured() -> None:
    """An EHR whose infusion visits carry a local code: read as the next infusion only when the
    site names that code (Settings.infusion_codes, DOSEWISE_CDS_INFUSION_CODES)."""
    site = ("urn:oid:2.16.840.1.113883.3.9999.2", "ONC-INFUSION")
    visit = _appointment("a-site", "2026-11-27T09:00:00Z")
    visit["serviceType"] = [{"coding": [{"system": site[0], "code": site[1]}]}]
    assert _map_chemo_appointments(visit)[0].request.patient.next_infusion_in_days is None
    m, _ = _map_chemo_appointments(visit, infusion_codes=(site,))
    assert m.request.patient.next_infusion_in_days == 7
