"""The CDS Hooks endpoints, mounted in the service's Starlette app (serving/http/routes.py).

`GET /cds-services`, `POST /cds-services/{id}` (patient-view, order-sign) and
`POST /cds-services/{id}/feedback`. The gateway's API-key check skips the `/cds-services` prefix
(its body limit and metrics still apply): these calls carry a client JWT checked here, on every
call, discovery included (serving/cds/auth.py). patient-view runs exactly the `/recommend` path
(`serving.recommend_many` with the runtime's models and policy config) on the request mapped
from FHIR, and writes the audit row (with the card uuid and the caller) before answering.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid as uuidlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from features.settings import Settings
from serving.cds import cards, order_check
from serving.cds.auth import AuthError, Caller, ReplayGuard, TrustedClients, verify_token
from serving.cds.current import current_from_orders
from serving.cds.discovery import (
    ORDER_SIGN_ID,
    PATIENT_VIEW_ID,
    PREFETCH,
    SiteCodes,
    check_site_codes,
    discovery_document,
    prefetch_templates,
)
from serving.cds.fhir_map import Mapped, map_record
from serving.cds.models import Card, CardsResponse, FeedbackRequest, HookRequest
from serving.cds.orders import FHIR_ID, is_exercise_order, order_label
from serving.cds.prefetch import about_patient, gather, resource_problem
from serving.cds.store import CdsStore, feedback_row
from serving.http.decision_metrics import count_decisions
from serving.http.errors import (
    ApiError,
    check_content_type,
    guarded,
    json_response,
    validation_details,
    validation_error,
)
from serving.http.runtime import RUNTIME
from serving.http.work import hash_request, recommend_many
from serving.policy.result import Recommendation, response_json
from serving.ui import routes as review
from serving.ui import store as review_store

log = logging.getLogger("dosewise.cds")

HOOKS = {PATIENT_VIEW_ID: "patient-view", ORDER_SIGN_ID: "order-sign"}
PREFIX = "/cds-services"
METRIC_PATHS = {
    PREFIX: "cds-services",
    **{f"{PREFIX}/{s}": f"cds-{h}" for s, h in HOOKS.items()},
    **{f"{PREFIX}/{s}/feedback": f"cds-{h}-feedback" for s, h in HOOKS.items()},
}
PATIENT_ID = FHIR_ID


# --- per-worker state --------------------------------------------------------------------------
@dataclass
class CdsState:
    settings: Settings
    clients: TrustedClients
    guard: ReplayGuard
    store: CdsStore
    base_url: str
    site_codes: tuple[tuple[str, str, str], ...] = ()  # Settings.symptom_codes()
    infusion_codes: tuple[tuple[str, str], ...] = ()  # Settings.infusion_codes()
    templates: dict[str, str] = field(default_factory=prefetch_templates)  # with site_codes


_state: CdsState | None = None
_state_lock = threading.Lock()


def current_state() -> CdsState | None:
    """The state for the runtime's current settings (rebuilt when the runtime restarted)."""
    global _state
    settings = RUNTIME.settings
    if settings is None:
        return None
    with _state_lock:
        if _state is None or _state.settings is not settings:
            if _state is not None:
                _state.store.close()
            assert settings.audit_db_url is not None
            site_codes = settings.symptom_codes()
            try:
                check_site_codes(site_codes)
            except ValueError as exc:  # (`dosewise serve` refuses to start on it) unknown is safe
                log.error("%s: the site's symptom codes are ignored", exc)
                site_codes = ()
            _state = CdsState(
                settings=settings,
                clients=TrustedClients.load(settings.cds_trusted_clients),
                guard=ReplayGuard(),
                store=CdsStore(settings.audit_db_url),
                base_url=settings.public_base_url.rstrip("/"),
                site_codes=site_codes,
                infusion_codes=settings.infusion_codes(),
                templates=prefetch_templates(site_codes),
            )
            if not _state.base_url or not len(_state.clients):
                log.warning(
                    "CDS Hooks: DOSEWISE_PUBLIC_BASE_URL or DOSEWISE_CDS_TRUSTED_CLIENTS unset or "
                    "empty: every CDS call is refused (401)"
                )
        return _state


