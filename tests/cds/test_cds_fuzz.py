"""A hypothesis fuzzer of CDS Hooks requests: never a 5xx, always a documented status and JSON.

The REST bodies have their fuzzer (tests/code/test_fuzz_bodies.py) and schemathesis; CDS Hooks
requests carry far more surface - FHIR resources in the prefetch, draft orders, feedback - that
an EHR fills in, and a bad resource there must give a 412 or a 422 naming it, never a crash.
Each case takes a valid request (a fixture patient's patient-view with two active exercise
orders, an order-sign with a draft order, or a feedback body) and edits it at any node: replaced
by arbitrary JSON or a FHIR-looking value (odd dates, quantities, references), deleted, or a
list item repeated. Every call carries a fresh signed token, so only the body decides the answer.
Derandomised in CI (profile `ci`); `--hypothesis-profile=thorough` runs it deep.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serving.cds.current import with_reference
from tests.cds.helpers import PATIENTS, auth, cds_client, fixture
from tests.cds.test_cds_service import OS, PV, order, order_sign_body
from tests.jsonfuzz import JSON_VALUES, delete_at, json_paths, replace_at

FEEDBACK = PV + "/feedback"
STATUSES = (200, 412, 422)

# Values an EHR might really send in a FHIR field, valid or not.
FHIR_VALUES = st.sampled_from(
    [
        "2026-02-30",
        "2026-13-01",
        "0001-01-01",
        "9999-12-31",
        "2026",
        "2026-11",
        "2026-11-20T10:00:00Z",
        "2026-11-20T25:61:00+14:00",
        "2026-11-20T10:00:00+99:00",
        "Patient/",
        "Patient/pt-chemo",
        "Patient/someone-else",
        "urn:uuid:0",
        "http://loinc.org",
        "http://unitsofmeasure.org",
        "mg/dL",
        "10*9/L",
        "g/L",
        "%",
        "wk",
        "d",
        "min",
        "h",
        "final",
        "entered-in-error",
        "active",
        "resolved",
        "draft",
        "revoked",
        1e308,
        -1e308,
        1e-300,
        -1,
        0,
        2**63,
    ]
) | st.fixed_dictionaries(
    {
        "value": st.one_of(st.floats(allow_nan=False), st.integers(), st.text(max_size=5)),
        "unit": st.sampled_from(["g/dL", "g/L", "10*9/L", "/uL", "%", "kg", "min", "wk", ""]),
    }
)
VALUES = JSON_VALUES | FHIR_VALUES


def _active_orders(patient_id: str) -> dict[str, Any]:
    """The patient's active exercise orders as Dosewise writes them (dose and reference
    extensions), so the fuzzer edits those too (serving/cds/current.py reads them)."""
    from serving.cds.orders import build_service_request
    from tests.cds.test_cds_current import LIFT, REF, WALK

    srs = []
    for modality, dose in (("aerobic", WALK), ("resistance", LIFT)):
        sr = build_service_request(patient_id, modality, dose, ["no_high_impact"], None, None)
        sr = with_reference(sr, modality, REF)
        srs.append(sr | {"status": "active", "authoredOn": "2026-11-13T09:00:00Z"})
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in srs]}


def _patient_view(name: str) -> tuple[str, dict[str, Any]]:
    body = fixture(name)
    body["prefetch"]["orders"] = _active_orders(body["context"]["patientId"])
    return PV, body


def _order_sign(name: str) -> tuple[str, dict[str, Any]]:
    return OS, order_sign_body(name, order("sr-1", 3, 30, 60, 70), order("sr-2", 5, 45, 70, 80))


def _feedback() -> tuple[str, dict[str, Any]]:
    return FEEDBACK, {
        "feedback": [
            {
                "card": "a5b7b3f6-0f43-4b6e-9a57-8c5f1a5f0d11",
                "outcome": "overridden",
                "overrideReason": {
                    "reason": {
                        "system": "https://dosewise.test/override-reasons",
                        "code": "data-outdated",
                    }
                },
                "outcomeTimestamp": "2026-11-20T10:06:00Z",
            },
            {
                "card": "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": "x"}],
                "outcomeTimestamp": "2026-11-20T10:05:31Z",
            },
        ]
    }


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, Any]:
    """A valid CDS request edited at one to three nodes."""
    kind = draw(st.sampled_from(["patient-view", "order-sign", "feedback"]))
    name = draw(st.sampled_from(PATIENTS))
    path, doc = {
        "patient-view": lambda: _patient_view(name),
        "order-sign": lambda: _order_sign(name),
        "feedback": _feedback,
    }[kind]()
    for _ in range(draw(st.integers(1, 3))):
        if not isinstance(doc, dict | list):
            break
        where = draw(st.sampled_from(json_paths(doc)))
        edit = draw(
            st.sampled_from(["replace", "delete", "repeat"]) if where else st.just("replace")
        )
        if edit == "replace":
            doc = replace_at(doc, where, draw(VALUES))
        elif edit == "delete":
            doc = delete_at(doc, where)
        else:  # repeat: the node again beside itself, in its list (or the list's first item)
            parent = doc
            for key in where[:-1]:
                parent = parent[key]
            if isinstance(parent, list):
                doc = replace_at(doc, where[:-1], [*parent, parent[where[-1]]])
            else:
                doc = replace_at(doc, where, [parent[where[-1]]] * 2)
    return path, doc


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with cds_client(tmp_path_factory.mktemp("cds-fuzz")) as c:
        yield c


def check(client: Any, path: str, body: Any) -> int:
    headers = {**auth(path), "content-type": "application/json"}
    resp = client.post(path, content=json.dumps(body), headers=headers)
    assert resp.status_code in STATUSES, (path, resp.status_code, resp.text[:300])
    answer = resp.json()
    if resp.status_code == 422:
        assert answer.get("details"), answer  # names the field and the reason
    return resp.status_code


@settings(
    max_examples=max(250, settings().max_examples),
    suppress_health_check=list(HealthCheck),
    deadline=None,
)
@given(request=requests())
def test_cds_requests_never_fail(client: Any, request: tuple[str, Any]) -> None:
    check(client, *request)


def test_the_fuzzer_starts_from_valid_requests(client: Any) -> None:
    """Sanity check of the setup: every unedited request is answered 200."""
    bodies = [_patient_view(n) for n in PATIENTS] + [_order_sign(n) for n in PATIENTS]
    for path, body in [*bodies, _feedback()]:
        assert check(client, path, body) == 200, path
