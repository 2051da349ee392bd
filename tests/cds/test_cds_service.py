"""The CDS Hooks service in process (the BentoML app's ASGI, stand-in models): discovery,
patient-view for every fixture patient, 412, order-sign above and within the limits, feedback
and its metrics, and the same decision via FHIR as via `/recommend`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.servicerequest import ServiceRequest
from sqlalchemy import select

from features.contract.rest import Prescription
from features.settings import Settings
from serving.audit import audit_log, make_engine
from serving.cds import cards
from serving.cds.discovery import PREFETCH
from serving.cds.orders import (
    DOSE_EXTENSION,
    MODALITY_SYSTEM,
    check_pa_servicerequest,
)
from serving.cds.store import cds_feedback
from serving.guidelines import check_prescription
from tests.cds.helpers import FHIR, ISS, auth, cds_client, dated, fixture

PV = "/cds-services/dosewise-patient-view"
OS = "/cds-services/dosewise-order-sign"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cds-service")


@pytest.fixture(scope="module")
def client(root: Path):
    with cds_client(root) as c:
        yield c


def call(client, path: str, body: Any, **kw):
    return client.post(path, json=body, headers=auth(path, **kw))


def audit_row(root: Path, card_uuid: str) -> dict[str, Any]:
    engine = make_engine(Settings(root=root).audit_db_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(select(audit_log).where(audit_log.c.uuid == card_uuid)).mappings()
            return dict(row.one())
    finally:
        engine.dispose()


# --- discovery -----------------------------------------------------------------------------------
# token equality (code, category, clinical-status, status), _sort and _count: CDS Hooks 2.0
# "Prefetch query restrictions"
ALLOWED_PARAMS = {"patient", "code", "category", "clinical-status", "status", "_sort", "_count"}


def test_discovery_lists_both_services_with_the_prefetch_keys(client) -> None:
    resp = client.get("/cds-services", headers=auth("/cds-services"))
    assert resp.status_code == 200
    services = {s["id"]: s for s in resp.json()["services"]}
    assert services["dosewise-patient-view"]["hook"] == "patient-view"
    assert services["dosewise-order-sign"]["hook"] == "order-sign"
    for s in services.values():
        assert s["title"] and s["description"]
        assert set(s["prefetch"]) == {
            "patient",
            "conditions",
            "observations",
            "activity",
            "medications",
            "procedures",
            "appointments",
            "orders",
        }
    assert (
        services["dosewise-patient-view"]["prefetch"]["patient"] == "Patient/{{context.patientId}}"
    )


@pytest.mark.parametrize("key", sorted(PREFETCH))
def test_prefetch_templates_use_only_cds_hooks_2_query_forms(key: str) -> None:
    template = PREFETCH[key]
    assert re.findall(r"\{\{([^}]*)\}\}", template) == ["context.patientId"]
    if "?" not in template:
        assert template == "Patient/{{context.patientId}}"
        return
    resource, query = template.split("?")
    assert resource.isalpha()
    for part in query.split("&"):
        name = part.partition("=")[0]
        assert name in ALLOWED_PARAMS, name  # no chaining, no _include, no modifiers
        assert ":" not in name
    assert "patient={{context.patientId}}" in query


# --- patient-view ---------------------------------------------------------------------------------
def check_service_requests(card: dict[str, Any], patient: str) -> list[dict[str, Any]]:
    """Every created ServiceRequest: R4B-valid, PA IG profile constraints met; returns them."""
    srs = [
        a["resource"] for s in card["suggestions"] for a in s["actions"] if a["type"] == "create"
    ]
    for sr in srs:
        ServiceRequest.model_validate(sr)
        assert check_pa_servicerequest(sr) == []
        assert (sr["status"], sr["intent"]) == ("draft", "order")
        assert sr["subject"] == {"reference": f"Patient/{patient}"}
        assert sr["reasonReference"] == [{"reference": f"Condition/{patient}-dx"}]
        assert sr["requester"] == {"reference": "Practitioner/pr-7"}
    return srs


def test_patient_view_dose_card(client, root: Path) -> None:
    resp = call(client, PV, fixture("chemo"), tenant="clinic-42")
    assert resp.status_code == 200, resp.text
    [card] = resp.json()["cards"]
    assert card["indicator"] == "info" and len(card["summary"]) < 140
    verbs = ("Exercise", "Keep exercise", "Ease exercise")  # progress / maintain / regress (deload)
    assert card["summary"].startswith(tuple(f"{v}: aerobic" for v in verbs)), card["summary"]
    assert card["source"]["label"] == "Dosewise" and "guideline=" in card["source"]["url"]
    assert card["selectionBehavior"] == "at-most-one" and len(card["suggestions"]) == 1
    assert all(r["display"] for r in card["overrideReasons"])
    srs = check_service_requests(card, "pt-chemo")
    assert {sr["orderDetail"][0]["coding"][0]["code"] for sr in srs} == {"aerobic", "resistance"}
    row = audit_row(root, card["uuid"])  # the card's uuid is the audit row's
    assert row["endpoint"] == "cds-patient-view" and row["patient_id"] == "pt-chemo"
    assert row["tenant"] == f"{ISS}#clinic-42"
    rx = Prescription.model_validate(row["prescription"])
    aerobic = next(sr for sr in srs if sr["orderDetail"][0]["coding"][0]["code"] == "aerobic")
    repeat = aerobic["occurrenceTiming"]["repeat"]
    assert (repeat["frequency"], repeat["period"], repeat["periodUnit"]) == (
        rx.aerobic.sessions_per_week,
        1,
        "wk",
    )
    assert repeat["duration"] == round(rx.aerobic.minutes_per_session, 1)
    ext = {p["url"]: p for p in aerobic["extension"][0]["extension"]}
    assert aerobic["extension"][0]["url"] == DOSE_EXTENSION
    assert ext["intensityLow"]["valueQuantity"]["value"] == rx.aerobic.intensity_pct_hrmax.low
    assert ext["intensityHigh"]["valueQuantity"]["value"] == rx.aerobic.intensity_pct_hrmax.high
    low, high = rx.aerobic.intensity_pct_hrmax.low, rx.aerobic.intensity_pct_hrmax.high
    assert f"{low:g}-{high:g}% of maximum heart rate" in aerobic["patientInstruction"]
    detail = card["detail"]
    for rule in row["rules"]:
        assert f"`{rule}`" in detail
    assert "| labs.platelets_10e9_l | 212 (10*3/uL) |" in detail  # data used, with its date
    assert "**Missing (treated as unknown)**" in detail


def test_patient_view_metastatic_caps(client) -> None:
    [card] = call(client, PV, fixture("metastatic")).json()["cards"]
    assert card["indicator"] == "info"
    assert "`metastasis.liver`" in card["detail"]
    check_service_requests(card, "pt-metastatic")


def test_patient_view_hold(client, root: Path) -> None:
    [card] = call(client, PV, fixture("hold")).json()["cards"]
    assert card["indicator"] == "warning" and card["summary"].startswith("Hold exercise")
    assert card["suggestions"] == [] and "`hold.platelets_below_20`" in card["detail"]
    assert audit_row(root, card["uuid"])["decision"] == "hold"


def test_patient_view_refer_suggests_a_referral(client) -> None:
    [card] = call(client, PV, fixture("refer")).json()["cards"]
    assert card["indicator"] == "warning" and card["summary"].startswith("Refer")
    [sr] = check_service_requests(card, "pt-refer")
    assert sr["code"]["coding"][0]["code"] == "390893007"
    assert "occurrenceTiming" not in sr


def test_patient_view_sparse_record_names_what_is_missing(client) -> None:
    [card] = call(client, PV, fixture("sparse")).json()["cards"]
    assert card["indicator"] == "info" and card["suggestions"] == []
    for name in ("height_cm", "weight_kg", "stage", "treatment_phase", "ecog"):
        assert name in card["detail"]
    assert len(card["summary"]) < 140


@pytest.mark.parametrize(
    "patient", [None, {"resourceType": "OperationOutcome", "issue": []}, "drop"]
)
def test_patient_view_412_without_the_patient(client, patient) -> None:
    body = fixture("chemo")
    if patient == "drop":
        del body["prefetch"]["patient"]  # absent and no fhirServer to fetch it from
    else:
        body["prefetch"]["patient"] = patient
    resp = call(client, PV, body)
    assert resp.status_code == 412 and resp.json()["error"] == "precondition_failed"


def test_patient_view_422_names_the_field(client) -> None:
    body = fixture("chemo")
    body["hook"] = "order-sign"
    resp = call(client, PV, body)
    assert resp.status_code == 422 and resp.json()["details"][0]["loc"] == ["hook"]
    body = fixture("chemo")
    del body["context"]["patientId"]
    resp = call(client, PV, body)
    assert resp.status_code == 422 and resp.json()["details"][0]["loc"] == ["context", "patientId"]
    resp = client.post(
        PV, content=b"{not json", headers={**auth(PV), "content-type": "application/json"}
    )
    assert resp.status_code == 422
    assert call(client, "/cds-services/nope", fixture("chemo")).status_code == 404


def test_same_patient_via_fhir_and_via_recommend(client, root: Path) -> None:
    """The FHIR record and the contract JSON written by hand from the same facts give the same
    decision and prescription (the same /recommend code path)."""
    [card] = call(client, PV, fixture("chemo")).json()["cards"]
    via_fhir = audit_row(root, card["uuid"])
    body = json.loads(dated((FHIR / "recommend-chemo.json").read_text()))
    resp = client.post(
        "/recommend", json=body, headers={"Authorization": "Bearer rest-key-0123456789"}
    )
    assert resp.status_code == 200, resp.text
    direct = resp.json()
    assert direct["decision"] == via_fhir["decision"]
    assert direct["prescription"] == via_fhir["prescription"]
    assert [r["id"] for r in direct["rules"]] == via_fhir["rules"]


def test_review_url_becomes_a_link() -> None:
    from serving.cds.fhir_map import Mapped
    from tests.fakes import hold_recommendation

    rec = hold_recommendation()
    url = "https://dosewise.test/ui/recommendations/abc?sig=x"
    card = cards.recommendation_card(
        rec, Mapped(request=None), "u-1", "p", "https://d.test", None, url
    )
    assert [link.url for link in card.links] == [url]
    assert card.summary == "Hold exercise this week: fever"
    card = cards.recommendation_card(rec, Mapped(request=None), "u", "p", "x", None, "")
    assert card.links == []


# --- order-sign -----------------------------------------------------------------------------------
DEFAULT_SUBJECT = {"reference": "Patient/pt-chemo"}


def order(sr_id: str, sessions: int, minutes: float, low: float, high: float) -> dict[str, Any]:
    """An exercise order as an EHR might draft it (aerobic, intensity in the Dosewise extension;
    RPE 9-11: the FHIR record gives no next-infusion date, so during chemotherapy the kernel allows
    light work only, kernel 2026.12.2; and no fatigue or pain score, so sessions of 10 minutes at
    most, the symptomatic-day band, kernel 2026.12.3)."""
    return {
        "resourceType": "ServiceRequest",
        "id": sr_id,
        "status": "draft",
        "intent": "order",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "229065009"}]},
        "orderDetail": [{"coding": [{"system": MODALITY_SYSTEM, "code": "aerobic"}]}],
        "subject": DEFAULT_SUBJECT,
        "occurrenceTiming": {
            "repeat": {
                "frequency": sessions,
                "period": 1,
                "periodUnit": "wk",
                "duration": minutes,
                "durationUnit": "min",
            }
        },
        "extension": [
            {
                "url": DOSE_EXTENSION,
                "extension": [
                    {"url": "intensityLow", "valueQuantity": {"value": low, "unit": "%HRmax"}},
                    {"url": "intensityHigh", "valueQuantity": {"value": high, "unit": "%HRmax"}},
                    {"url": "rpeLow", "valueInteger": 9},
                    {"url": "rpeHigh", "valueInteger": 11},
                ],
            }
        ],
    }


def order_sign_body(name: str, *orders: dict[str, Any]) -> dict[str, Any]:
    """An order-sign call for fixture `name`: orders drafted with `order`'s default subject
    are for that fixture's patient (an order naming another patient is flagged, not checked)."""
    body = fixture(name)
    body["hook"] = "order-sign"
    mine = {"reference": f"Patient/{body['context']['patientId']}"}
    drafted = [o | {"subject": mine} if o.get("subject") == DEFAULT_SUBJECT else o for o in orders]
    body["context"]["draftOrders"] = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": o} for o in drafted],
    }
    return body


