"""The current prescription from the EHR's active exercise orders (serving/cds/current.py): read
exactly as a REST client would send it, the progression reference handed back only while the
order still states the dose Dosewise wrote, nothing read that is not in force on `as_of`; and in
the service, a second patient-view on the orders of the first gives what `/recommend` gives a
client that hands the previous response back."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest

from features.contract.rest import (
    AerobicDose,
    IntRange,
    Prescription,
    ProgressionReference,
    Range,
    ResistanceDose,
)
from serving.cds import orders
from serving.cds.current import REFERENCE_EXTENSION, current_from_orders, with_reference
from tests.cds.helpers import FHIR, auth, cds_client, dated, fixture

PV = "/cds-services/dosewise-patient-view"
OS = "/cds-services/dosewise-order-sign"
AS_OF = dt.date(2026, 11, 20)
WALK = AerobicDose(
    sessions_per_week=3,
    minutes_per_session=25,
    intensity_pct_hrmax=Range(low=62, high=66),
    rpe=IntRange(low=11, high=13),
)
LIFT = ResistanceDose(
    sessions_per_week=2,
    sets=2,
    reps=IntRange(low=10, high=12),
    intensity_pct_1rm=Range(low=48, high=52),
)
REF = ProgressionReference(
    aerobic_sessions=3,
    aerobic_minutes=30,
    aerobic_pct_hrmax=66,
    resistance_sessions=2,
    resistance_sets=2,
    resistance_reps=12,
    resistance_pct_1rm=55,
)


def active(
    modality: str,
    dose: AerobicDose | ResistanceDose,
    ref: ProgressionReference | None = REF,
    authored: str = "2026-11-13T09:00:00Z",
    sr_id: str | None = None,
    patient: str = "pt-1",
) -> dict[str, Any]:
    """An order Dosewise suggested (with the reference), then signed: status active."""
    sr = orders.build_service_request(
        patient, modality, dose, ["no_high_impact"], "Condition/dx", None
    )
    if ref is not None:
        sr = with_reference(sr, modality, ref)
    return sr | {"status": "active", "authoredOn": authored, "id": sr_id or f"{modality}-1"}


def test_the_orders_dosewise_wrote_read_back_as_the_prescription_and_the_reference() -> None:
    got = current_from_orders([active("aerobic", WALK), active("resistance", LIFT)], AS_OF)
    assert got.prescription == Prescription(
        aerobic=WALK, resistance=LIFT, restrictions=["no_high_impact"]
    )
    assert got.reference == REF
    assert set(got.read) == {"aerobic", "resistance"} and got.ignored == []
    assert [f.source for f in got.facts] == [
        "ServiceRequest/aerobic-1",
        "ServiceRequest/resistance-1",
    ]


def test_one_modality_gives_its_half_of_the_reference_and_no_dose_of_the_other() -> None:
    got = current_from_orders([active("aerobic", WALK)], AS_OF)
    assert got.prescription == Prescription(aerobic=WALK, restrictions=["no_high_impact"])
    assert got.reference is not None
    assert (got.reference.aerobic_sessions, got.reference.aerobic_minutes) == (3, 30)
    assert got.reference.resistance_sessions == 0  # 0 sessions: no reference of that modality


def test_an_order_changed_by_hand_keeps_its_dose_and_drops_the_reference() -> None:
    edited = active("aerobic", WALK)
    edited["occurrenceTiming"]["repeat"]["frequency"] = 4
    got = current_from_orders([edited], AS_OF)
    assert got.prescription is not None and got.prescription.aerobic is not None
    assert got.prescription.aerobic.sessions_per_week == 4
    assert got.reference is None
    # the same for the intensity in the dose extension
    edited = active("aerobic", WALK)
    part = next(p for p in edited["extension"][0]["extension"] if p["url"] == "intensityHigh")
    part["valueQuantity"]["value"] = 70
    assert current_from_orders([edited], AS_OF).reference is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"authoredOn": "2026-11-21T08:00:00Z"}, "authored after 2026-11-20"),
        ({"occurrencePeriod": {"start": "2026-10-01", "end": "2026-11-19"}}, "period has ended"),
        ({"intent": "proposal"}, "not an order"),
    ],
)
def test_an_order_not_in_force_on_as_of_is_not_read(change: dict[str, Any], reason: str) -> None:
    got = current_from_orders([active("aerobic", WALK) | change], AS_OF)
    assert got.prescription is None and got.reference is None
    assert len(got.ignored) == 1 and reason in got.ignored[0]


def test_an_order_on_hold_is_still_the_prescription_to_resume_from() -> None:
    got = current_from_orders([active("aerobic", WALK) | {"status": "on-hold"}], AS_OF)
    assert got.prescription is not None and got.prescription.aerobic == WALK
    assert got.reference is not None


def test_statuses_other_than_active_or_on_hold_and_other_orders_are_not_read() -> None:
    for status in ("draft", "revoked", "completed", "entered-in-error"):
        got = current_from_orders([active("aerobic", WALK) | {"status": status}], AS_OF)
        assert got.prescription is None
    lab = {"resourceType": "ServiceRequest", "status": "active", "intent": "order",
           "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]}}  # fmt: skip
    assert current_from_orders([lab], AS_OF).prescription is None
    assert current_from_orders(None, AS_OF).prescription is None


def test_the_newest_order_of_a_modality_is_the_current_one() -> None:
    old = active("aerobic", WALK, authored="2026-11-01T09:00:00Z", sr_id="old")
    shorter = WALK.model_copy(update={"minutes_per_session": 20.0})
    new = active("aerobic", shorter, authored="2026-11-15T09:00:00Z", sr_id="new")
    got = current_from_orders([old, new], AS_OF)
    assert got.prescription is not None and got.prescription.aerobic == shorter
    assert got.ignored == ["ServiceRequest/old: an older aerobic order"]


def test_an_order_that_does_not_state_its_whole_dose_is_not_read() -> None:
    """An order written by hand without the dose extension: its intensity (and RPE) unknown.
    Read with a made-up value it could loosen the progression limits; it is named instead, and
    the kernel reads the session log's dose (2026.12.7)."""
    bare = active("aerobic", WALK)
    del bare["extension"]
    got = current_from_orders([bare], AS_OF)
    assert got.prescription is None
    assert "dose not stated in full (intensity, RPE)" in got.ignored[0]


