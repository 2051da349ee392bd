"""The REST endpoints and the one list of routes.

Another package adds its endpoints by appending its routes to `ROUTES` here (one line each, e.g.
`*cds_routes()`); the gateway (serving/http/gateway.py) authenticates every path that is not in
`serving.auth.PUBLIC_PATHS`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
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
from serving.http.errors import JSON_MEDIA, check_content_type, guarded, json_response, parse_body
from serving.http.openapi import openapi_bytes
from serving.http.runtime import RUNTIME
from serving.http.work import hash_request, predict_plans, recommend_many
from serving.metrics import get_metrics
from serving.ui import routes as review
from serving.ui import ui_routes

_BATCH = TypeAdapter(BatchRequest)


def count_decisions(endpoint: str, responses: Sequence[Mapping[str, Any]]) -> None:
    counter, hist = get_metrics().recommendations, get_metrics().predictions
    for r in responses:
        counter.labels(decision=r["decision"], endpoint=endpoint).inc()
        for kind, p in (r.get("predictions") or {}).items():  # monitoring: live distribution
            hist.labels(model=kind, version=r["model"][kind]["version"]).observe(p)


@guarded("recommend")
async def recommend_endpoint(request: Request) -> Response:
    """POST /recommend: the contract's request object in, the contract's response out."""
    t0 = time.perf_counter()
    check_content_type(request)
    body = await request.body()

    def work() -> tuple[dict[str, Any], str, list[monitoring.ServedInputs], list[Any]]:
        req = parse_body(body, RecommendRequest.model_validate)
        models = RUNTIME.require_models()
        derived: list[Any] = []
        resp = recommend_many([req], models, RUNTIME.policy_cfg, inputs=derived)[0]
        pages = review.prepare_pages([req], [resp], models, RUNTIME.policy_cfg, derived)
        return resp, hash_request(req), monitoring.served_inputs([req], [resp], models), pages

    resp, req_hash, inputs, pages = await RUNTIME.run(work)
    latency_ms = (time.perf_counter() - t0) * 1000
    records = monitoring.attach([make_record(resp, req_hash, latency_ms, "recommend")], inputs)
    review.attach_pages(request, records, [resp], pages)  # page rows + signed review_url
    await RUNTIME.audit_records(records)
    count_decisions("recommend", [resp])
    return json_response(resp)


@guarded("recommend_batch")
async def recommend_batch_endpoint(request: Request) -> Response:
    """POST /recommend_batch: a JSON list of up to 256 requests -> the list of responses."""
    t0 = time.perf_counter()
    check_content_type(request)
    body = await request.body()

    def work() -> tuple[list[dict[str, Any]], list[str], list[monitoring.ServedInputs], list[Any]]:
        reqs = parse_body(body, _BATCH.validate_python, item_prefix=True)
        if not reqs:
            return [], [], [], []
        models = RUNTIME.require_models()
        derived: list[Any] = []
        resps = recommend_many(reqs, models, RUNTIME.policy_cfg, inputs=derived)
        pages = review.prepare_pages(reqs, resps, models, RUNTIME.policy_cfg, derived)
        return (
            resps,
            [hash_request(r) for r in reqs],
            monitoring.served_inputs(reqs, resps, models),
            pages,
        )

    resps, hashes, inputs, pages = await RUNTIME.run(work)
    if resps:
        latency_ms = (time.perf_counter() - t0) * 1000
        records = [
            make_record(r, h, latency_ms, "recommend_batch")
            for r, h in zip(resps, hashes, strict=True)
        ]
        records = monitoring.attach(records, inputs)
        review.attach_pages(request, records, resps, pages)
        await RUNTIME.audit_records(records)
        count_decisions("recommend_batch", resps)
    return json_response(resps)


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
