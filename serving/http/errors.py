"""How a request is read and refused: strict JSON, pydantic validation, and every problem as a
4xx whose body names the field and the reason (never the value: it may be PHI); an unexpected
exception is logged by type and place only and answered with a generic 500.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import traceback
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from features.contract.vocab import MAX_DATE, MIN_DATE
from serving.jsonbody import JsonBodyError, read_json

log = logging.getLogger("dosewise.serving")

JSON_MEDIA = "application/json"
_DATE = TypeAdapter(dt.date)


class ApiError(Exception):
    """An answer other than 200, raised anywhere in a handler and rendered by `json_error`."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("error"))
        self.status = status
        self.body = body


def validation_error(details: list[dict[str, Any]]) -> ApiError:
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


def parse_body(body: bytes, adapter: Callable[[Any], Any], item_prefix: bool = False) -> Any:
    """Read the body as strict JSON (serving/jsonbody.py), then validate it with `adapter`
    (pydantic, python mode); every problem becomes a 422 naming the field."""
    try:
        raw = read_json(body)
    except JsonBodyError as exc:
        raise validation_error([{"loc": ["body"], "msg": f"malformed JSON: {exc}"}]) from None
    try:
        parsed = adapter(raw)
    except ValidationError as exc:
        raise validation_error(validation_details(exc, raw, item_prefix)) from None
    items = list(enumerate(parsed)) if item_prefix else [(None, parsed)]
    errors = [e for i, req in items for e in _date_range_errors(req, [] if i is None else [i])]
    if errors:
        raise validation_error(errors)
    return parsed


def check_content_type(request: Request) -> None:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != JSON_MEDIA and not (media.startswith("application/") and media.endswith("+json")):
        raise validation_error(
            [{"loc": ["header", "content-type"], "msg": "content type must be application/json"}]
        )


def json_response(body: Any, status: int = 200) -> Response:
    return Response(
        # ASCII: a `loc` may quote a submitted key, and no string can then fail to encode
        json.dumps(body, separators=(",", ":"), ensure_ascii=True, allow_nan=False),
        status_code=status,
        media_type=JSON_MEDIA,
    )


def json_error(err: ApiError) -> Response:
    return json_response(err.body, err.status)


Handler = Callable[[Request], Awaitable[Response]]


def guarded(endpoint: str) -> Callable[[Handler], Handler]:
    """ApiError -> its answer; anything else is a bug: logged (type only, no PHI) -> generic 500."""

    def wrap(func: Handler) -> Handler:
        async def handler(request: Request) -> Response:
            try:
                return await func(request)
            except ApiError as err:
                return json_error(err)
            except Exception as exc:
                # where, not what: the message of an exception may quote patient data
                where = "; ".join(
                    f"{Path(f.filename).name}:{f.lineno} {f.name}"
                    for f in traceback.extract_tb(exc.__traceback__)[-6:]
                )
                log.error("internal error in %s: %s at %s", endpoint, type(exc).__name__, where)
                return json_response({"error": "internal_error"}, 500)

        handler.__name__ = func.__name__
        handler.__doc__ = func.__doc__
        return handler

    return wrap
