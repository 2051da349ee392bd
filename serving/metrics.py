"""Prometheus metrics of the service, created lazily and exposed at `/metrics`.

Why lazily: under `bentoml serve` each worker has ``PROMETHEUS_MULTIPROC_DIR`` set and
`prometheus_client` must see it when the metric objects are made, so the values land in the shared
files that `/metrics` aggregates across workers. In process (tests, `to_asgi()`) there is no such
directory and the default registry is used. BentoML's own `/metrics` route assumes the
multiprocess directory exists, so the service answers `/metrics` itself (serving/http/gateway.py).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

LATENCY_BUCKETS = (
    0.002,
    0.004,
    0.006,
    0.008,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)

# The bins of the champions' reference prediction histograms (20 on [0, 1]), so a scrape can be
# compared with the reference directly.
PREDICTION_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))


@dataclass(frozen=True)
class Metrics:
    recommendations: Any  # Counter{decision, endpoint}
    latency: Any  # Histogram{endpoint, status}
    requests: Any  # Counter{endpoint, status}
    model_reloads: Any  # Counter{outcome}
    audit_failures: Any  # Counter
    predictions: Any  # Histogram{model, version}: the live prediction distribution (issue #15)


_lock = threading.Lock()
_metrics: Metrics | None = None


def get_metrics() -> Metrics:
    """The process-wide metric objects (made on first use, once)."""
    global _metrics
    if _metrics is None:
        with _lock:
            if _metrics is None:
                from prometheus_client import Counter, Histogram

                _metrics = Metrics(
                    recommendations=Counter(
                        "dosewise_recommendations",
                        "Recommendations answered, by decision",
                        ["decision", "endpoint"],
                    ),
                    latency=Histogram(
                        "dosewise_request_duration_seconds",
                        "Time from request received to response sent, by endpoint and status",
                        ["endpoint", "status"],
                        buckets=LATENCY_BUCKETS,
                    ),
                    requests=Counter(
                        "dosewise_requests",
                        "Requests answered, by endpoint and status",
                        ["endpoint", "status"],
                    ),
                    model_reloads=Counter(
                        "dosewise_model_loads",
                        "Attempts to load the champion models, by outcome",
                        ["outcome"],
                    ),
                    audit_failures=Counter(
                        "dosewise_audit_failures",
                        "Recommendations refused because the audit trail could not take them",
                    ),
                    predictions=Histogram(
                        "dosewise_prediction",
                        "Predicted tolerance / adherence of recommended doses, by model and "
                        "version (versions come from the registry, never from a request)",
                        ["model", "version"],
                        buckets=PREDICTION_BUCKETS,
                    ),
                )
    return _metrics


# Collectors computed at scrape time from the database rather than counted in a worker (the CDS
# acceptance rates, serving/cds/metrics.py): appended to every exposition, single or multiprocess.
_scrape_collectors: list[Any] = []


def add_scrape_collector(collector: Any) -> None:
    """Expose `collector` (a prometheus_client custom collector) at `/metrics` (idempotent)."""
    with _lock:
        if collector not in _scrape_collectors:
            _scrape_collectors.append(collector)


def _scraped() -> bytes:
    if not _scrape_collectors:
        return b""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    for collector in _scrape_collectors:
        registry.register(collector)
    return generate_latest(registry)


def render() -> tuple[bytes, str]:
    """(body, content type) of the Prometheus text exposition, across workers when multiprocess."""
    import prometheus_client
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    get_metrics()
    mp_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if mp_dir and os.path.isdir(mp_dir):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=mp_dir)
        return generate_latest(registry) + _scraped(), CONTENT_TYPE_LATEST
    return generate_latest(prometheus_client.REGISTRY) + _scraped(), CONTENT_TYPE_LATEST
