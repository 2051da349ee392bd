"""The HTTP layer of the REST service: a Starlette app mounted into the BentoML service.

Why a mounted ASGI app and not `@bentoml.api` methods (BentoML 1.4.39, read in its source):
* `@bentoml.api` answers every pydantic failure, malformed JSON included, with 400 and BentoML's
  own body (`{"error": "N validation error for ...", "detail": [...]}`) from inside its endpoint
  wrapper; the contract wants 422 `{"error": "validation_error", "details": [{"loc", "msg"}]}`.
  Rewriting that from a middleware would mean parsing BentoML's error text.
* The contract's body *is* the request object. A root-input API can do that, but the OpenAPI
  document BentoML generates cannot carry the contract's examples or the 401/413/422/503 bodies,
  and schemathesis checks responses against that document.
* Body-size limits with a streamed byte count, and sessions-after-`as_of` named by field, need
  control of how the body is read and validated.
So the endpoints live here, in plain Starlette (no FastAPI: nothing to override, less overhead),
while the service stays a real BentoML service (`serving/service.py`, started by `bentoml serve`):
BentoML runs the workers, the lifecycle (models loaded in the service's `__init__`, audit flushed
in its shutdown hook), `/livez` and `/readyz` (via `__is_ready__`), access logs, and wraps every
route, its own included, in `GatewayMiddleware` (auth, body limit, metrics).

Endpoints (all JSON): `POST /recommend`, `POST /recommend_batch`, `POST /predict`,
`GET /docs.json` (OpenAPI 3.1 with the contract's examples) and `GET /metrics`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
import anyio.to_thread
import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from features.schemas import (
    MAX_SESSIONS_PER_REQUEST,
    Patient,
    Prescription,
    RecommendRequest,
    RecommendResponse,
    Session,
    WeekPlan,
    requests_to_columns,
)
from features.settings import Settings, get_settings
from serving import monitoring
from serving.audit import AuditUnavailableError, AuditWriter, make_record, request_hash
from serving.auth import PUBLIC_PATHS, ApiKeys
from serving.jsonbody import JsonBodyError, read_json
from serving.metrics import get_metrics, render

log = logging.getLogger("dosewise.serving")

MAX_BATCH = 256
MAX_CANDIDATES = 64
API_PATHS = ("/recommend", "/recommend_batch", "/predict")
JSON_MEDIA = "application/json"


# ================================================================================================
# /predict schema (the contract covers /recommend only; this is ours, documented in /docs.json)
# ================================================================================================
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PredictRequest(_Strict):
    """Raw model predictions for given doses; NOT a prescription (no guideline check is applied)."""

    patient: Patient
    sessions: list[Session] = Field(default_factory=list, max_length=MAX_SESSIONS_PER_REQUEST)
    current_prescription: Prescription | None = None
    as_of: dt.date | None = None
    candidates: list[WeekPlan] = Field(min_length=1, max_length=MAX_CANDIDATES)

    @model_validator(mode="after")
    def _sessions_before_as_of(self) -> PredictRequest:
        """Same rule as /recommend (the 422 names each offending session's date)."""
        as_of = self.as_of or dt.date.today()
        if any(s.date >= as_of for s in self.sessions):
            raise ValueError("sessions must be dated before as_of")
        return self


class PlanPrediction(BaseModel):
    plan: WeekPlan
    tolerance: float | None = Field(
        description="min of the per-modality tolerances present; null for a plan with no dose"
    )
    tolerance_aerobic: float | None = Field(description="null when the plan has no aerobic dose")
    tolerance_resistance: float | None = Field(
        description="null when the plan has no resistance dose"
    )
    adherence: float | None = Field(
        description="session-weighted mean of the per-session attendance of the modalities "
        "present; null for a plan with no dose or if the model gives no number"
    )
    adherence_aerobic: float | None = Field(
        default=None, description="P(attend) of one aerobic session; null without aerobic dose"
    )
    adherence_resistance: float | None = Field(
        default=None, description="P(attend) of one resistance session; null without one"
    )


class PredictModelRefs(BaseModel):
    tolerance: dict[str, str]
    adherence: dict[str, str]


class PredictResponse(BaseModel):
    patient_id: str
    as_of: dt.date
    predictions: list[PlanPrediction]
    model: PredictModelRefs


class ErrorDetail(BaseModel):
    loc: list[str | int]
    msg: str


class ValidationErrorBody(BaseModel):
    error: Literal["validation_error"]
    details: list[ErrorDetail]


class ErrorBody(BaseModel):
    error: str


BatchRequest = Annotated[list[RecommendRequest], Field(max_length=MAX_BATCH)]
_BATCH = TypeAdapter(BatchRequest)
_DATE = TypeAdapter(dt.date)


# ================================================================================================
# errors
# ================================================================================================
class ApiError(Exception):
    """An answer other than 200, raised anywhere in a handler and rendered by `_json_error`."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("error"))
        self.status = status
        self.body = body


def _validation_error(details: list[dict[str, Any]]) -> ApiError:
    return ApiError(422, {"error": "validation_error", "details": details})


def _session_date_errors(raw: Any, prefix: list[str | int]) -> list[dict[str, Any]]:
    """Name each session dated on/after `as_of` (the request's cross-field rule) by its field."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("sessions"), list):
        return []
    try:
        as_of = _DATE.validate_python(raw["as_of"]) if raw.get("as_of") else dt.date.today()
    except ValidationError:
        return []
    out = []
    for i, s in enumerate(raw["sessions"]):
        if not isinstance(s, Mapping) or "date" not in s:
            continue
        try:
            day = _DATE.validate_python(s["date"])
        except ValidationError:
            continue
        if day >= as_of:
            out.append(
                {
                    "loc": [*prefix, "sessions", i, "date"],
                    "msg": "session date must be before as_of",  # dates not echoed (PHI)
                }
            )
    return out


def validation_details(
    exc: ValidationError, raw: Any, item_prefix: bool = False
) -> list[dict[str, Any]]:
    """Pydantic errors -> contract details: `loc` names the field (list index first in a batch),
    `msg` says what is wrong; the offending value is never echoed (it may be PHI).

    Sessions dated on/after `as_of` are named field by field (`["sessions", i, "date"]`) even
    when other fields are invalid too (pydantic runs the request's cross-field rule only once
    every field is valid, and reports it without a field).
    """
    details: list[dict[str, Any]] = []
    model_level: list[dict[str, Any]] = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        loc = list(err["loc"])
        if err["type"] == "json_invalid":
            details.append({"loc": ["body"], "msg": f"malformed JSON: {err['msg']}"})
            continue
        is_model_level = (not item_prefix and not loc) or (
            item_prefix and len(loc) == 1 and isinstance(loc[0], int)
        )
        if is_model_level and err["type"] == "value_error":
            model_level.append({"loc": loc, "msg": err["msg"]})
            continue
        details.append({"loc": loc or ["body"], "msg": err["msg"]})
    if item_prefix:
        items = list(enumerate(raw)) if isinstance(raw, list) else []
        dates = [e for i, item in items for e in _session_date_errors(item, [i])]
    else:
        dates = _session_date_errors(raw, [])
    details.extend(dates)
    named = {tuple(d["loc"][:1]) if item_prefix else () for d in dates}
    for err in model_level:  # a model-level rule with no field to name: keep it as it is
        if tuple(err["loc"][:1] if item_prefix else []) not in named:
            details.append({"loc": err["loc"] or ["body"], "msg": err["msg"]})
    return details


# Dates the feature pipeline can hold (pandas datetime64[ns] spans 1677-2262): outside this
# window a date is a typo, and is refused naming the field rather than failing inside the policy.
MIN_DATE = dt.date(1900, 1, 1)
MAX_DATE = dt.date(2199, 12, 31)


def _date_range_errors(req: Any, prefix: list[str | int]) -> list[dict[str, Any]]:
    """Name every date of a validated request outside [MIN_DATE, MAX_DATE]."""
    msg = f"date must be between {MIN_DATE.isoformat()} and {MAX_DATE.isoformat()}"
    out = []
    if req.as_of is not None and not MIN_DATE <= req.as_of <= MAX_DATE:
        out.append({"loc": [*prefix, "as_of"], "msg": msg})
    for i, session in enumerate(req.sessions):
        if not MIN_DATE <= session.date <= MAX_DATE:
            out.append({"loc": [*prefix, "sessions", i, "date"], "msg": msg})
    return out


def _parse(body: bytes, adapter: Callable[[Any], Any], item_prefix: bool = False) -> Any:
    """Read the body as strict JSON (serving/jsonbody.py), then validate it with `adapter`
    (pydantic, python mode); every problem becomes a 422 naming the field."""
    try:
        raw = read_json(body)
    except JsonBodyError as exc:
        raise _validation_error([{"loc": ["body"], "msg": f"malformed JSON: {exc}"}]) from None
    try:
        parsed = adapter(raw)
    except ValidationError as exc:
        raise _validation_error(validation_details(exc, raw, item_prefix)) from None
    items = list(enumerate(parsed)) if item_prefix else [(None, parsed)]
    errors = [e for i, req in items for e in _date_range_errors(req, [] if i is None else [i])]
    if errors:
        raise _validation_error(errors)
    return parsed


def _check_content_type(request: Request) -> None:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != JSON_MEDIA and not (media.startswith("application/") and media.endswith("+json")):
        raise _validation_error(
            [{"loc": ["header", "content-type"], "msg": "content type must be application/json"}]
        )


# ================================================================================================
# runtime state (one per worker process)
# ================================================================================================
ModelLoader = Callable[[Settings], Any]
ChampionProbe = Callable[[Settings], tuple[str, str] | None]


def _default_loader(settings: Settings) -> Any:
    from serving.models import load_champions

    return load_champions(settings)


def _default_probe(settings: Settings) -> tuple[str, str] | None:
    """Versions behind the champion aliases (a cheap read-only registry query), None when the
    registry or an alias is missing (never creates anything: serving/models.py)."""
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    from serving.models import ModelUnavailableError, registry_client

    try:
        client = registry_client(settings)
        return (
            str(
                client.get_model_version_by_alias(
                    settings.tolerance_model_name, settings.champion_alias
                ).version
            ),
            str(
                client.get_model_version_by_alias(
                    settings.adherence_model_name, settings.champion_alias
                ).version
            ),
        )
    except (MlflowException, ModelUnavailableError, SQLAlchemyError, OSError):
        return None


def _load_guidelines(settings: Settings) -> str:
    """Load (so compile and validate) the guideline rules the policy applies; their version.

    The policy evaluates `gk.default_rules()` (serving/guidelines/rules.yaml, shipped and tested
    with the code; deliberately not configurable), so that is what readiness checks; a broken
    rule file raises and keeps the service not ready.
    """
    from serving.guidelines import kernel as gk

    return str(gk.default_rules().version)


@dataclass
class RuntimeOptions:
    """Injection points (tests, benchmarks): settings, how models are loaded, reload cadence."""

    settings: Settings | None = None
    model_loader: ModelLoader | None = None
    champion_probe: ChampionProbe | None = None
    reload_interval_s: float = field(
        default_factory=lambda: float(os.environ.get("DOSEWISE_MODEL_RELOAD_SECONDS", "30"))
    )
    threads: int = field(default_factory=lambda: int(os.environ.get("DOSEWISE_SERVE_THREADS", "1")))


class Runtime:
    """Everything a worker needs to answer: settings, keys, models, policy config, audit."""

    def __init__(self) -> None:
        self.options = RuntimeOptions()
        self.settings: Settings | None = None
        self.keys = ApiKeys(())
        self.max_body_bytes = 1_048_576
        self.max_headers = 64
        self.max_header_bytes = 16_384
        self.metrics_keys = ApiKeys(())
        self.models: Any = None
        self.model_versions: tuple[str, str] | None = None
        self.guideline_version: str | None = None
        self.policy_cfg: Any = None
        self.audit: AuditWriter | None = None
        self.limiter: anyio.CapacityLimiter | None = None
        self.started = False
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Read settings, hash keys, open the audit trail, load rules and models (idempotent)."""
        with self._lock:
            if self.started:
                return
            from serving.policy import PolicyConfig

            opts = self.options
            settings = opts.settings or get_settings()
            self.settings = settings
            self.keys = ApiKeys(settings.api_key_list())
            if not self.keys.configured:
                log.warning(
                    "no API key configured (DOSEWISE_API_KEYS): every protected call is refused "
                    "with 401"
                )
            self.max_body_bytes = settings.max_body_bytes
            self.max_headers = settings.max_headers
            self.max_header_bytes = settings.max_header_bytes
            self.metrics_keys = ApiKeys([settings.metrics_key] if settings.metrics_key else [])
            self.policy_cfg = PolicyConfig(
                tolerance_threshold=settings.tolerance_threshold,
                adherence_threshold=settings.adherence_threshold,
            )
            self._open_audit()
            try:
                self.guideline_version = _load_guidelines(settings)
            except Exception as exc:  # the service stays up, not ready
                log.error("guideline rules failed to load (%s)", type(exc).__name__)
                self.guideline_version = None
            self._stop.clear()
            self.started = True
        self._try_load_models()
        self._refresher = threading.Thread(
            target=self._refresh_loop, name="dosewise-model-refresh", daemon=True
        )
        self._refresher.start()

    def close(self) -> None:
        """Stop the refresher and flush the audit trail (nothing queued is lost)."""
        with self._lock:
            if not self.started:
                return
            self.started = False
            self._stop.set()
            audit, self.audit = self.audit, None
        if self._refresher is not None:
            self._refresher.join(timeout=5)
        if audit is not None:
            audit.close()
        self.models = None
        self.model_versions = None
        self.limiter = None  # bound to this event loop; a restarted app makes a new one

    def configure(self, **kwargs: Any) -> None:
        """Replace injection options (only while stopped)."""
        if self.started:
            raise RuntimeError("configure the runtime before it starts")
        self.options = RuntimeOptions(**kwargs)

    # -- models ------------------------------------------------------------------------------
    def _try_load_models(self) -> bool:
        if not self._load_lock.acquire(blocking=False):
            return False
        try:
            from serving.models import ModelUnavailableError

            assert self.settings is not None
            loader = self.options.model_loader or _default_loader
            try:
                models = loader(self.settings)
            except ModelUnavailableError:
                get_metrics().model_reloads.labels(outcome="unavailable").inc()
                log.warning("no champion models in the registry: /readyz and /recommend give 503")
                return False
            except Exception as exc:
                get_metrics().model_reloads.labels(outcome="error").inc()
                log.error("champion models failed to load (%s)", type(exc).__name__)
                return False
            self.models = models
            self.model_versions = (str(models.tolerance.version), str(models.adherence.version))
            get_metrics().model_reloads.labels(outcome="loaded").inc()
            log.info(
                "serving models %s v%s and %s v%s",
                models.tolerance.name,
                models.tolerance.version,
                models.adherence.name,
                models.adherence.version,
            )
            return True
        finally:
            self._load_lock.release()

    def _probe(self) -> ChampionProbe | None:
        if self.options.champion_probe is not None:
            return self.options.champion_probe
        return _default_probe if self.options.model_loader is None else None

    def _open_audit(self) -> None:
        """Open the audit trail; when the database is unreachable stay up, not ready (503)."""
        assert self.settings is not None and self.settings.audit_db_url is not None
        try:
            retention = self.settings.monitoring_retention_days
            self.audit = AuditWriter(self.settings.audit_db_url, retention_days=retention).start()
        except Exception as exc:
            log.error("audit trail unavailable (%s): not ready until it is", type(exc).__name__)
            self.audit = None

    def _refresh_loop(self) -> None:
        """Every `reload_interval_s`: reopen a missing audit trail, check it takes writes (a
        heartbeat unless a row was committed meanwhile), load models when missing (a missing
        registry is retried here, never created), reload them when a champion alias moved."""
        interval = max(self.options.reload_interval_s, 0.05)
        while not self._stop.wait(interval):
            try:
                if self.audit is None and self.started:
                    with self._lock:
                        if self.audit is None and self.started:
                            self._open_audit()
                audit = self.audit
                if audit is not None:  # readiness tells whether a row can be written now
                    audit.heartbeat(timeout=5.0, idle_s=interval)
                if self.models is None:
                    self._try_load_models()
                    continue
                probe = self._probe()
                if probe is None or self.settings is None:
                    continue
                versions = probe(self.settings)
                if versions is not None and versions != self.model_versions:
                    log.info("champion alias moved: reloading models")
                    self._try_load_models()
            except Exception as exc:  # never let the refresher die
                log.error("model refresh failed (%s)", type(exc).__name__)

    # -- readiness ---------------------------------------------------------------------------
    def readiness(self) -> dict[str, bool]:
        return {
            "models": self.models is not None,
            "guidelines": self.guideline_version is not None,
            # the trail exists and its last write (a request's or a heartbeat's) committed
            "audit": self.audit is not None and self.audit.healthy,
        }

    def ready(self) -> bool:
        return self.started and all(self.readiness().values())

    def require_models(self) -> Any:
        models = self.models
        if models is None or self.guideline_version is None:
            raise ApiError(503, {"error": "model_unavailable"})
        return models

    async def run(self, func: Callable[..., Any], *args: Any) -> Any:
        """CPU work off the event loop, at most `threads` at a time per worker."""
        if self.limiter is None:
            self.limiter = anyio.CapacityLimiter(max(1, self.options.threads))
        return await anyio.to_thread.run_sync(func, *args, limiter=self.limiter)

    async def audit_records(self, records: list[dict[str, Any]]) -> None:
        """Wait until the records are committed; refuse the answer if they cannot be."""
        audit = self.audit
        if audit is None:
            get_metrics().audit_failures.inc()
            raise ApiError(503, {"error": "audit_unavailable"})
        try:
            await asyncio.wrap_future(audit.submit(records))
        except AuditUnavailableError:
            get_metrics().audit_failures.inc()
            raise ApiError(503, {"error": "audit_unavailable"}) from None


RUNTIME = Runtime()


def configure(**kwargs: Any) -> None:
    """Injection hook: `configure(settings=..., model_loader=lambda s: fake_models())`."""
    RUNTIME.configure(**kwargs)


# ================================================================================================
# the work (runs in a worker thread)
# ================================================================================================
def _response_json(raw: dict[str, Any]) -> dict[str, Any]:
    """Policy output -> contract response (validated: a policy bug never leaks a wrong shape)."""
    return RecommendResponse.model_validate(raw).model_dump(mode="json")


def recommend_many(reqs: Sequence[RecommendRequest], models: Any, cfg: Any) -> list[dict[str, Any]]:
    """Contract responses for requests, in order: one vectorised policy call per `as_of`.

    Inside a call each request gets a surrogate patient id (its position), so two items that
    share a patient id never mix their histories; the real id is put back in the response.
    (The policy treats the id as an opaque key; renaming a patient changes nothing.)
    """
    from serving.policy import recommend

    today = dt.date.today()
    groups: dict[dt.date, list[int]] = {}
    for i, r in enumerate(reqs):
        groups.setdefault(r.as_of or today, []).append(i)
    out: list[dict[str, Any] | None] = [None] * len(reqs)
    for as_of, idx in groups.items():
        patients, sessions = requests_to_columns(
            [reqs[i] for i in idx], [f"r{i}" for i in idx], as_of
        )
        results = recommend(patients, sessions, as_of, models, cfg)
        for i, res in zip(idx, results, strict=True):
            res["patient_id"] = reqs[i].patient.patient_id
            out[i] = _response_json(res)
    return [o for o in out if o is not None]


def hash_request(req: RecommendRequest) -> str:
    """Audit hash of a request: SHA-256 of the canonical JSON of the *validated* request, with
    defaults filled in and `as_of` made explicit, so equivalent requests hash equally."""
    data = req.model_dump(mode="json")
    data["as_of"] = (req.as_of or dt.date.today()).isoformat()
    return request_hash(data)


def _session_weighted(parts: tuple[tuple[int, float | None], ...]) -> float | None:
    """Mean attendance over the week's planned sessions (modalities with a number only)."""
    known = [(n, p) for n, p in parts if n >= 1 and p is not None]
    total = sum(n for n, _ in known)
    return round(sum(n * p for n, p in known) / total, 4) if total else None


def predict_plans(req: PredictRequest, models: Any) -> dict[str, Any]:
    """Tolerance and attendance of each candidate plan, scored the way the policy scores a
    week (`ModelScorer`): features from `features.build` with one row per plan and modality
    (an aerobic session, a resistance session), then each model's `predict`. Adherence is the
    session-weighted mean of the per-session attendance of the modalities the plan contains
    (attendance is modelled per session, so frequency itself is not penalised); a plan's
    tolerance is the lower of the modalities it contains."""
    from features import build
    from serving.policy import PLAN_COLUMNS

    as_of = req.as_of or dt.date.today()
    rec = RecommendRequest.model_construct(
        patient=req.patient,
        sessions=list(req.sessions),
        current_prescription=req.current_prescription,
        as_of=as_of,
    )
    patients, sessions = requests_to_columns([rec])
    ts = pd.Timestamp(as_of)
    pid = req.patient.patient_id
    k = len(req.candidates)
    plans = np.array(
        [[float(getattr(c, col)) for col in PLAN_COLUMNS] for c in req.candidates], dtype=float
    )
    cands = pd.DataFrame(np.vstack([plans, plans]), columns=list(PLAN_COLUMNS))
    cands.insert(0, "patient_id", pid)
    cands.insert(1, "as_of", ts)
    cands["modality"] = np.repeat(np.array(["aerobic", "resistance"], dtype=object), k)
    point = pd.DataFrame({"patient_id": [pid], "as_of": [ts]})
    feats = build(patients, sessions, point, candidates=cands)
    if len(feats) != 2 * k:  # build drops rows without a snapshot: never for a request
        raise RuntimeError("feature rows missing for candidate plans")
    tol = np.asarray(models.tolerance.predict(feats), dtype=float)
    att = np.asarray(models.adherence.predict(feats), dtype=float)

    def num(x: float) -> float | None:
        return round(float(x), 4) if np.isfinite(x) else None

    preds = []
    for j, plan in enumerate(req.candidates):
        has = (plan.aerobic_sessions >= 1, plan.resistance_sessions >= 1)
        t_a = num(tol[j]) if has[0] else None
        t_r = num(tol[k + j]) if has[1] else None
        a_a = num(att[j]) if has[0] else None
        a_r = num(att[k + j]) if has[1] else None
        present = [t for t in (t_a, t_r) if t is not None]
        preds.append(
            {
                "plan": plan.model_dump(),
                "tolerance": min(present) if present else None,
                "tolerance_aerobic": t_a,
                "tolerance_resistance": t_r,
                "adherence": _session_weighted(
                    ((plan.aerobic_sessions, a_a), (plan.resistance_sessions, a_r))
                ),
                "adherence_aerobic": a_a,
                "adherence_resistance": a_r,
            }
        )
    resp = {
        "patient_id": pid,
        "as_of": as_of,
        "predictions": preds,
        "model": {
            "tolerance": {"name": models.tolerance.name, "version": str(models.tolerance.version)},
            "adherence": {"name": models.adherence.name, "version": str(models.adherence.version)},
        },
    }
    return PredictResponse.model_validate(resp).model_dump(mode="json")


# ================================================================================================
# handlers
# ================================================================================================
def _json(body: Any, status: int = 200) -> Response:
    return Response(
        # ASCII: a `loc` may quote a submitted key, and no string can then fail to encode
        json.dumps(body, separators=(",", ":"), ensure_ascii=True, allow_nan=False),
        status_code=status,
        media_type=JSON_MEDIA,
    )


def _json_error(err: ApiError) -> Response:
    return _json(err.body, err.status)


Handler = Callable[[Request], Awaitable[Response]]


def _guarded(endpoint: str) -> Callable[[Handler], Handler]:
    """ApiError -> its answer; anything else is a bug: logged (type only, no PHI) -> generic 500."""

    def wrap(func: Handler) -> Handler:
        async def handler(request: Request) -> Response:
            try:
                return await func(request)
            except ApiError as err:
                return _json_error(err)
            except Exception as exc:
                # where, not what: the message of an exception may quote patient data
                where = "; ".join(
                    f"{Path(f.filename).name}:{f.lineno} {f.name}"
                    for f in traceback.extract_tb(exc.__traceback__)[-6:]
                )
                log.error("internal error in %s: %s at %s", endpoint, type(exc).__name__, where)
                return _json({"error": "internal_error"}, 500)

        handler.__name__ = func.__name__
        handler.__doc__ = func.__doc__
        return handler

    return wrap


def _count(endpoint: str, responses: Sequence[Mapping[str, Any]]) -> None:
    counter, hist = get_metrics().recommendations, get_metrics().predictions
    for r in responses:
        counter.labels(decision=r["decision"], endpoint=endpoint).inc()
        for kind, p in (r.get("predictions") or {}).items():  # monitoring: live distribution
            hist.labels(model=kind, version=r["model"][kind]["version"]).observe(p)


@_guarded("recommend")
async def recommend_endpoint(request: Request) -> Response:
    """POST /recommend: the contract's request object in, the contract's response out."""
    t0 = time.perf_counter()
    _check_content_type(request)
    body = await request.body()

    def work() -> tuple[dict[str, Any], str, list[dict[str, Any]]]:
        req = _parse(body, RecommendRequest.model_validate)
        models = RUNTIME.require_models()
        resp = recommend_many([req], models, RUNTIME.policy_cfg)[0]
        return resp, hash_request(req), monitoring.request_inputs([req])

    resp, req_hash, inputs = await RUNTIME.run(work)
    latency_ms = (time.perf_counter() - t0) * 1000
    record = make_record(resp, req_hash, latency_ms, "recommend")
    await RUNTIME.audit_records(monitoring.attach([record], inputs))
    _count("recommend", [resp])
    return _json(resp)


@_guarded("recommend_batch")
async def recommend_batch_endpoint(request: Request) -> Response:
    """POST /recommend_batch: a JSON list of up to 256 requests -> the list of responses."""
    t0 = time.perf_counter()
    _check_content_type(request)
    body = await request.body()

    def work() -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]]]:
        reqs = _parse(body, _BATCH.validate_python, item_prefix=True)
        if not reqs:
            return [], [], []
        models = RUNTIME.require_models()
        resps = recommend_many(reqs, models, RUNTIME.policy_cfg)
        return resps, [hash_request(r) for r in reqs], monitoring.request_inputs(reqs)

    resps, hashes, inputs = await RUNTIME.run(work)
    if resps:
        latency_ms = (time.perf_counter() - t0) * 1000
        records = [
            make_record(r, h, latency_ms, "recommend_batch")
            for r, h in zip(resps, hashes, strict=True)
        ]
        await RUNTIME.audit_records(monitoring.attach(records, inputs))
        _count("recommend_batch", resps)
    return _json(resps)