def test_order_sign_within_limits_gives_no_card(client) -> None:
    resp = call(client, OS, order_sign_body("chemo", order("sr-1", 2, 10, 55, 60)))
    assert resp.status_code == 200 and resp.json() == {"cards": []}


def test_order_sign_above_a_hard_limit_is_critical_with_the_safe_dose(client) -> None:
    resp = call(client, OS, order_sign_body("chemo", order("sr-2", 7, 90, 80, 90)))
    assert resp.status_code == 200, resp.text
    [card] = resp.json()["cards"]
    assert card["indicator"] == "critical" and len(card["summary"]) < 140
    assert "`global.aerobic_intensity`" in card["detail"] or "`aerobic." in card["detail"]
    [suggestion] = card["suggestions"]
    [action] = suggestion["actions"]
    assert action["type"] == "update"
    sr = action["resource"]
    assert sr["id"] == "sr-2"
    ServiceRequest.model_validate(sr)
    assert check_pa_servicerequest(sr) == []
    # the replacement is inside the kernel's envelope for this patient
    from serving.cds.fhir_map import map_record  # noqa: F401  (same path as the service)
    from serving.cds.models import HookRequest
    from serving.cds.order_check import kernel_for
    from serving.cds.orders import read_order
    from serving.cds.prefetch import gather
    from serving.cds.routes import _mapped, today

    hook = HookRequest.model_validate(fixture("chemo"))
    result = kernel_for(_mapped(gather(hook), "pt-chemo", today()).request)
    _, dose, unstated = read_order(sr, {})
    assert unstated == []
    rx = Prescription(aerobic=dose, restrictions=list(result.restrictions))
    assert check_prescription(rx, result) == []


