"""The REST contract, in process: the BentoML service's own ASGI app (`Dosewise.to_asgi()`, via
`serving.service.asgi_app()`) driven by Starlette's TestClient, with the stand-in models of
tests/fakes.py (no trained model needed).

Every status of shared/contract/README.md is exercised: 200 with the contract example, 401, 413,
422 (unknown field, out of range, wrong type, malformed JSON, wrong content type, session after
as_of) and 503 without a champion; plus /recommend_batch, /predict, probes, metrics and docs.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from features.contract.rest import RecommendResponse
from features.settings import Settings
from serving.http.openapi import EXAMPLE_PREDICT_REQUEST
from serving.http.runtime import RUNTIME, configure
from serving.models import ModelUnavailableError
from serving.service import asgi_app
from tests.fakes import FakeAdherence, FakeTolerance, fake_models

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
KEY = "test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
CONTRACT_FIELDS = {
    "patient_id",
    "as_of",
    "decision",
    "prescription",
    "predictions",
    "rules",
    "explanation",
    "model",
    "guideline_version",
}


@pytest.fixture()
def request_body() -> dict[str, Any]:
    return json.loads((FIXTURES / "recommend-request.json").read_text())


@contextmanager
def make_client(
    tmp_path: Path,
    loader: Callable[[Settings], Any] | None = None,
    keys: str = KEY,
    max_body_bytes: int = 64 * 1024,
    **options: Any,
) -> Iterator[TestClient]:
    """The service app with injected settings and models; lifespan (startup/shutdown) runs."""
    settings = Settings(root=tmp_path, api_keys=keys, max_body_bytes=max_body_bytes)
    configure(settings=settings, model_loader=loader or (lambda s: fake_models()), **options)
    try:
        with TestClient(asgi_app(), raise_server_exceptions=False) as client:
            yield client
    finally:
        RUNTIME.close()
        configure()


@pytest.fixture()
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path) as c:
        yield c


def post(client: TestClient, path: str, body: Any, headers: dict | None = None):
    return client.post(path, json=body, headers=AUTH if headers is None else headers)


def assert_validation_error(resp, *locs: list) -> None:
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert body["error"] == "validation_error"
    assert all(set(d) == {"loc", "msg"} for d in body["details"])
    found = [d["loc"] for d in body["details"]]
    for loc in locs:
        assert loc in found, (loc, found)


# --- 200 -----------------------------------------------------------------------------------------
def test_recommend_contract_example(client: TestClient, request_body: dict) -> None:
    resp = post(client, "/recommend", request_body)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) >= CONTRACT_FIELDS
    RecommendResponse.model_validate(body)
    assert body["patient_id"] == "pt-000417"
    assert body["as_of"] == "2026-11-20"
    assert body["decision"] in {"progress", "maintain", "regress"}
    assert body["prescription"] is not None
    assert set(body["prescription"]) == {"aerobic", "resistance", "restrictions"}
    assert set(body["predictions"]) == {"tolerance", "adherence"}
    assert body["model"]["tolerance"] == {"name": "fake-tolerance", "version": "0"}
    assert body["guideline_version"]
    assert all(set(r) == {"id", "kind", "effect", "citation"} for r in body["rules"])
    assert all(set(e) == {"feature", "contribution"} for e in body["explanation"])


def test_hold_has_no_prescription(client: TestClient, request_body: dict) -> None:
    request_body["patient"]["labs"]["platelets_10e9_l"] = 12
    body = post(client, "/recommend", request_body).json()
    assert body["decision"] == "hold"
    assert body["prescription"] is None
    assert body["predictions"] is None
    assert any(r["kind"] == "hold" for r in body["rules"])


def test_refer_has_no_prescription(client: TestClient, request_body: dict) -> None:
    request_body["patient"]["ecog"] = 3
    body = post(client, "/recommend", request_body).json()
    assert body["decision"] == "refer"
    assert body["prescription"] is None


def test_new_patient_without_history_or_as_of(client: TestClient, request_body: dict) -> None:
    request_body["sessions"] = []
    request_body["current_prescription"] = None
    del request_body["as_of"]
    resp = post(client, "/recommend", request_body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["as_of"] == time.strftime("%Y-%m-%d")


# --- 401 -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": f"Basic {KEY}"},
        {"Authorization": KEY},
        {"Authorization": "Bearer "},
    ],
    ids=["missing", "wrong", "basic", "no-scheme", "empty"],
)
def test_unauthorized(client: TestClient, request_body: dict, headers: dict) -> None:
    for path, body in (
        ("/recommend", request_body),
        ("/recommend_batch", [request_body]),
        ("/predict", EXAMPLE_PREDICT_REQUEST),
    ):
        resp = post(client, path, body, headers=headers)
        assert resp.status_code == 401
        assert resp.json() == {"error": "unauthorized"}
    assert client.get("/schema.json", headers=headers).status_code == 401


def test_public_paths_need_no_key(client: TestClient) -> None:
    for path in ("/livez", "/readyz", "/metrics", "/docs.json"):
        assert client.get(path).status_code == 200, path


def test_several_keys_each_work(tmp_path: Path, request_body: dict) -> None:
    with make_client(tmp_path, keys="alpha-key, beta-key") as client:
        for key in ("alpha-key", "beta-key"):
            resp = post(client, "/recommend", request_body, {"Authorization": f"Bearer {key}"})
            assert resp.status_code == 200
        assert "alpha-key" not in repr(vars(RUNTIME.keys))  # only digests are kept


def test_no_keys_configured_refuses_everything(tmp_path: Path, request_body: dict) -> None:
    with make_client(tmp_path, keys="") as client:
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer anything"}):
            assert post(client, "/recommend", request_body, headers).status_code == 401
        assert client.get("/readyz").status_code == 200


# --- 413 -----------------------------------------------------------------------------------------
def test_payload_too_large_declared(client: TestClient) -> None:
    resp = client.post(
        "/recommend",
        content=b" " * (64 * 1024 + 1),
        headers={**AUTH, "content-type": "application/json"},
    )
    assert resp.status_code == 413
    assert resp.json()["error"] == "payload_too_large"


def test_payload_too_large_streamed(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:  # chunked transfer: no Content-Length to trust
        for _ in range(20):
            yield b" " * 8192

    resp = client.post(
        "/recommend", content=chunks(), headers={**AUTH, "content-type": "application/json"}
    )
    assert resp.status_code == 413
    assert resp.json()["error"] == "payload_too_large"


def test_body_at_limit_is_read(client: TestClient, request_body: dict) -> None:
    data = json.dumps(request_body).encode()
    padded = data + b" " * (64 * 1024 - len(data))
    resp = client.post(
        "/recommend", content=padded, headers={**AUTH, "content-type": "application/json"}
    )
    assert resp.status_code == 200


# --- 422 -----------------------------------------------------------------------------------------
def test_unknown_field(client: TestClient, request_body: dict) -> None:
    request_body["patient"]["agee"] = 57
    request_body["extra"] = 1
    assert_validation_error(
        post(client, "/recommend", request_body), ["patient", "agee"], ["extra"]
    )


def test_out_of_range_values(client: TestClient, request_body: dict) -> None:
    request_body["patient"]["age"] = 7
    request_body["sessions"][1]["rpe"] = 25
    request_body["patient"]["vitals"]["spo2"] = 101
    assert_validation_error(
        post(client, "/recommend", request_body),
        ["patient", "age"],
        ["sessions", 1, "rpe"],
        ["patient", "vitals", "spo2"],
    )


def test_wrong_types(client: TestClient, request_body: dict) -> None:
    request_body["patient"]["ecog"] = "one"
    request_body["sessions"][0]["attended"] = "maybe"
    request_body["patient"]["comorbidities"] = "lymphedema"
    request_body["patient"]["cancer_type"] = "brain"
    assert_validation_error(
        post(client, "/recommend", request_body),
        ["patient", "ecog"],
        ["sessions", 0, "attended"],
        ["patient", "comorbidities"],
        ["patient", "cancer_type"],
    )


@pytest.mark.parametrize(
    "raw", [b"{not json", b"", b'{"patient": ', b'{"patient": {"age": NaN}}'], ids=str
)
def test_malformed_json(client: TestClient, raw: bytes) -> None:
    resp = client.post("/recommend", content=raw, headers={**AUTH, "content-type": JSON})
    assert_validation_error(resp, ["body"])


@pytest.mark.parametrize("ctype", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_wrong_content_type(client: TestClient, request_body: dict, ctype: str | None) -> None:
    headers = dict(AUTH) if ctype is None else {**AUTH, "content-type": ctype}
    resp = client.post("/recommend", content=json.dumps(request_body).encode(), headers=headers)
    assert_validation_error(resp, ["header", "content-type"])


def test_body_not_an_object(client: TestClient) -> None:
    assert_validation_error(post(client, "/recommend", [1, 2]), ["body"])


def test_session_on_or_after_as_of(client: TestClient, request_body: dict) -> None:
    request_body["sessions"][2]["date"] = "2026-11-20"  # same day as as_of
    request_body["sessions"][4]["date"] = "2026-12-01"
    resp = post(client, "/recommend", request_body)
    assert_validation_error(resp, ["sessions", 2, "date"], ["sessions", 4, "date"])


def test_session_after_as_of_named_alongside_other_errors(
    client: TestClient, request_body: dict
) -> None:
    request_body["sessions"][0]["date"] = "2027-01-01"
    request_body["patient"]["age"] = 200
    resp = post(client, "/recommend", request_body)
    assert_validation_error(resp, ["sessions", 0, "date"], ["patient", "age"])


def test_dates_outside_supported_window(client: TestClient, request_body: dict) -> None:
    request_body["sessions"][0]["date"] = "0001-01-01"
    assert_validation_error(post(client, "/recommend", request_body), ["sessions", 0, "date"])


def test_session_limit(tmp_path: Path, request_body: dict) -> None:
    with make_client(tmp_path, max_body_bytes=1_048_576) as client:
        request_body["sessions"] = request_body["sessions"][:1] * 500
        assert post(client, "/recommend", request_body).status_code == 200
        request_body["sessions"] = request_body["sessions"][:1] * 501
        assert_validation_error(post(client, "/recommend", request_body), ["sessions"])


def test_errors_do_not_echo_values(client: TestClient, request_body: dict) -> None:
    request_body["patient"]["patient_id"] = "Jane Doe"  # a name: invalid, and never echoed
    resp = post(client, "/recommend", request_body)
    assert_validation_error(resp, ["patient", "patient_id"])
    assert "Jane" not in resp.text


# --- 503 -----------------------------------------------------------------------------------------
def _no_champion(settings: Settings) -> Any:
    raise ModelUnavailableError("no champion")


def test_no_champion_503(tmp_path: Path, request_body: dict) -> None:
    with make_client(tmp_path, loader=_no_champion, reload_interval_s=3600) as client:
        assert client.get("/livez").status_code == 200
        assert client.get("/readyz").status_code == 503
        for path, body in (
            ("/recommend", request_body),
            ("/recommend_batch", [request_body]),
            ("/predict", EXAMPLE_PREDICT_REQUEST),
        ):
            resp = post(client, path, body)
            assert resp.status_code == 503
            assert resp.json() == {"error": "model_unavailable"}
        # validation still comes first: a bad request is a bad request
        request_body["patient"]["age"] = 5
        assert post(client, "/recommend", request_body).status_code == 422


def test_champion_picked_up_lazily(tmp_path: Path, request_body: dict) -> None:
    calls = {"n": 0}

    def flaky(settings: Settings) -> Any:
        calls["n"] += 1
        if calls["n"] < 2:
            raise ModelUnavailableError("not yet")
        return fake_models()

    with make_client(tmp_path, loader=flaky, reload_interval_s=0.1) as client:
        assert post(client, "/recommend", request_body).status_code in (200, 503)
        deadline = time.monotonic() + 10
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("/readyz").status_code == 200
        assert post(client, "/recommend", request_body).status_code == 200


def test_promoted_champion_replaces_the_served_one(tmp_path: Path, request_body: dict) -> None:
    state = {"version": "1"}

    def loader(settings: Settings) -> Any:
        v = state["version"]
        return replace(
            fake_models(),
            tolerance=FakeTolerance(version=v),
            adherence=FakeAdherence(version=v),
        )

    def probe(settings: Settings) -> tuple[str, str]:
        return state["version"], state["version"]

    with make_client(
        tmp_path, loader=loader, champion_probe=probe, reload_interval_s=0.1
    ) as client:
        first = post(client, "/recommend", request_body).json()
        assert first["model"]["tolerance"]["version"] == "1"
        state["version"] = "2"
        deadline = time.monotonic() + 10
        version = "1"
        while version != "2" and time.monotonic() < deadline:
            time.sleep(0.05)
            version = post(client, "/recommend", request_body).json()["model"]["tolerance"][
                "version"
            ]
        assert version == "2"


# --- no 500 with a stack trace, even for a bug ----------------------------------------------------
def test_internal_failure_is_generic(tmp_path: Path, request_body: dict) -> None:
    class Broken(FakeTolerance):
        def predict(self, X):
            raise RuntimeError("/secret/path/model.pkl exploded for pt-000417")

    def loader(settings: Settings) -> Any:
        return replace(fake_models(), tolerance=Broken())

    with make_client(tmp_path, loader=loader) as client:
        resp = post(client, "/recommend", request_body)
        assert resp.status_code == 500
        assert resp.json() == {"error": "internal_error"}
        assert "secret" not in resp.text and "Traceback" not in resp.text


# --- /recommend_batch ----------------------------------------------------------------------------
def test_batch_matches_single_calls(client: TestClient, request_body: dict) -> None:
    other = copy.deepcopy(request_body)
    other["patient"]["patient_id"] = "pt-000999"
    other["patient"]["ecog"] = 2
    other["as_of"] = "2026-11-19"
    held = copy.deepcopy(request_body)
    held["patient"]["labs"]["platelets_10e9_l"] = 10
    # the same patient id twice with different histories must not mix
    same_id = copy.deepcopy(request_body)
    same_id["sessions"] = same_id["sessions"][:2]
    items = [request_body, other, held, same_id]
    resp = post(client, "/recommend_batch", items)
    assert resp.status_code == 200, resp.text
    batch = resp.json()
    assert isinstance(batch, list) and len(batch) == 4
    singles = [post(client, "/recommend", item).json() for item in items]
    # each response links its own review page (review_url differs by design)
    urls = [(r.pop("review_url"), s.pop("review_url")) for r, s in zip(batch, singles, strict=True)]
    assert all(a != b for a, b in urls)
    assert batch == singles
    assert batch[2]["decision"] == "hold"


def test_batch_validation_names_item_index(client: TestClient, request_body: dict) -> None:
    bad = copy.deepcopy(request_body)
    bad["patient"]["age"] = 300
    late = copy.deepcopy(request_body)
    late["sessions"][0]["date"] = "2030-01-01"
    resp = post(client, "/recommend_batch", [request_body, bad, request_body, late])
    assert_validation_error(resp, [1, "patient", "age"], [3, "sessions", 0, "date"])


def test_batch_limits(tmp_path: Path, request_body: dict) -> None:
    with make_client(tmp_path, max_body_bytes=10_000_000) as client:
        assert post(client, "/recommend_batch", []).json() == []
        assert_validation_error(post(client, "/recommend_batch", request_body), ["body"])
        small = copy.deepcopy(request_body)
        small["sessions"] = []
        assert_validation_error(post(client, "/recommend_batch", [small] * 257), ["body"])


# --- /predict ------------------------------------------------------------------------------------
def test_predict(client: TestClient) -> None:
    req = copy.deepcopy(EXAMPLE_PREDICT_REQUEST)
    req["candidates"].append(dict.fromkeys(req["candidates"][0], 0))
    resp = post(client, "/predict", req)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["patient_id"] == "pt-000417" and body["as_of"] == "2026-11-20"
    preds = body["predictions"]
    assert len(preds) == 3
    full, aerobic_only, nothing = preds
    assert 0 <= full["tolerance"] <= 1 and 0 <= full["adherence"] <= 1
    assert full["tolerance"] == min(full["tolerance_aerobic"], full["tolerance_resistance"])
    assert aerobic_only["tolerance_resistance"] is None
    assert nothing["tolerance"] is None and nothing["tolerance_aerobic"] is None
    assert body["model"]["tolerance"]["name"] == "fake-tolerance"


def test_predict_more_dose_less_tolerance(client: TestClient) -> None:
    """The fake tolerance falls with minutes: /predict must show it (same features as policy)."""
    req = copy.deepcopy(EXAMPLE_PREDICT_REQUEST)
    base = req["candidates"][1]
    req["candidates"] = [dict(base, aerobic_minutes=m) for m in (20, 40, 60)]
    tol = [p["tolerance"] for p in post(client, "/predict", req).json()["predictions"]]
    assert tol[0] > tol[1] > tol[2]


class ModalityAdherence:
    """A fake attendance model that reads the modality of the row (`is_aerobic`): 0.9 for an
    aerobic session, 0.5 for a resistance session, 0.1 for a whole-week row (no modality)."""

    name, version = "modality-adherence", "0"

    def predict(self, X: Any) -> Any:
        import numpy as np

        from features import FEATURE_SET

        if isinstance(X, np.ndarray):
            flag = X[:, FEATURE_SET.columns.index("is_aerobic")].astype(float)
        else:
            flag = X["is_aerobic"].to_numpy(dtype=float)
        return np.where(np.isnan(flag), 0.1, np.where(flag == 1.0, 0.9, 0.5))

    def explain(self, X: Any) -> None:
        return None


def test_predict_scores_attendance_per_session_and_modality(tmp_path: Path) -> None:
    """/predict scores attendance on one row per modality and reports the session-weighted
    mean, as the policy does; a whole-week row would score 0.1 here."""
    from serving.policy import Models

    def loader(_: Settings) -> Models:
        return Models(tolerance=FakeTolerance(), adherence=ModalityAdherence())

    req = copy.deepcopy(EXAMPLE_PREDICT_REQUEST)
    week = dict(req["candidates"][0], aerobic_sessions=3, resistance_sessions=1)
    aerobic_only = dict(week, resistance_sessions=0)
    resistance_only = dict(week, aerobic_sessions=0)
    req["candidates"] = [week, aerobic_only, resistance_only]
    with make_client(tmp_path, loader=loader) as c:
        preds = post(c, "/predict", req).json()["predictions"]
    assert preds[0]["adherence"] == pytest.approx((3 * 0.9 + 1 * 0.5) / 4)
    assert preds[0]["adherence_aerobic"] == pytest.approx(0.9)
    assert preds[0]["adherence_resistance"] == pytest.approx(0.5)
    assert preds[1]["adherence"] == pytest.approx(0.9)
    assert preds[1]["adherence_resistance"] is None
    assert preds[2]["adherence"] == pytest.approx(0.5)


def test_progression_reference_is_returned_and_accepted_back(
    client: TestClient, request_body: dict
) -> None:
    """Additive contract field: the response carries `progression_reference` (whole sessions,
    sets, reps), a request may hand it back, and it is validated like any other field."""
    first = post(client, "/recommend", request_body).json()
    ref = first["progression_reference"]
    assert ref is not None and set(ref) == {
        "aerobic_sessions",
        "aerobic_minutes",
        "aerobic_pct_hrmax",
        "resistance_sessions",
        "resistance_sets",
        "resistance_reps",
        "resistance_pct_1rm",
    }
    assert isinstance(ref["aerobic_sessions"], int) and isinstance(ref["resistance_reps"], int)
    again = post(client, "/recommend", {**request_body, "progression_reference": ref})
    assert again.status_code == 200, again.text
    RecommendResponse.model_validate(again.json())
    bad = {**request_body, "progression_reference": {**ref, "aerobic_sessions": 40}}
    assert_validation_error(
        post(client, "/recommend", bad), ["progression_reference", "aerobic_sessions"]
    )


def test_predict_validation(client: TestClient) -> None:
    req = copy.deepcopy(EXAMPLE_PREDICT_REQUEST)
    req["candidates"][0]["aerobic_pct_hrmax"] = 130
    req["candidates"][1]["watts"] = 100
    assert_validation_error(
        post(client, "/predict", req),
        ["candidates", 0, "aerobic_pct_hrmax"],
        ["candidates", 1, "watts"],
    )
    req = copy.deepcopy(EXAMPLE_PREDICT_REQUEST)
    req["candidates"] = []
    assert_validation_error(post(client, "/predict", req), ["candidates"])
    req = copy.deepcopy(EXAMPLE_PREDICT_REQUEST)
    req["sessions"][0]["date"] = "2026-11-21"
    assert_validation_error(post(client, "/predict", req), ["sessions", 0, "date"])


# --- probes, metrics, docs -----------------------------------------------------------------------
def test_metrics(client: TestClient, request_body: dict) -> None:
    post(client, "/recommend", request_body)
    request_body["patient"]["labs"]["platelets_10e9_l"] = 12
    post(client, "/recommend", request_body)
    text = client.get("/metrics").text
    assert 'dosewise_recommendations_total{decision="hold",endpoint="recommend"}' in text
    assert "dosewise_request_duration_seconds_bucket" in text
    assert 'dosewise_requests_total{endpoint="recommend",status="200"}' in text


def test_openapi_document(client: TestClient) -> None:
    doc = client.get("/docs.json").json()
    assert doc["openapi"].startswith("3.1")
    assert {"/recommend", "/recommend_batch", "/predict", "/livez", "/readyz", "/metrics"} <= set(
        doc["paths"]
    )
    op = doc["paths"]["/recommend"]["post"]
    example_req = json.loads((FIXTURES / "recommend-request.json").read_text())
    example_resp = json.loads((FIXTURES / "recommend-response.json").read_text())
    assert op["requestBody"]["content"]["application/json"]["example"] == example_req
    assert op["responses"]["200"]["content"]["application/json"]["example"] == example_resp
    assert {"200", "401", "413", "422", "503"} <= set(op["responses"])
    assert "RecommendRequest" in doc["components"]["schemas"]
    assert "PredictRequest" in doc["components"]["schemas"]


JSON = "application/json"


def _recommended_plan(client: TestClient, request_body: dict) -> tuple[dict, dict]:
    """The /recommend response and its prescription as a /predict plan (band middles: the
    policy centres each intensity band on the dose it chose)."""
    rec = post(client, "/recommend", request_body).json()
    rx = rec["prescription"]
    aer, res = rx["aerobic"], rx["resistance"]

    def mid(band: dict) -> float:
        return (band["low"] + band["high"]) / 2

    plan = {
        "aerobic_sessions": aer["sessions_per_week"] if aer else 0,
        "aerobic_minutes": aer["minutes_per_session"] if aer else 0,
        "aerobic_pct_hrmax": mid(aer["intensity_pct_hrmax"]) if aer else 0,
        "resistance_sessions": res["sessions_per_week"] if res else 0,
        "resistance_sets": res["sets"] if res else 0,
        "resistance_reps": 12 if res else 0,  # the policy's options plan 12 reps
        "resistance_pct_1rm": mid(res["intensity_pct_1rm"]) if res else 0,
    }
    return rec, plan


def test_predict_agrees_with_recommend(client: TestClient, request_body: dict) -> None:
    """/predict of the recommended plan gives the predictions /recommend reported for it."""
    rec, plan = _recommended_plan(client, request_body)
    req = {k: request_body[k] for k in ("patient", "sessions", "current_prescription", "as_of")}
    pred = post(client, "/predict", {**req, "candidates": [plan]}).json()["predictions"][0]
    assert pred["tolerance"] == pytest.approx(rec["predictions"]["tolerance"], abs=1e-3)
    assert pred["adherence"] == pytest.approx(rec["predictions"]["adherence"], abs=1e-3)


def test_openapi_examples_are_the_contract_examples() -> None:
    """The OpenAPI examples are the packaged payloads the tests post (tests/fixtures links to
    features/contract/examples), and the shared contract's request example is one of them."""
    from features.contract.examples import load_example
    from serving.http import openapi

    assert (FIXTURES / "recommend-request.json").resolve().parent == (
        Path(__file__).resolve().parents[2] / "features" / "contract" / "examples"
    )
    doc = openapi.openapi_document()
    recommend = doc["paths"]["/recommend"]["post"]
    assert recommend["requestBody"]["content"]["application/json"]["example"] == load_example(
        "recommend-request"
    )
    ok = recommend["responses"]["200"]["content"]["application/json"]["example"]
    assert ok == load_example("recommend-response")
    predict = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert predict["example"] == load_example("predict-request")
    from features.contract.rest import PredictRequest, RecommendRequest, RecommendResponse

    RecommendRequest.model_validate(load_example("recommend-request"))
    RecommendResponse.model_validate(load_example("recommend-response"))
    PredictRequest.model_validate(load_example("predict-request"))
