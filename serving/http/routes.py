"""The REST endpoints and the one list of routes.

Another package adds its endpoints by appending its routes to `ROUTES` here (one line each, e.g.
`*cds_routes()`); the gateway (serving/http/gateway.py) authenticates every path that is not in
`serving.auth.PUBLIC_PATHS`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from features.contract.rest import BatchRequest, PredictRequest, RecommendRequest
from serving import monitoring
from serving.audit import make_record
from serving.cds.routes import cds_routes
from serving.http.decision_metrics import count_decisions
from serving.http.errors import JSON_MEDIA, check_content_type, guarded, json_response, parse_body
from serving.http.openapi import openapi_bytes
from serving.http.runtime import RUNTIME
from serving.http.work import hash_request, predict_plans, recommend_many
from serving.policy.recommend import PatientInputs
from serving.policy.result import Recommendation, response_json
from serving.ui import routes as review
from serving.ui import store as review_store
from serving.ui import ui_routes

_BATCH = TypeAdapter(BatchRequest)


@dataclass(frozen=True)
class Answer:
    """What a worker thread hands back to the event loop: the JSON responses, their audit
    records (each carrying its monitoring and review-page rows) and the recommendations."""

    responses: list[dict[str, Any]]
    records: list[dict[str, Any]]
    recs: list[Recommendation]


def answer(reqs: Sequence[RecommendRequest], endpoint: str, base_url: str, t0: float) -> Answer:
    """Requests -> the policy -> review pages, signed links, contract responses and the audit
    records, all from what the policy built once (feature rows, kernel results)."""
    models = RUNTIME.require_models()
    cfg = RUNTIME.policy_cfg
    derived: list[PatientInputs] = []
    recs = recommend_many(reqs, models, cfg, inputs=derived)
    pages = review.prepare_pages(reqs, recs, models, cfg, derived)
    urls = review.review_urls(pages, base_url)
    responses = [response_json(rec, url) for rec, url in zip(recs, urls, strict=True)]
    latency_ms = (time.perf_counter() - t0) * 1000
    records = [
        make_record(resp, hash_request(req), latency_ms, endpoint)
        for resp, req in zip(responses, reqs, strict=True)
    ]
    inputs = monitoring.served_inputs([d.row for d in derived], recs, models)
    records = monitoring.attach(records, inputs)
    review_store.attach(records, pages)
    return Answer(responses, records, recs)


async def _serve(request: Request, endpoint: str, parse: Callable[[bytes], list[Any]]) -> Answer:
    """The shared path of /recommend and /recommend_batch: parse in a worker thread, answer, and
    write every audit row (with its monitoring and review-page rows) before the 200."""
    t0 = time.perf_counter()
    check_content_type(request)
    body = await request.body()
    base_url = review.public_base_url(request)

    def work() -> Answer:
        reqs = parse(body)
        return answer(reqs, endpoint, base_url, t0) if reqs else Answer([], [], [])

    done = await RUNTIME.run(work)
    if done.records:
        await RUNTIME.audit_records(done.records)  # no answer without its rows
        count_decisions(endpoint, done.recs)
    return done


@guarded("recommend")
async def recommend_endpoint(request: Request) -> Response:
    """POST /recommend: the contract's request object in, the contract's response out."""
    done = await _serve(
        request, "recommend", lambda body: [parse_body(body, RecommendRequest.model_validate)]
    )
    return json_response(done.responses[0])


@guarded("recommend_batch")
async def recommend_batch_endpoint(request: Request) -> Response:
    """POST /recommend_batch: a JSON list of up to 256 requests -> the list of responses."""
    done = await _serve(
        request,
        "recommend_batch",
        lambda body: parse_body(body, _BATCH.validate_python, item_prefix=True),
    )
    return json_response(done.responses)


@guarded("predict")
async def predict_endpoint(request: Request) -> Response:
    """POST /predict: raw tolerance/adherence for candidate week plans (no guideline check)."""
    check_content_type(request)
    body = await request.body()

    def work() -> dict[str, Any]:
        req = parse_body(body, PredictRequest.model_validate)
        return predict_plans(req, RUNTIME.require_models())

    return json_response(await RUNTIME.run(work))


async def openapi_endpoint(_: Request) -> Response:
    """GET /docs.json: the OpenAPI document (public)."""
    return Response(openapi_bytes(), media_type=JSON_MEDIA)


async def _http_error(_: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    name = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
    return json_response({"error": name}, status)


ROUTES = [
    Route("/recommend", recommend_endpoint, methods=["POST"]),
    Route("/recommend_batch", recommend_batch_endpoint, methods=["POST"]),
    Route("/predict", predict_endpoint, methods=["POST"]),
    Route("/docs.json", openapi_endpoint, methods=["GET"]),
]
API_PATHS = tuple(r.path for r in ROUTES if r.path != "/docs.json")
ROUTES += [
    *ui_routes(),  # review pages and the model card (serving/ui/)
    *cds_routes(),  # CDS Hooks (issue #13): client JWTs checked there, not API keys
]

app = Starlette(routes=ROUTES, exception_handlers={HTTPException: _http_error})