def _error(status: int, body: dict[str, Any]) -> Exception:
    return ApiError(status, body)


def _unauthorized(reason: str) -> Exception:
    log.info("CDS call refused: %s", reason)  # the reason stays in the log, never in the answer
    return _error(401, {"error": "unauthorized"})


def authenticate(request: Request, state: CdsState | None) -> Caller:
    """The verified caller of this request, or a 401 (same body whatever the reason)."""
    if state is None or not state.base_url:
        raise _unauthorized("service not configured")
    auths = request.headers.getlist("authorization")
    if len(auths) != 1:
        raise _unauthorized("not exactly one Authorization header")
    audience = state.base_url + request.url.path
    try:
        caller = verify_token(auths[0], audience, state.clients)
    except AuthError as exc:
        raise _unauthorized(exc.reason) from None
    if not state.guard.claim(caller.iss, caller.jti, caller.exp):
        raise _unauthorized("replayed jti")
    return caller


def _claim_in_store(state: CdsState, caller: Caller) -> None:
    if not state.store.claim_jti(caller.iss, caller.jti, caller.exp):
        raise _unauthorized("replayed jti (another worker)")


def _tenant(caller: Caller) -> str:
    return caller.iss if caller.tenant is None else f"{caller.iss}#{caller.tenant}"


def _parse(body: bytes, model: Any) -> Any:
    from serving.jsonbody import JsonBodyError, read_json

    try:
        raw = read_json(body)
    except JsonBodyError as exc:
        raise validation_error([{"loc": ["body"], "msg": f"malformed JSON: {exc}"}]) from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(validation_details(exc, raw)) from None


def _hook_request(body: bytes, service_id: str) -> tuple[HookRequest, str]:
    hook = _parse(body, HookRequest)
    if hook.hook != HOOKS[service_id]:
        raise validation_error(
            [{"loc": ["hook"], "msg": f"this service answers {HOOKS[service_id]}"}]
        )
    pid = hook.context.get("patientId")
    if not isinstance(pid, str) or not PATIENT_ID.match(pid):
        raise validation_error(
            [
                {
                    "loc": ["context", "patientId"],
                    "msg": "required: a FHIR Patient id (1-64 of A-Za-z0-9_.-)",
                }
            ]
        )
    return hook, pid


def _requester(hook: HookRequest) -> str | None:
    user = hook.context.get("userId")
    return user if isinstance(user, str) else None


def _record_or_412(hook: HookRequest, templates: Mapping[str, str] = PREFETCH) -> Any:
    record = gather(hook, templates=templates)
    if record.patient is None:
        raise _error(412, {"error": "precondition_failed", "missing": ["patient"]})
    return record


def _mapped(
    record: Any,
    pid: str,
    as_of: dt.date,
    site_codes: SiteCodes = (),
    infusion_codes: Sequence[tuple[str, str]] = (),
    being_signed: frozenset[str] = frozenset(),
) -> Mapped:
    """The contract request of a record, with the current prescription (and the progression
    reference) its active exercise orders state (`serving.cds.current`); `being_signed`: the
    labels of the draft orders an order-sign call checks, never read as the current dose."""
    mapped = map_record(
        pid,
        as_of,
        record.patient,
        record.get("conditions"),
        record.get("observations"),
        record.get("activity"),
        record.get("medications"),
        record.get("procedures"),
        site_codes,
        record.get("appointments"),
        infusion_codes,
    )
    current = current_from_orders(record.get("orders"), as_of, being_signed)
    mapped.ignored += current.ignored
    if mapped.request is not None and current.prescription is not None:
        mapped.request = mapped.request.model_copy(
            update={
                "current_prescription": current.prescription,
                "progression_reference": current.reference,
            }
        )
        mapped.facts += current.facts
        mapped.current_orders = current.read
    return mapped


def today() -> dt.date:
    """The date a CDS call recommends for (UTC, like the rest of the service's timestamps)."""
    return dt.datetime.now(dt.UTC).date()