def test_order_sign_under_a_hold_removes_the_order(client) -> None:
    resp = call(client, OS, order_sign_body("hold", order("sr-3", 2, 20, 50, 55)))
    [card] = resp.json()["cards"]
    assert card["indicator"] == "critical" and "hold.platelets_below_20" in card["summary"]
    [action] = card["suggestions"][0]["actions"]
    assert action == {
        "type": "delete",
        "description": "Remove the exercise order",
        "resourceId": ["ServiceRequest/sr-3"],
    }


def test_order_sign_ignores_other_orders(client) -> None:
    other = {
        "resourceType": "MedicationRequest",
        "id": "m1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/pt-chemo"},
        "medicationCodeableConcept": {"text": "ondansetron"},
    }
    assert call(client, OS, order_sign_body("chemo", other)).json() == {"cards": []}


def test_order_sign_an_exercise_order_that_is_not_valid_fhir_gets_a_warning(client) -> None:
    """An order Dosewise cannot read must not pass as checked (before: silently no card)."""
    bad = order("sr-5", 3, 30, 60, 70)
    bad["occurrenceTiming"]["repeat"]["frequency"] = "three"  # R4B: positiveInt
    resp = call(client, OS, order_sign_body("chemo", bad))
    assert resp.status_code == 200, resp.text
    [card] = resp.json()["cards"]
    assert card["indicator"] == "warning" and "cannot check 1 exercise order" in card["summary"]
    assert "ServiceRequest/sr-5" in card["detail"] and "frequency" in card["detail"]
    assert "three" not in card["detail"]  # where, never the value
    # beside an order over the limits: both cards
    over = order("sr-6", 7, 90, 80, 90)
    resp = call(client, OS, order_sign_body("chemo", bad, over))
    assert [c["indicator"] for c in resp.json()["cards"]] == ["critical", "warning"]
    # beside an order within the limits: the warning alone
    ok = order("sr-7", 2, 10, 55, 60)
    resp = call(client, OS, order_sign_body("chemo", ok, bad))
    assert [c["indicator"] for c in resp.json()["cards"]] == ["warning"]
    # under a hold it is removed like any exercise order, readable or not
    cards_ = call(client, OS, order_sign_body("hold", bad)).json()["cards"]
    assert [c["indicator"] for c in cards_] == ["critical", "warning"]
    [action] = cards_[0]["suggestions"][0]["actions"]
    assert action["type"] == "delete" and action["resourceId"] == ["ServiceRequest/sr-5"]


