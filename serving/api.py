"""Older import path of the HTTP layer, which now lives in the `serving.http` package.

Kept so code written against `serving.api` keeps working (other branches, scripts, benchmarks);
new code imports from `serving.http.<module>`. Safe to delete once nothing imports it.
"""

from serving.http.errors import ApiError, validation_details
from serving.http.gateway import GatewayMiddleware, header_problem, metric_labels
from serving.http.openapi import (
    EXAMPLE_PREDICT_REQUEST,
    EXAMPLE_REQUEST,
    EXAMPLE_RESPONSE,
    openapi_bytes,
    openapi_document,
)
from serving.http.routes import ROUTES, app
from serving.http.runtime import (
    RUNTIME,
    Runtime,
    RuntimeOptions,
    _default_probe,
    configure,
)
from serving.http.work import hash_request, predict_plans, recommend_many

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
    "validation_details",
]