# --- in the service ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    with cds_client(tmp_path_factory.mktemp("cds-current")) as c:
        yield c


def call(client, body: Any) -> dict[str, Any]:
    resp = client.post(PV, json=body, headers=auth(PV))
    assert resp.status_code == 200, resp.text
    [card] = resp.json()["cards"]
    return card


def signed(card: dict[str, Any]) -> list[dict[str, Any]]:
    """The card's suggested orders as the EHR keeps them once signed: active."""
    return [
        a["resource"] | {"status": "active"}
        for s in card["suggestions"]
        for a in s["actions"]
        if a["type"] in ("create", "update")
    ]


def bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": r} for r in resources]}  # fmt: skip


def rest(client, body: dict[str, Any]) -> dict[str, Any]:
    resp = client.post(
        "/recommend", json=body, headers={"Authorization": "Bearer rest-key-0123456789"}
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_the_next_week_via_cds_is_what_rest_gives_a_client_that_hands_the_response_back(
    client,
) -> None:
    """Week 1: a patient-view without orders; its orders signed. Week 2: a patient-view with
    those orders active gives the decision, prescription and rules `/recommend` gives the same
    patient with week 1's prescription and progression reference handed back; and its orders
    update the active ones (same ids) instead of adding more."""
    first = call(client, fixture("chemo"))
    srs = signed(first)
    assert {a["type"] for s in first["suggestions"] for a in s["actions"]} == {"create"}
    assert all(REFERENCE_EXTENSION in [e["url"] for e in sr["extension"]] for sr in srs)
    body = fixture("chemo")
    body["prefetch"]["orders"] = bundle(srs)
    second = call(client, body)
    assert "current_prescription.aerobic" in second["detail"]

    contract = json.loads(dated((FHIR / "recommend-chemo.json").read_text()))
    week1 = rest(client, contract)
    week2 = rest(
        client,
        contract
        | {
            "current_prescription": week1["prescription"],
            "progression_reference": week1["progression_reference"],
        },
    )
    assert week2["prescription"] != week1["prescription"]  # the handed-back state matters here
    via_cds = [a for s in second["suggestions"] for a in s["actions"]]
    assert {a["type"] for a in via_cds} == {"update"}
    assert sorted(a["resource"]["id"] for a in via_cds) == sorted(sr["id"] for sr in srs)
    got = current_from_orders(signed(second), dt.date.fromisoformat(contract["as_of"]))
    assert got.prescription == Prescription.model_validate(week2["prescription"])
    assert got.reference == ProgressionReference.model_validate(week2["progression_reference"])


def test_a_reference_in_the_orders_reaches_the_policy(client) -> None:
    """Orders whose reference is above their dose (a week after a deload): the patient-view
    gives what `/recommend` gives with that prescription and that reference, which is not what
    it gives without the reference."""
    body = fixture("chemo")
    srs = [
        active("aerobic", WALK, patient="pt-chemo", sr_id="a-1"),
        active("resistance", LIFT, patient="pt-chemo", sr_id="r-1"),
    ]
    body["prefetch"]["orders"] = bundle(srs)
    card = call(client, body)
    contract = json.loads(dated((FHIR / "recommend-chemo.json").read_text()))
    current = Prescription(aerobic=WALK, resistance=LIFT, restrictions=["no_high_impact"])
    stated = contract | {"current_prescription": current.model_dump(mode="json")}
    with_ref = rest(client, stated | {"progression_reference": REF.model_dump()})
    without_ref = rest(client, stated)
    assert with_ref["prescription"] != without_ref["prescription"]  # the reference matters here
    got = current_from_orders(signed(card), dt.date.fromisoformat(contract["as_of"]))
    assert got.prescription == Prescription.model_validate(with_ref["prescription"])


def test_a_hold_puts_the_active_exercise_orders_on_hold(client) -> None:
    """Exercise on hold this week: the card suggests putting the active orders on hold (the EHR
    would otherwise keep them running), not ending them: an order on hold is still the
    prescription the patient resumes from next week, as a REST client keeps its current
    prescription through a hold."""
    srs = signed(call(client, fixture("chemo")))
    body = fixture("hold")
    body["prefetch"]["orders"] = bundle(
        [copy.deepcopy(sr) | {"subject": {"reference": "Patient/pt-hold"}} for sr in srs]
    )
    card = call(client, body)
    actions = [a for s in card["suggestions"] for a in s["actions"]]
    assert {a["type"] for a in actions} == {"update"}
    assert {a["resource"]["status"] for a in actions} == {"on-hold"}
    assert sorted(a["resource"]["id"] for a in actions) == sorted(sr["id"] for sr in srs)
    assert card["suggestions"][0]["label"] == "Put the exercise orders on hold this week"
    held = [a["resource"] for a in actions]
    by_id = {sr["id"]: sr | {"subject": {"reference": "Patient/pt-hold"}} for sr in srs}
    for after in held:  # the EHR's order with one change: its status
        assert after == by_id[after["id"]] | {"status": "on-hold"}
    # still on hold next week: nothing to suggest again
    body["prefetch"]["orders"] = bundle(held)
    assert call(client, body)["suggestions"] == []


def test_without_orders_the_cards_are_as_before(client) -> None:
    """No `orders` prefetch (an EHR that does not send it and has no FHIR server for it): new
    orders are created, nothing is stopped."""
    card = call(client, fixture("chemo"))
    assert {a["type"] for s in card["suggestions"] for a in s["actions"]} == {"create"}
    hold = call(client, fixture("hold"))
    assert hold["suggestions"] == []


def test_order_sign_reads_the_active_order_not_the_draft_as_the_current_dose() -> None:
    """Order-sign checks the draft against the kernel of the request `_mapped` builds: the
    current dose is the active order (the version before the edit being signed), never the
    draft itself, so the progression limits step from what is in force."""
    from serving.cds.models import HookRequest
    from serving.cds.order_check import kernel_for
    from serving.cds.prefetch import gather
    from serving.cds.routes import _mapped, today
    from tests.cds.test_cds_service import order, order_sign_body

    in_force = WALK.model_copy(update={"sessions_per_week": 2, "minutes_per_session": 10.0})
    body = order_sign_body("chemo", order("a-1", 6, 10, 55, 60))
    signed_before = active("aerobic", in_force, patient="pt-chemo", sr_id="a-1")
    body["prefetch"]["orders"] = bundle(
        [signed_before, body["context"]["draftOrders"]["entry"][0]["resource"]]
    )
    mapped = _mapped(gather(HookRequest.model_validate(body)), "pt-chemo", today())
    assert mapped.request is not None and mapped.request.current_prescription is not None
    assert mapped.request.current_prescription.aerobic == in_force
    result = kernel_for(mapped.request)
    assert "progression.weekly_volume_10pct" in result.rule_ids


def test_order_sign_never_reads_the_order_being_signed_as_the_current_dose() -> None:
    """An EHR that lists the edit itself as active (same id as the draft): read as the current
    dose it would be checked against itself and pass any progression; it is named and the
    kernel reads the session log's dose instead."""
    from serving.cds.models import HookRequest
    from serving.cds.prefetch import gather
    from serving.cds.routes import _mapped, today
    from tests.cds.test_cds_service import order, order_sign_body

    body = order_sign_body("chemo", order("a-1", 6, 10, 55, 60))
    edit = active("aerobic", WALK.model_copy(update={"sessions_per_week": 6}), patient="pt-chemo")
    body["prefetch"]["orders"] = bundle([edit | {"id": "a-1"}])
    record = gather(HookRequest.model_validate(body))
    mapped = _mapped(record, "pt-chemo", today(), being_signed=frozenset({"ServiceRequest/a-1"}))
    assert mapped.request is not None and mapped.request.current_prescription is None
    assert "ServiceRequest/a-1: being signed" in mapped.ignored
    assert "current_prescription.aerobic" not in [f.field for f in mapped.facts]


def test_order_sign_names_its_drafts_as_being_signed(client, monkeypatch) -> None:
    """The service passes the drafts' ids (not an id-less draft) to the reading of the orders."""
    import serving.cds.routes as routes
    from tests.cds.test_cds_service import order, order_sign_body

    seen: list[frozenset[str]] = []
    real = routes.current_from_orders

    def spy(items, as_of, being_signed=frozenset()):
        seen.append(being_signed)
        return real(items, as_of, being_signed)

    monkeypatch.setattr(routes, "current_from_orders", spy)
    no_id = {k: v for k, v in order("x", 2, 10, 55, 60).items() if k != "id"}
    body = order_sign_body("chemo", order("a-1", 6, 10, 55, 60), no_id)
    resp = client.post(OS, json=body, headers=auth(OS))
    assert resp.status_code == 200, resp.text
    assert seen == [frozenset({"ServiceRequest/a-1"})]