def test_order_sign_an_order_without_a_readable_frequency_is_never_passed(client) -> None:
    """No sessions per week (or a period of 0): under a hold the order is still removed, and
    for an allowed patient the card says it was not checked (before: no card either way)."""
    timeless = order("sr-8", 3, 30, 60, 70)
    del timeless["occurrenceTiming"]
    zero_period = order("sr-9", 3, 30, 60, 70)
    zero_period["occurrenceTiming"]["repeat"]["period"] = 0
    [card] = call(client, OS, order_sign_body("hold", timeless)).json()["cards"]
    assert card["indicator"] == "critical"
    [action] = card["suggestions"][0]["actions"]
    assert action["type"] == "delete" and action["resourceId"] == ["ServiceRequest/sr-8"]
    for sr in (timeless, zero_period):
        [card] = call(client, OS, order_sign_body("chemo", sr)).json()["cards"]
        assert card["indicator"] == "warning", card
        assert (
            f"ServiceRequest/{sr['id']}" in card["detail"] and "sessions per week" in card["detail"]
        )


def test_order_sign_reads_odd_numbers_without_loosening(client) -> None:
    """A quantity without a value is unstated (checked at the floor, named); a huge frequency
    is over the limit, never unreadable."""
    no_value = order("sr-10", 2, 10, 55, 60)
    no_value["extension"][0]["extension"][0]["valueQuantity"].pop("value")
    resp = call(client, OS, order_sign_body("chemo", no_value))
    assert resp.status_code == 200 and resp.json() == {"cards": []}
    huge = order("sr-11", 3, 30, 60, 70)
    huge["occurrenceTiming"]["repeat"]["frequency"] = 100_000
    [card] = call(client, OS, order_sign_body("chemo", huge)).json()["cards"]
    assert card["indicator"] == "critical" and "sessions" in card["detail"]


