"""The OpenAPI 3.1 document at `/docs.json`: schemas from the contract's pydantic models, and the
contract's examples read from the packaged JSON the tests post too (features/contract/examples).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from features.contract.examples import load_example
from features.contract.rest import (
    ErrorBody,
    PredictRequest,
    PredictResponse,
    RecommendRequest,
    RecommendResponse,
    ValidationErrorBody,
)
from features.contract.vocab import MAX_BATCH, MAX_DATE, MIN_DATE
from serving.http.errors import JSON_MEDIA

EXAMPLE_REQUEST: dict[str, Any] = load_example("recommend-request")
EXAMPLE_RESPONSE: dict[str, Any] = load_example("recommend-response")
EXAMPLE_PREDICT_REQUEST: dict[str, Any] = load_example("predict-request")


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
