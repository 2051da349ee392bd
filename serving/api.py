"""Older import path of the HTTP layer, which now lives in the `serving.http` package.

Kept so code written against `serving.api` keeps working (other branches, scripts, benchmarks);
new code imports from `serving.http.<module>`. Safe to delete once nothing imports it.
"""

from features.contract.convert import requests_to_columns
from serving.http.errors import (
    ApiError,
    check_content_type,
    guarded,
    json_error,
    json_response,
    validation_details,
    validation_error,
)
from serving.http.gateway import GatewayMiddleware, header_problem, metric_labels
from serving.http.openapi import (
    EXAMPLE_PREDICT_REQUEST,
    EXAMPLE_REQUEST,
    EXAMPLE_RESPONSE,
    openapi_bytes,
    openapi_document,
)
from serving.http.routes import ROUTES, app, count_decisions
from serving.http.runtime import (
    RUNTIME,
    Runtime,
    RuntimeOptions,
    _default_probe,
    configure,
)
from serving.http.work import hash_request, predict_plans, recommend_many

# Older private names, used by code written against the single-module layer.
_check_content_type = check_content_type
_count = count_decisions
_guarded = guarded
_json = json_response
_json_error = json_error
_validation_error = validation_error

__all__ = [
    "EXAMPLE_PREDICT_REQUEST",
    "EXAMPLE_REQUEST",
    "EXAMPLE_RESPONSE",
    "ROUTES",
    "RUNTIME",
    "ApiError",
    "GatewayMiddleware",
    "Runtime",
    "RuntimeOptions",
    "_default_probe",
    "app",
    "configure",
    "hash_request",
    "header_problem",
    "metric_labels",
    "openapi_bytes",
    "openapi_document",
    "predict_plans",
    "recommend_many",
    "requests_to_columns",
    "validation_details",
]