@_guarded("predict")
async def predict_endpoint(request: Request) -> Response:
    """POST /predict: raw tolerance/adherence for candidate week plans (no guideline check)."""
    _check_content_type(request)
    body = await request.body()

    def work() -> dict[str, Any]:
        req = _parse(body, PredictRequest.model_validate)
        return predict_plans(req, RUNTIME.require_models())

    return _json(await RUNTIME.run(work))


async def openapi_endpoint(_: Request) -> Response:
    """GET /docs.json: the OpenAPI document (public)."""
    return Response(openapi_bytes(), media_type=JSON_MEDIA)


async def _http_error(_: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    name = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
    return _json({"error": name}, status)


app = Starlette(
    routes=[
        Route("/recommend", recommend_endpoint, methods=["POST"]),
        Route("/recommend_batch", recommend_batch_endpoint, methods=["POST"]),
        Route("/predict", predict_endpoint, methods=["POST"]),
        Route("/docs.json", openapi_endpoint, methods=["GET"]),
    ],
    exception_handlers={HTTPException: _http_error},
)


# ================================================================================================
# gateway middleware: auth, body limit, metrics (wraps every route of the BentoML app)
# ================================================================================================
async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
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
METRIC_ENDPOINTS = {p: p.lstrip("/") for p in (*API_PATHS, *PUBLIC_PATHS)}
METRIC_STATUSES = frozenset({200, 400, 401, 404, 405, 413, 422, 431, 500, 503})


def metric_labels(path: str, status: int) -> tuple[str, str]:
    """(endpoint, status) labels from a bounded set, whatever the request was."""
    endpoint = METRIC_ENDPOINTS.get(path, "other")
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
            await _send_json(send, 431, {"error": "request_header_fields_too_large"})
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
            await _send_json(send, 405, {"error": "method_not_allowed"})
            return
        if RUNTIME.metrics_keys.configured and not (
            len(auths) == 1 and RUNTIME.metrics_keys.check(auths[0].decode("latin-1"))
        ):
            await _send_json(send, 401, {"error": "unauthorized"})
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
        if len(auths) != 1 or not RUNTIME.keys.check(auths[0].decode("latin-1")):
            await _send_json(send, 401, {"error": "unauthorized"})
            return
        headers = dict(header_list)
        limit = RUNTIME.max_body_bytes
        too_large = {"error": "payload_too_large", "max_bytes": limit}
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > limit:
                    await _send_json(send, 413, too_large)
                    return
            except ValueError:
                await _send_json(send, 400, {"error": "bad_content_length"})
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
                await _send_json(send, 413, too_large)
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


# ================================================================================================
# OpenAPI document
# ================================================================================================
# The contract's examples (shared/contract/recommend-*.json; tests/fixtures holds the same files and
# tests/code/test_service_contract.py checks these stay equal to them).
EXAMPLE_REQUEST: dict[str, Any] = {
    "patient": {
        "patient_id": "pt-000417",
        "age": 57,
        "sex": "female",
        "height_cm": 164,
        "weight_kg": 71.5,
        "cancer_type": "breast",
        "stage": "II",
        "metastatic_sites": [],
        "treatment_phase": "chemotherapy",
        "days_since_infusion": 9,
        "ecog": 1,
        "comorbidities": ["lymphedema"],
        "medical_clearance": True,
        "resistance_experience": "novice",
        "sarcopenia": False,
        "vitals": {
            "resting_hr": 78,
            "systolic_bp": 124,
            "diastolic_bp": 79,
            "spo2": 98,
            "temperature_c": 36.7,
        },
        "labs": {"hemoglobin_g_dl": 11.4, "platelets_10e9_l": 212, "anc_10e9_l": 2.8},
        "symptoms": {"fatigue": 4, "pain": 1, "vomiting_24h": False},
        "fitness": {"vo2peak_ml_kg_min": 19.5, "six_minute_walk_m": 480, "grip_strength_kg": 23},
    },
    "sessions": [
        {
            "date": "2026-11-09",
            "modality": "aerobic",
            "planned_minutes": 30,
            "planned_pct_hrmax": 66,
            "attended": True,
            "completed_minutes": 30,
            "rpe": 12,
            "avg_hr": 108,
            "adverse_event": "none",
            "pain": 1,
            "fatigue": 3,
        },
        {
            "date": "2026-11-10",
            "modality": "resistance",
            "planned_minutes": 35,
            "planned_pct_1rm": 50,
            "planned_sets": 2,
            "planned_reps": 12,
            "attended": True,
            "completed_sets": 2,
            "rpe": 13,
            "adverse_event": "none",
            "pain": 2,
            "fatigue": 4,
        },
        {
            "date": "2026-11-12",
            "modality": "aerobic",
            "planned_minutes": 30,
            "planned_pct_hrmax": 66,
            "attended": False,
            "adverse_event": "none",
        },
        {
            "date": "2026-11-14",
            "modality": "aerobic",
            "planned_minutes": 30,
            "planned_pct_hrmax": 66,
            "attended": True,
            "completed_minutes": 26,
            "rpe": 14,
            "avg_hr": 113,
            "adverse_event": "mild",
            "pain": 3,
            "fatigue": 5,
        },
        {
            "date": "2026-11-16",
            "modality": "aerobic",
            "planned_minutes": 30,
            "planned_pct_hrmax": 66,
            "attended": True,
            "completed_minutes": 30,
            "rpe": 13,
            "avg_hr": 110,
            "adverse_event": "none",
            "pain": 1,
            "fatigue": 4,
        },
        {
            "date": "2026-11-17",
            "modality": "resistance",
            "planned_minutes": 35,
            "planned_pct_1rm": 50,
            "planned_sets": 2,
            "planned_reps": 12,
            "attended": True,
            "completed_sets": 2,
            "rpe": 13,
            "adverse_event": "none",
            "pain": 1,
            "fatigue": 4,
        },
    ],
    "current_prescription": {
        "aerobic": {
            "sessions_per_week": 3,
            "minutes_per_session": 30,
            "intensity_pct_hrmax": {"low": 64, "high": 68},
            "rpe": {"low": 12, "high": 13},
        },
        "resistance": {
            "sessions_per_week": 2,
            "sets": 2,
            "reps": {"low": 10, "high": 12},
            "intensity_pct_1rm": {"low": 45, "high": 50},
        },
        "restrictions": [],
    },
    "as_of": "2026-11-20",
}
EXAMPLE_RESPONSE: dict[str, Any] = {
    "patient_id": "pt-000417",
    "as_of": "2026-11-20",
    "decision": "progress",
    "prescription": {
        "aerobic": {
            "sessions_per_week": 3,
            "minutes_per_session": 33,
            "intensity_pct_hrmax": {"low": 64, "high": 68},
            "rpe": {"low": 12, "high": 13},
        },
        "resistance": {
            "sessions_per_week": 2,
            "sets": 2,
            "reps": {"low": 10, "high": 12},
            "intensity_pct_1rm": {"low": 45, "high": 50},
        },
        "restrictions": ["no_vigorous", "supervised_resistance"],
    },
    "predictions": {"tolerance": 0.86, "adherence": 0.74},
    "rules": [
        {
            "id": "lymphedema.resistance_progression",
            "kind": "progression",
            "effect": "resistance load held: at most 5% a step, only after 1-2 symptom-free weeks",
            "citation": "Schmitz et al., PAL trial (2009); "
            "Campbell et al., Med Sci Sports Exerc 2019",
        },
        {
            "id": "progression.weekly_volume_10pct",
            "kind": "progression",
            "effect": "aerobic volume capped at +10% of the current prescription",
            "citation": "ACSM progression models (2009)",
        },
    ],
    "explanation": [
        {"feature": "completion_rate_14d", "contribution": 0.41},
        {"feature": "rpe_over_target_14d", "contribution": -0.22},
        {"feature": "days_since_infusion", "contribution": 0.12},
    ],
    "model": {
        "tolerance": {"name": "dosewise-tolerance", "version": "3"},
        "adherence": {"name": "dosewise-adherence", "version": "3"},
    },
    "guideline_version": "2026.11.0",
    "unknown_facts": [],
}
EXAMPLE_PREDICT_REQUEST: dict[str, Any] = {
    "patient": EXAMPLE_REQUEST["patient"],
    "sessions": EXAMPLE_REQUEST["sessions"],
    "as_of": "2026-11-20",
    "candidates": [
        {
            "aerobic_sessions": 3,
            "aerobic_minutes": 30,
            "aerobic_pct_hrmax": 66,
            "resistance_sessions": 2,
            "resistance_sets": 2,
            "resistance_reps": 12,
            "resistance_pct_1rm": 50,
        },
        {
            "aerobic_sessions": 4,
            "aerobic_minutes": 35,
            "aerobic_pct_hrmax": 70,
            "resistance_sessions": 0,
            "resistance_sets": 0,
            "resistance_reps": 0,
            "resistance_pct_1rm": 0,
        },
    ],
}


def _error_responses(*statuses: int) -> dict[str, Any]:
    ref = {"$ref": "#/components/schemas/ErrorBody"}
    table: dict[int, dict[str, Any]] = {
        401: {
            "description": "missing or wrong API key",
            "content": {JSON_MEDIA: {"schema": ref, "example": {"error": "unauthorized"}}},
        },
        413: {
            "description": "body over the size limit (settings.max_body_bytes)",
            "content": {
                JSON_MEDIA: {
                    "schema": ref,
                    "example": {"error": "payload_too_large", "max_bytes": 1048576},
                }
            },
        },
        422: {
            "description": "invalid field or value, malformed JSON or wrong content type; "
            "`loc` names each bad field (a batch's item index first)",
            "content": {
                JSON_MEDIA: {
                    "schema": {"$ref": "#/components/schemas/ValidationErrorBody"},
                    "example": {
                        "error": "validation_error",
                        "details": [
                            {
                                "loc": ["patient", "age"],
                                "msg": "Input should be less than or equal to 110",
                            }
                        ],
                    },
                }
            },
        },
        503: {
            "description": "no champion model loaded (never a guess), or the audit trail is "
            "unavailable",
            "content": {JSON_MEDIA: {"schema": ref, "example": {"error": "model_unavailable"}}},
        },
        500: {
            "description": "internal failure (logged; never expected for any input)",
            "content": {JSON_MEDIA: {"schema": ref, "example": {"error": "internal_error"}}},
        },
    }
    return {str(s): table[s] for s in statuses}


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """OpenAPI 3.1 built from the pydantic contract models, with the contract's examples."""
    from pydantic.json_schema import models_json_schema

    _, top = models_json_schema(
        [
            (RecommendRequest, "validation"),
            (RecommendResponse, "serialization"),
            (PredictRequest, "validation"),
            (PredictResponse, "serialization"),
            (ValidationErrorBody, "serialization"),
            (ErrorBody, "serialization"),
        ],
        ref_template="#/components/schemas/{model}",
    )
    schemas = top.get("$defs", {})
    schemas["ErrorBody"]["additionalProperties"] = True

    def ref(name: str) -> dict[str, str]:
        return {"$ref": f"#/components/schemas/{name}"}

    security = [{"bearerAuth": []}]
    errors = _error_responses(401, 413, 422, 503, 500)
    paths = {
        "/recommend": {
            "post": {
                "operationId": "recommend",
                "summary": "Next week's exercise prescription (or hold / refer) for one patient",
                "security": security,
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON_MEDIA: {"schema": ref("RecommendRequest"), "example": EXAMPLE_REQUEST}
                    },
                },
                "responses": {
                    "200": {
                        "description": "the recommendation (`prescription` null with hold/refer)",
                        "content": {
                            JSON_MEDIA: {
                                "schema": ref("RecommendResponse"),
                                "example": EXAMPLE_RESPONSE,
                            }
                        },
                    },
                    **errors,
                },
            }
        },
        "/recommend_batch": {
            "post": {
                "operationId": "recommend_batch",
                "summary": f"Recommendations for a list of up to {MAX_BATCH} requests, in order",
                "description": "A validation error in any item fails the whole call (422); "
                "`loc` starts with the item's index.",
                "security": security,
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON_MEDIA: {
                            "schema": {
                                "type": "array",
                                "items": ref("RecommendRequest"),
                                "maxItems": MAX_BATCH,
                            },
                            "example": [EXAMPLE_REQUEST],
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "one response per request, in input order",
                        "content": {
                            JSON_MEDIA: {
                                "schema": {"type": "array", "items": ref("RecommendResponse")},
                                "example": [EXAMPLE_RESPONSE],
                            }
                        },
                    },
                    **errors,
                },
            }
        },
        "/predict": {
            "post": {
                "operationId": "predict",
                "summary": "Raw predicted tolerance and adherence for given week plans",
                "description": "Model outputs only: no guideline kernel, no prescription, not "
                "audited. Features are built by the same pipeline as /recommend; tolerance is "
                "the minimum over the modalities a plan contains.",
                "security": security,
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON_MEDIA: {
                            "schema": ref("PredictRequest"),
                            "example": EXAMPLE_PREDICT_REQUEST,
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "one prediction per candidate plan, in order",
                        "content": {JSON_MEDIA: {"schema": ref("PredictResponse")}},
                    },
                    **errors,
                },
            }
        },
        "/livez": {
            "get": {
                "operationId": "livez",
                "summary": "Liveness (public)",
                "security": [],
                "responses": {"200": {"description": "the process is up"}},
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "summary": "Readiness (public): both champion models and the guideline rules "
                "are loaded and the audit trail takes writes",
                "security": [],
                "responses": {
                    "200": {"description": "ready"},
                    "503": {
                        "description": "not ready (no champion model, no rules, or the audit "
                        "trail cannot take a row)"
                    },
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics (public)",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Prometheus text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Dosewise",
            "version": "1.0.0",
            "description": "Guideline-bounded exercise prescriptions for people with cancer. "
            "Research software, not a medical device. Authenticate with "
            "`Authorization: Bearer <key>`. Dates (`as_of`, session dates) must lie between "
            f"{MIN_DATE.isoformat()} and {MAX_DATE.isoformat()}.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
        "security": security,
    }


@lru_cache(maxsize=1)
def openapi_bytes() -> bytes:
    return json.dumps(openapi_document(), separators=(",", ":")).encode()
