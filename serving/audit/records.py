"""One audit row from a contract response, and the canonical JSON and hash of a request."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any


def canonical_json(obj: Any) -> str:
    """Key-sorted, whitespace-free JSON: equal requests give equal bytes, whatever the order."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def request_hash(request_json: Any) -> str:
    """SHA-256 of the canonical JSON of a (validated, normalised) request."""
    return hashlib.sha256(canonical_json(request_json).encode("utf-8")).hexdigest()


def make_record(
    response: Mapping[str, Any],
    req_hash: str,
    latency_ms: float,
    endpoint: str = "recommend",
    ts: dt.datetime | None = None,
) -> dict[str, Any]:
    """One audit row from a contract-shaped response (JSON-mode dict)."""
    model = response["model"]
    return {
        "ts": ts or dt.datetime.now(dt.UTC),
        "patient_id": str(response["patient_id"]),
        "as_of": str(response["as_of"]),
        "request_hash": req_hash,
        "endpoint": endpoint,
        "decision": str(response["decision"]),
        "prescription": response.get("prescription"),
        "predictions": response.get("predictions"),
        "rules": [r["id"] for r in response.get("rules", [])],
        "tolerance_model": str(model["tolerance"]["name"]),
        "tolerance_version": str(model["tolerance"]["version"]),
        "adherence_model": str(model["adherence"]["name"]),
        "adherence_version": str(model["adherence"]["version"]),
        "guideline_version": str(response["guideline_version"]),
        "latency_ms": float(latency_ms),
    }