def test_order_sign_replacement_keeps_only_a_patient_subject(client) -> None:
    """Found by the fuzzer: a draft whose subject is not a Patient made the replacement break
    the PA profile (a 500); the replacement names the patient instead."""
    odd = order("sr-12", 7, 90, 80, 90)
    odd["subject"] = {"reference": "Group/ward-3"}
    [card] = call(client, OS, order_sign_body("chemo", odd)).json()["cards"]
    [action] = card["suggestions"][0]["actions"]
    assert action["resource"]["subject"] == {"reference": "Patient/pt-chemo"}
    assert check_pa_servicerequest(action["resource"]) == []


def test_order_sign_an_order_without_a_modality_is_also_checked_as_resistance(client) -> None:
    """An order that does not say aerobic or resistance is read as aerobic; read only so, 5
    sessions a week passed where resistance training allows 3. Now it is flagged, and the
    replacement states the modality (aerobic, inside the limits)."""
    vague = order("sr-13", 5, 10, 55, 60)
    del vague["orderDetail"]
    [card] = call(client, OS, order_sign_body("chemo", vague)).json()["cards"]
    assert card["indicator"] == "critical"
    text = " ".join(card["detail"].split())
    assert "modality not stated: as resistance training, 5 sessions/week is above the 3" in text
    assert "Not stated in the order: modality." in text
    [action] = card["suggestions"][0]["actions"]
    assert action["resource"]["orderDetail"][0]["coding"][0]["code"] == "aerobic"
    stated = order("sr-14", 5, 10, 55, 60)  # the same order, modality stated: within limits
    assert call(client, OS, order_sign_body("chemo", stated)).json() == {"cards": []}


def test_an_order_without_a_modality_where_resistance_is_closed() -> None:
    from dataclasses import replace

    from serving.cds.models import HookRequest
    from serving.cds.order_check import check_orders, kernel_for
    from serving.cds.prefetch import gather
    from serving.cds.routes import _mapped, today

    hook = HookRequest.model_validate(fixture("chemo"))
    result = kernel_for(_mapped(gather(hook), "pt-chemo", today()).request)
    closed = replace(result, envelope=replace(result.envelope, resistance_allowed=False))
    vague = order("sr-15", 2, 10, 55, 60)
    del vague["orderDetail"]
    found = check_orders([vague], closed, "pt-chemo", None)
    assert any("resistance training is not allowed this week" in p for p in found.problems)
    assert check_orders([order("sr-16", 2, 10, 55, 60)], closed, "pt-chemo", None).problems == []


