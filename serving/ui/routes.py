"""HTTP side of the review pages, and the two hooks `/recommend` calls.

* `GET /ui/recommendations/{id}`: the page of one recommendation. The gateway
  (serving/http/gateway.py) lets it through with the API key or a valid signed link (`links.py`);
  a forged or expired link is 403, neither is 401, an unknown or purged id 404.
* `GET /ui/model-card`: the model card of the champions (API key).
* `prepare_pages` (in the worker thread, with the policy's inputs at hand) computes what each
  page shows (the "doses considered" table as its stored inputs, made when the page is opened:
  `render_page`) and `review_urls` signs each page's link for its response; `store.attach` hands
  each page to the audit writer with its audit row.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from serving.policy.result import Recommendation
from serving.ui import links, store
from serving.ui.pagedata import build_page_data

log = logging.getLogger("dosewise.serving.ui")

BANNER = (
    "Research software, not a medical device. For review by a qualified professional; "
    "it does not replace clinical judgement."
)


def _not_found() -> Response:
    return JSONResponse({"error": "not_found"}, status_code=404)


def _runtime() -> Any:
    from serving.http.runtime import RUNTIME  # lazy: serving.http imports this module

    return RUNTIME


async def recommendation_page(request: Request) -> Response:
    """The review page of one recommendation (server-rendered HTML, no script)."""
    from serving.ui.render import security_headers

    page_id = request.path_params["page_id"]
    runtime = _runtime()
    if not links.PAGE_ID.match(page_id):
        return _not_found()
    audit, settings = runtime.audit, runtime.settings
    if audit is None or settings is None:
        return JSONResponse({"error": "audit_unavailable"}, status_code=503)
    data = await anyio.to_thread.run_sync(
        store.load_page, audit.engine, page_id, settings.review_retention_days
    )
    if data is None:
        return _not_found()
    html = await anyio.to_thread.run_sync(render_page, data)
    return HTMLResponse(html, headers=security_headers())


def render_page(data: dict[str, Any]) -> str:
    """A stored page as HTML: its "doses considered" table is made now, from the inputs stored
    with it when the recommendation was made and the models of the versions that made it
    (`Runtime.models_at`), never from today's champions or policy settings."""
    from serving.ui.considered import with_considered_table
    from serving.ui.render import render_recommendation

    return render_recommendation(with_considered_table(data, _runtime().models_at), BANNER)


async def model_card_page(_: Request) -> Response:
    """The model card of the current champions, built from the registry."""
    from serving.ui.modelcard import build_model_card
    from serving.ui.render import render_model_card, security_headers

    settings = _runtime().settings
    if settings is None:
        return JSONResponse({"error": "model_unavailable"}, status_code=503)
    card = await anyio.to_thread.run_sync(build_model_card, settings)
    if card is None:
        return JSONResponse({"error": "model_unavailable"}, status_code=503)
    html = await anyio.to_thread.run_sync(render_model_card, card, BANNER)
    return HTMLResponse(html, headers=security_headers())


def routes() -> list[Route]:
    return [
        Route(links.PAGE_PREFIX + "{page_id}", recommendation_page, methods=["GET"]),
        Route("/ui/model-card", model_card_page, methods=["GET"]),
    ]


# --- hooks called by serving/http/routes.py on /recommend and /recommend_batch ----------------
def prepare_pages(
    reqs: Sequence[Any],
    recs: Sequence[Recommendation],
    models: Any,
    cfg: Any,
    derived: Sequence[Any] | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """(page id, page data) per recommendation; runs in the worker thread next to the policy.
    `derived`: the policy's `PatientInputs` per request (`recommend_many(inputs=...)`), so the
    features and the kernel are not computed a second time; without them they are. The "doses
    considered" table is stored as its compact inputs (`considered_inputs`, frozen now) and
    made when the page is opened (`render_page`): work only the page needs, once per view."""
    from serving.ui.considered import INPUTS_KEY, considered_inputs

    runtime = _runtime()
    if runtime.audit is not None and runtime.settings is not None:
        try:
            store.purge_hourly(runtime.audit.engine, runtime.settings.review_retention_days)
        except Exception as exc:  # retried next hour; never fails a recommendation
            log.warning("review page purge failed (%s)", type(exc).__name__)
    out = []
    pre = list(derived) if derived else [None] * len(reqs)
    for req, rec, known in zip(reqs, recs, pre, strict=True):
        try:
            considered = considered_inputs(req, rec, cfg, known)
        except Exception as exc:  # the page then says so; the recommendation stands
            log.error("doses considered unavailable (%s)", type(exc).__name__)
            considered = None
        data = build_page_data(req, rec, cfg, None)
        if considered is not None:
            data[INPUTS_KEY] = considered
        out.append((store.new_page_id(), data))
    return out


def public_base_url(request: Request) -> str:
    """Where review links point: behind a proxy the request's Host is internal, so the public
    base URL (settings) names the page when set."""
    return _runtime().settings.public_base_url or str(request.base_url)


def review_urls(pages: list[tuple[str, dict[str, Any]]], base_url: str) -> list[str]:
    """Each page's signed, expiring `review_url` under `base_url`."""
    settings = _runtime().settings
    secret = review_secret()
    base = base_url.rstrip("/")
    lifetime = 60 * settings.review_link_minutes
    return [
        f"{base}{links.page_path(page_id)}?{links.signed_query(page_id, secret, lifetime)}"
        for page_id, _ in pages
    ]


_SECRET: dict[str, bytes] = {}


def review_secret() -> bytes:
    """The process's link secret (settings or the shared file), read once."""
    settings = _runtime().settings
    key = f"{settings.data_dir}|{settings.review_secret.get_secret_value()}"
    if key not in _SECRET:
        _SECRET[key] = links.load_secret(settings)
    return _SECRET[key]