# --- handlers ----------------------------------------------------------------------------------
async def discovery_endpoint(request: Request) -> Response:
    """GET /cds-services (JWT required, like every CDS call)."""

    @guarded("cds-services")
    async def handle(request: Request) -> Response:
        state = current_state()
        caller = authenticate(request, state)
        await RUNTIME.run(_claim_in_store, state, caller)
        return json_response(discovery_document(state.site_codes))

    return await handle(request)


async def _authorised_body(request: Request, service_id: str) -> tuple[CdsState, Caller, bytes]:
    """The caller's token checked (401 otherwise), the service known (404, after the token's
    `jti` is spent), a JSON content type, then the body."""
    state = current_state()
    caller = authenticate(request, state)
    assert state is not None
    if service_id not in HOOKS:
        await RUNTIME.run(_claim_in_store, state, caller)
        raise _error(404, {"error": "not_found"})
    check_content_type(request)
    return state, caller, await request.body()


async def service_endpoint(request: Request) -> Response:
    """POST /cds-services/{id}: patient-view or order-sign."""
    service_id = request.path_params["service_id"]

    @guarded(f"cds-{HOOKS.get(service_id, 'unknown')}")
    async def handle(request: Request) -> Response:
        state, caller, body = await _authorised_body(request, service_id)
        if service_id == PATIENT_VIEW_ID:
            return await _patient_view(body, state, caller)
        return await _order_sign(body, state, caller)

    return await handle(request)


async def _patient_view(body: bytes, state: CdsState, caller: Caller) -> Response:
    t0 = time.perf_counter()

    def work() -> tuple[dict[str, Any], list[dict[str, Any]], list[Recommendation]]:
        from serving import monitoring
        from serving.audit import make_record

        _claim_in_store(state, caller)
        hook, pid = _hook_request(body, PATIENT_VIEW_ID)
        record = _record_or_412(hook, state.templates)
        mapped = _mapped(record, pid, today(), state.site_codes, state.infusion_codes)
        if mapped.request is None:
            card = cards.insufficient_card(mapped, state.base_url)
            return CardsResponse(cards=[card]).as_json(), [], []
        req = mapped.request
        models = RUNTIME.require_models()
        derived: list[Any] = []
        rec = recommend_many([req], models, RUNTIME.policy_cfg, inputs=derived)[0]
        pages = review.prepare_pages([req], [rec], models, RUNTIME.policy_cfg, derived)
        url = review.review_urls(pages, state.base_url or "/")[0]  # the card's link
        card_uuid = str(uuidlib.uuid4())
        card = cards.recommendation_card(
            rec, mapped, card_uuid, pid, state.base_url, _requester(hook), url
        )
        ms = (time.perf_counter() - t0) * 1000
        resp = response_json(rec, url)
        audit = make_record(resp, hash_request(req), ms, "cds-patient-view")
        audit["uuid"] = card_uuid
        audit["tenant"] = _tenant(caller)[:512]
        inputs = monitoring.served_inputs([d.row for d in derived], [rec], models)
        records = monitoring.attach([audit], inputs)
        review_store.attach(records, pages)  # the review page row, with the audit row
        return CardsResponse(cards=[card]).as_json(), records, [rec]

    answer, records, recs = await RUNTIME.run(work)
    if records:
        await RUNTIME.audit_records(records)
        count_decisions("cds-patient-view", recs)
    return json_response(answer)


