"""Cross-cutting HTTP rules around every route of the service, BentoML's own included: header
limits, API-key auth, the body limit, `/metrics`, and request metrics with bounded labels.
"""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.auth import PUBLIC_PATHS
from serving.cds.routes import METRIC_PATHS as CDS_METRIC_PATHS
from serving.cds.routes import PREFIX as CDS_PREFIX
from serving.http.errors import JSON_MEDIA
from serving.http.routes import API_PATHS
from serving.http.runtime import RUNTIME
from serving.metrics import get_metrics, render
from serving.ui.links import PAGE_PREFIX, link_access
from serving.ui.routes import review_secret


async def send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", JSON_MEDIA.encode()),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


# Bounded label values of the request metrics: the routes that exist, everything else "other"
# (an unknown path is attacker-chosen text: as a label it would grow /metrics without bound).
METRIC_ENDPOINTS = {
    p: p.lstrip("/") for p in (*API_PATHS, *PUBLIC_PATHS, "/ui/model-card")
} | CDS_METRIC_PATHS
METRIC_STATUSES = frozenset({200, 400, 401, 403, 404, 405, 413, 422, 431, 500, 503})


def metric_labels(path: str, status: int) -> tuple[str, str]:
    """(endpoint, status) labels from a bounded set, whatever the request was."""
    endpoint = METRIC_ENDPOINTS.get(path, "other")
    endpoint = "ui/recommendations" if path.startswith(PAGE_PREFIX) else endpoint
    return endpoint, str(status) if status in METRIC_STATUSES else "other"


def header_problem(headers: list[tuple[bytes, bytes]], max_count: int, max_bytes: int) -> bool:
    """True when the request has more headers, or more header bytes, than allowed."""
    if len(headers) > max_count:
        return True
    return sum(len(k) + len(v) for k, v in headers) > max_bytes


class GatewayMiddleware:
    """Cross-cutting HTTP rules for the whole service, BentoML's own routes included.

    * Headers first: more than `max_headers` or `max_header_bytes` in all is 431, before auth.
    * `/livez`, `/readyz`, `/metrics`, `/docs.json` are public; everything else needs a key
      (401 `{"error": "unauthorized"}`, also for two `Authorization` headers), checked before any
      byte of the body is read.
    * Body limit: a declared Content-Length over the limit is refused at once (413); otherwise
      the body is read here, counting bytes as they stream, and refused as soon as it passes the
      limit; the app then gets the buffered body.
    * `/metrics` is answered here (GET only; behind `metrics_key` when set; serving/metrics.py).
    * Latency and status of every request go to Prometheus with bounded labels; BentoML's own
      HTTP metrics (a label per raw path) are switched off in serving/service.py.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        path: str = scope.get("path", "")
        status_box = [0]

        async def send_recorded(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = int(message["status"])
            await send(message)

        try:
            await self._route(scope, receive, send_recorded, path)
        finally:
            if path != "/metrics":  # a scrape does not count itself
                endpoint, status = metric_labels(path, status_box[0] or 500)
                m = get_metrics()
                m.latency.labels(endpoint=endpoint, status=status).observe(time.perf_counter() - t0)
                m.requests.labels(endpoint=endpoint, status=status).inc()

    async def _route(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers") or [])
        if header_problem(headers, RUNTIME.max_headers, RUNTIME.max_header_bytes):
            await send_json(send, 431, {"error": "request_header_fields_too_large"})
            return
        auths = [v for k, v in headers if k.lower() == b"authorization"]
        if path == "/metrics":
            await self._metrics(scope, send, auths)
            return
        if path in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        await self._guard(scope, receive, send, headers, auths)

    async def _metrics(self, scope: Scope, send: Send, auths: list[bytes]) -> None:
        if scope.get("method") not in ("GET", "HEAD"):
            await send_json(send, 405, {"error": "method_not_allowed"})
            return
        if RUNTIME.metrics_keys.configured and not (
            len(auths) == 1 and RUNTIME.metrics_keys.check(auths[0].decode("latin-1"))
        ):
            await send_json(send, 401, {"error": "unauthorized"})
            return
        body, ctype = await anyio.to_thread.run_sync(render)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", ctype.encode())],
            }
        )
        await send(
            {"type": "http.response.body", "body": body if scope.get("method") == "GET" else b""}
        )

    async def _guard(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        header_list: list[tuple[bytes, bytes]],
        auths: list[bytes],
    ) -> None:
        # exactly one Authorization header: with two, which one a proxy checked is anyone's guess
        # (CDS Hooks calls carry a client JWT instead, checked by serving/cds/auth.py)
        path = scope.get("path", "")
        is_cds = path == CDS_PREFIX or path.startswith(CDS_PREFIX + "/")
        if not is_cds and (len(auths) != 1 or not RUNTIME.keys.check(auths[0].decode("latin-1"))):
            # a review page also opens with a signed link (serving/ui/links.py); forged/expired: 403
            query = scope.get("query_string", b"").decode("latin-1")
            page = scope["path"].startswith(PAGE_PREFIX) and RUNTIME.settings is not None
            secret = review_secret() if page else None
            link = link_access(scope["path"], query, secret)
            if link != "valid":
                status, err = (403, "forbidden") if link == "invalid" else (401, "unauthorized")
                await send_json(send, status, {"error": err})
                return
        headers = dict(header_list)
        limit = RUNTIME.max_body_bytes
        too_large = {"error": "payload_too_large", "max_bytes": limit}
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > limit:
                    await send_json(send, 413, too_large)
                    return
            except ValueError:
                await send_json(send, 400, {"error": "bad_content_length"})
                return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await send_json(send, 413, too_large)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
