"""Issue #17, in process: each numbered finding reproduced against the service's ASGI app.

1 metrics labels bounded, 2 no 500 from deep nesting or huge numbers, 5 duplicate keys refused,
6 header limits (431 before auth), 7 implausible values refused naming the field, 9 no dates
echoed, duplicate Authorization refused, /metrics GET only (and behind its own key when set).
Findings 3, 4 (registry, readiness) are in tests/code/test_readiness.py and tests/faults/, 8 in
tests/code/test_batch_failures.py, the audit chain in tests/code/test_audit_chain.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from features.settings import Settings
from serving.http.openapi import EXAMPLE_REQUEST
from serving.http.runtime import RUNTIME, configure
from serving.jsonbody import MAX_DEPTH, JsonBodyError, nesting_depth, read_json
from serving.service import asgi_app
from tests.code.test_service_contract import AUTH, KEY, assert_validation_error, make_client, post
from tests.fakes import fake_models

JSON_HEADERS = {**AUTH, "content-type": "application/json"}


@pytest.fixture()
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path) as c:
        yield c


@pytest.fixture()
def body() -> dict[str, Any]:
    return json.loads(json.dumps(EXAMPLE_REQUEST))


def raw_post(client: TestClient, path: str, data: bytes, headers: dict | None = None):
    return client.post(path, content=data, headers=JSON_HEADERS if headers is None else headers)


# --- 1: bounded metrics --------------------------------------------------------------------------
def test_unknown_paths_share_one_metric_label(client: TestClient) -> None:
    client.get("/junk-warmup")
    before = client.get("/metrics").text
    for n in range(60):
        assert client.get(f"/junk-{n}/pt-000417").status_code == 401
    after = client.get("/metrics").text
    assert "junk" not in after and "pt-000417" not in after
    assert 'endpoint="other"' in after
    # no new series: the same lines (only the counts changed)
    assert len(after.splitlines()) == len(before.splitlines())


def test_junk_requests_leave_no_tracing_state(client: TestClient) -> None:
    """The worker memory half of finding 1: OpenTelemetry's ASGI middleware (BentoML's) kept a
    span, and metric attributes with the raw path, per request; tracing is off for every URL."""
    import gc

    from opentelemetry.sdk.trace import ReadableSpan

    for n in range(200):
        client.get(f"/junk-{n}")
    gc.collect()
    assert sum(isinstance(o, ReadableSpan) for o in gc.get_objects()) == 0


def test_metrics_is_get_only(client: TestClient) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert client.request(method, "/metrics").status_code == 405
    assert client.head("/metrics").status_code == 200


def test_metrics_behind_its_own_key(tmp_path: Path) -> None:
    settings = Settings(root=tmp_path, api_keys=KEY, metrics_key="scrape-key")
    configure(settings=settings, model_loader=lambda s: fake_models())
    try:
        with TestClient(asgi_app(), raise_server_exceptions=False) as client:
            assert client.get("/metrics").status_code == 401
            assert client.get("/metrics", headers=AUTH).status_code == 401
            ok = client.get("/metrics", headers={"Authorization": "Bearer scrape-key"})
            assert ok.status_code == 200 and "dosewise_requests_total" in ok.text
    finally:
        RUNTIME.close()
        configure()


# --- 2: no 500 from nesting or huge numbers ------------------------------------------------------
@pytest.mark.parametrize("path", ["/recommend", "/recommend_batch", "/predict"])
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 999, 10_000])
def test_deep_nesting_is_422(client: TestClient, path: str, depth: int) -> None:
    for opener, closer in ((b"[", b"]"), (b'{"a":', b"}")):
        resp = raw_post(client, path, opener * depth + b"1" + closer * depth)
        assert_validation_error(resp, ["body"])
        assert "nested deeper" in resp.json()["details"][0]["msg"]


def test_deep_nesting_inside_a_field_is_422(client: TestClient, body: dict) -> None:
    data = json.dumps(body).encode()
    data = data.replace(b'"restrictions": []', b'"restrictions": ' + b"[" * 2000 + b"]" * 2000, 1)
    assert_validation_error(raw_post(client, "/recommend", data), ["body"])


def test_brackets_inside_strings_do_not_count() -> None:
    assert nesting_depth(b'{"a": "[[[[{{{{\\"[[["}') == 1
    assert read_json(b'{"a": "' + b"[" * 5000 + b'"}') == {"a": "[" * 5000}


P, S0, S1 = ("patient",), ("sessions", 0), ("sessions", 1)


@pytest.mark.parametrize(
    ("where", "field", "value", "loc"),
    [
        (P, "days_since_infusion", "1" + "0" * 309, ["body"]),
        (P, "days_since_infusion", "366", ["patient", "days_since_infusion"]),
        (P, "days_since_infusion", "1" + "0" * 14, ["patient", "days_since_infusion"]),
        (S1, "completed_sets", "1" + "0" * 400, ["body"]),
        (S1, "completed_sets", "31", ["sessions", 1, "completed_sets"]),
        (S0, "completed_minutes", "1e308", ["sessions", 0, "completed_minutes"]),
        (S0, "completed_minutes", "1e400", ["sessions", 0, "completed_minutes"]),
        (S0, "completed_minutes", "1" + "0" * 400, ["body"]),
        (P, "age", "1" + "0" * 4000, ["body"]),
    ],
)
def test_huge_numbers_are_422(
    client: TestClient, body: dict, where: tuple, field: str, value: str, loc: list
) -> None:
    target = body["patient"] if where == P else body["sessions"][where[1]]
    target[field] = "__X__"
    data = json.dumps(body).replace('"__X__"', value).encode()
    assert_validation_error(raw_post(client, "/recommend", data), loc)


def test_too_long_integer_is_422(client: TestClient, body: dict) -> None:
    body["patient"]["age"] = "__X__"
    data = json.dumps(body).replace('"__X__"', "9" * 5000).encode()
    assert_validation_error(raw_post(client, "/recommend", data), ["body"])


# --- 5: duplicate keys ---------------------------------------------------------------------------
@pytest.mark.parametrize("order", [("none", "serious"), ("serious", "none")])
def test_duplicate_keys_are_422(client: TestClient, body: dict, order: tuple[str, str]) -> None:
    body["sessions"][0]["adverse_event"] = "__X__"
    dup = f'"adverse_event": "{order[0]}", "adverse_event": "{order[1]}"'
    data = json.dumps(body).replace('"adverse_event": "__X__"', dup).encode()
    resp = raw_post(client, "/recommend", data)
    assert_validation_error(resp, ["body"])
    assert "duplicate key 'adverse_event'" in resp.text


def test_odd_encodings_are_422(client: TestClient, body: dict) -> None:
    text = json.dumps(body)
    for data in (
        text.encode("utf-16"),
        text.encode("utf-32"),
        b"\xff\xfe\x00",
        text.replace('"pain": 1', '"pain\\ud800": 1', 1).encode(),
        text.replace('"female"', '"fe\\udc00male"', 1).encode(),
    ):
        resp = raw_post(client, "/recommend", data)
        assert resp.status_code == 422, resp.text


def test_read_json_refuses_constants() -> None:
    for text in (b"NaN", b'{"a": Infinity}', b"[-Infinity]"):
        with pytest.raises(JsonBodyError):
            read_json(text)


# --- 6: header limits, 9: duplicate Authorization ------------------------------------------------
def test_header_bytes_over_limit_is_431_before_auth(client: TestClient) -> None:
    big = {"X-Junk": "a" * 20_000}
    for path in ("/livez", "/recommend", "/metrics"):
        resp = client.get(path, headers=big)
        assert resp.status_code == 431, path
        assert resp.json() == {"error": "request_header_fields_too_large"}


def test_header_count_over_limit_is_431(client: TestClient) -> None:
    headers = [(f"x-h{i}", "1") for i in range(80)]
    resp = client.get("/livez", headers=headers)
    assert resp.status_code == 431


def test_two_authorization_headers_are_401(client: TestClient, body: dict) -> None:
    data = json.dumps(body).encode()
    for pair in ((KEY, "wrong"), ("wrong", KEY), (KEY, KEY)):
        headers = [
            ("authorization", f"Bearer {pair[0]}"),
            ("authorization", f"Bearer {pair[1]}"),
            ("content-type", "application/json"),
        ]
        assert client.post("/recommend", content=data, headers=headers).status_code == 401
    assert raw_post(client, "/recommend", data).status_code == 200


# --- 7: implausible values -----------------------------------------------------------------------
def test_completed_more_than_three_times_planned(client: TestClient, body: dict) -> None:
    body["sessions"][0]["completed_minutes"] = 500  # of 30 planned
    body["sessions"][1]["completed_sets"] = 7  # of 2 planned
    resp = post(client, "/recommend", body)
    assert_validation_error(resp, ["sessions", 0, "completed_minutes"])
    assert_validation_error(resp, ["sessions", 1, "completed_sets"])


def test_nothing_completed_when_not_attended(client: TestClient, body: dict) -> None:
    missed = body["sessions"][2]
    assert missed["attended"] is False
    missed.update(completed_minutes=30, rpe=13, pain=4, avg_hr=110, fatigue=3)
    resp = post(client, "/recommend", body)
    for name in ("completed_minutes", "rpe", "pain", "avg_hr", "fatigue"):
        assert_validation_error(resp, ["sessions", 2, name])


def test_not_attended_with_zero_completed_is_fine(client: TestClient, body: dict) -> None:
    body["sessions"][2].update(completed_minutes=0, completed_sets=0)
    assert post(client, "/recommend", body).status_code == 200


def test_huge_integers_in_prescription_ranges_are_422(client: TestClient, body: dict) -> None:
    for path in (("resistance", "reps", "high"), ("aerobic", "intensity_pct_hrmax", "high")):
        doc = json.loads(json.dumps(body))
        doc["current_prescription"][path[0]][path[1]][path[2]] = "__X__"
        data = json.dumps(doc).replace('"__X__"', "1" + "0" * 400).encode()
        resp = raw_post(client, "/recommend", data)
        assert_validation_error(resp, ["body"])
        assert "more than 15 digits" in resp.text


# --- 9: no submitted dates in 422 messages -------------------------------------------------------
def test_session_date_errors_do_not_echo_dates(client: TestClient, body: dict) -> None:
    body["sessions"][0]["date"] = "2031-07-19"
    resp = post(client, "/recommend", body)
    assert_validation_error(resp, ["sessions", 0, "date"])
    assert "2031" not in resp.text and "2026-11-20" not in resp.text
    body["patient"]["age"] = 5  # other errors too: the as_of rule is then named per field
    resp = post(client, "/recommend_batch", [body])
    assert_validation_error(resp, [0, "sessions", 0, "date"])
    assert "2031" not in resp.text and "2026-11-20" not in resp.text