async def _order_sign(body: bytes, state: CdsState, caller: Caller) -> Response:

    def work() -> dict[str, Any]:
        _claim_in_store(state, caller)
        hook, pid = _hook_request(body, ORDER_SIGN_ID)
        draft = hook.context.get("draftOrders")
        if not isinstance(draft, dict) or draft.get("resourceType") != "Bundle":
            raise validation_error(
                [{"loc": ["context", "draftOrders"], "msg": "required: a FHIR Bundle"}]
            )
        entry = draft.get("entry") or []
        if not isinstance(entry, list):
            raise validation_error(
                [{"loc": ["context", "draftOrders", "entry"], "msg": "must be a list of entries"}]
            )
        entries = [e.get("resource") for e in entry if isinstance(e, dict)]
        orders = [r for r in entries if isinstance(r, dict) and is_exercise_order(r)]
        foreign = [order_label(r) for r in orders if not about_patient(r, f"Patient/{pid}")]
        orders = [r for r in orders if about_patient(r, f"Patient/{pid}")]
        checked = [(r, resource_problem(r)) for r in orders]
        exercise = [r for r, why in checked if why is None]
        bad = [r for r, why in checked if why is not None]
        unreadable = [(order_label(r), why) for r, why in checked if why is not None]

        def respond(*found_cards: Card) -> dict[str, Any]:
            """The cards, a warning for every exercise order that could not be checked, and a
            critical card for orders about another patient (never checked here)."""
            warn = [cards.unreadable_orders_card(unreadable, state.base_url)] if unreadable else []
            if foreign:
                warn.insert(0, cards.other_patient_orders_card(foreign, state.base_url))
            return CardsResponse(cards=[*found_cards, *warn]).as_json()

        if not orders:
            return respond()
        record = _record_or_412(hook, state.templates)
        drafts = frozenset(x for x in map(order_label, orders) if x.startswith("ServiceRequest/"))
        mapped = _mapped(record, pid, today(), state.site_codes, state.infusion_codes, drafts)
        if mapped.request is None:
            card = cards.insufficient_card(mapped, state.base_url)
            card.indicator = "warning"
            card.summary = cards._clip(
                "Dosewise cannot check this exercise order: the record lacks "
                + ", ".join(mapped.missing_required)
            )
            return respond(card)
        result = order_check.kernel_for(mapped.request)
        found = order_check.check_orders(exercise, result, pid, mapped.cancer_condition, bad)
        unreadable += found.unchecked
        if not found.problems:
            return respond()
        rules = [r.as_dict() for r in result.fired]
        card = cards.order_check_card(
            found.problems,
            rules,
            result.decision,
            found.replacements,
            found.deletions,
            found.created,
            found.unstated,
            result.version,
            state.base_url,
        )
        return respond(card)

    answer = await RUNTIME.run(work)
    return json_response(answer)


async def feedback_endpoint(request: Request) -> Response:
    """POST /cds-services/{id}/feedback: outcomes stored append-only, joined by card uuid."""
    service_id = request.path_params["service_id"]

    @guarded("cds-feedback")
    async def handle(request: Request) -> Response:
        state, caller, body = await _authorised_body(request, service_id)

        def work() -> None:
            _claim_in_store(state, caller)
            fb = _parse(body, FeedbackRequest)
            for i, item in enumerate(fb.feedback):
                reason = item.overrideReason.reason if item.overrideReason else None
                if (
                    item.outcome == "overridden"
                    and reason is not None
                    and reason.system == cards.OVERRIDE_SYSTEM
                    and reason.code not in cards.OVERRIDE_CODES
                ):
                    raise validation_error(
                        [
                            {
                                "loc": ["feedback", i, "overrideReason", "reason", "code"],
                                "msg": "not one of the card's override reasons",
                            }
                        ]
                    )
            now = dt.datetime.now(dt.UTC)
            state.store.add_feedback(
                [feedback_row(it, service_id, _tenant(caller)[:512], now) for it in fb.feedback]
            )

        await RUNTIME.run(work)
        return json_response({})

    return await handle(request)


def _current_store() -> CdsStore | None:
    return _state.store if _state is not None else None


def cds_routes() -> list[Route]:
    """The CDS Hooks routes for the service's Starlette app (and their `/metrics` collector)."""
    from serving.metrics import add_scrape_collector

    add_scrape_collector(_ACCEPTANCE)
    return [
        Route(PREFIX, discovery_endpoint, methods=["GET"]),
        Route(PREFIX + "/{service_id}", service_endpoint, methods=["POST"]),
        Route(PREFIX + "/{service_id}/feedback", feedback_endpoint, methods=["POST"]),
    ]


def _make_collector() -> Any:
    from serving.cds.metrics import AcceptanceCollector

    return AcceptanceCollector(_current_store)


_ACCEPTANCE = _make_collector()