def test_order_sign_an_order_without_an_id_is_never_named_none(client) -> None:
    nameless = order("x", 2, 20, 55, 60)
    del nameless["id"]
    [card] = call(client, OS, order_sign_body("hold", nameless)).json()["cards"]
    assert card["indicator"] == "critical" and "None" not in json.dumps(card)


def test_order_sign_draft_orders_entry_not_a_list_is_422(client) -> None:
    """Found by the fuzzer (a 500): `draftOrders.entry` that is not a list."""
    body = order_sign_body("chemo", order("sr-17", 2, 20, 55, 60))
    body["context"]["draftOrders"]["entry"] = 7
    resp = call(client, OS, body)
    assert resp.status_code == 422 and "entry" in resp.text


# --- feedback -------------------------------------------------------------------------------------
def test_feedback_is_stored_joined_to_the_audit_row_and_counted(client, root: Path) -> None:
    [accepted] = call(client, PV, fixture("metastatic")).json()["cards"]
    [overridden] = call(client, PV, fixture("hold")).json()["cards"]
    fb = PV + "/feedback"
    body = {
        "feedback": [
            {
                "card": accepted["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": accepted["suggestions"][0]["uuid"]}],
                "outcomeTimestamp": "2026-11-20T10:05:31Z",
            },
            {
                "card": overridden["uuid"],
                "outcome": "overridden",
                "overrideReason": {
                    "reason": {
                        "system": cards.OVERRIDE_SYSTEM,
                        "code": "data-outdated",
                        "display": "Data in the record is outdated",
                    },
                    "userComment": "Spoke with Jane Doe, labs redrawn",
                },
                "outcomeTimestamp": "2026-11-20T10:06:00Z",
            },
        ]
    }
    resp = call(client, fb, body)
    assert resp.status_code == 200, resp.text
    engine = make_engine(Settings(root=root).audit_db_url)
    try:
        with engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(select(cds_feedback)).mappings()]
    finally:
        engine.dispose()
    by_card = {r["card_uuid"]: r for r in rows}
    assert by_card[accepted["uuid"]]["outcome"] == "accepted"
    assert by_card[overridden["uuid"]]["override_code"] == "data-outdated"
    assert "Jane" not in json.dumps(rows, default=str)  # free text is never stored
    metrics = client.get("/metrics").text
    assert 'dosewise_cds_acceptance_rate{key="hold",scope="decision"} 0.0' in metrics
    assert 'dosewise_cds_acceptance_rate{key="hold.platelets_below_20",scope="rule"} 0.0' in metrics
    assert re.search(
        r'dosewise_cds_acceptance_rate\{key="metastasis.liver",scope="rule"\} 1.0', metrics
    )
    assert 'endpoint="cds-patient-view-feedback"' in metrics
    bad = {
        "feedback": [
            {
                **body["feedback"][1],
                "overrideReason": {"reason": {"system": cards.OVERRIDE_SYSTEM, "code": "made-up"}},
            }
        ]
    }
    resp = call(client, fb, bad)
    assert resp.status_code == 422
    assert resp.json()["details"][0]["loc"] == ["feedback", 0, "overrideReason", "reason", "code"]


def test_an_order_for_another_patient_is_flagged_not_checked(client) -> None:
    """A draft exercise order whose subject is another patient (a possible wrong-patient order)
    is never checked against this patient's limits: a critical card says so, without the other
    patient's id; this patient's own order beside it is checked as usual (here within limits)."""
    foreign = order("sr-foreign", 2, 10, 55, 60) | {"subject": {"reference": "Patient/pt-other"}}
    body = order_sign_body("chemo", foreign, order("sr-own", 2, 10, 55, 60))
    resp = call(client, OS, body)
    assert resp.status_code == 200, resp.text
    [card] = resp.json()["cards"]
    assert card["indicator"] == "critical"
    assert (
        card["summary"]
        == "1 exercise order names another patient: confirm the patient before signing"
    )
    assert "sr-foreign" in card["detail"] and "sr-own" not in card["detail"]
    assert "pt-other" not in json.dumps(card)
    # alone, a dose far outside this patient's limits still gets only that card
    far = order("sr-far", 6, 90, 85, 90) | {"subject": {"reference": "Patient/pt-other"}}
    [card] = call(client, OS, order_sign_body("chemo", far)).json()["cards"]
    assert card["summary"].startswith("1 exercise order names another patient")
