"""The Dosewise BentoML service: `bentoml serve serving.service:Dosewise` (or `dosewise serve`).

The endpoints are a Starlette app mounted with `@bentoml.asgi_app` (serving/http/__init__.py
explains why BentoML's own `@bentoml.api` layer cannot meet the REST contract). BentoML owns the
process model (workers, sockets, graceful shutdown), the lifecycle (this class's `__init__` loads
the champion models and opens the audit trail; `shutdown` flushes it), `/livez` and `/readyz` (via
`__is_ready__`), and runs `GatewayMiddleware` (auth, body limit, metrics) around every route.

Workers and threads: see serving/launch.py (measured on the 2-core target). Started with plain
`bentoml serve` rather than `dosewise serve`, also set OMP_NUM_THREADS=1 (launch.py does).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from features.settings import apply_offline_environment, get_settings

apply_offline_environment()  # before BentoML reads its tracking switches

import bentoml  # noqa: E402

from serving.http.gateway import GatewayMiddleware  # noqa: E402
from serving.http.routes import app  # noqa: E402
from serving.http.runtime import RUNTIME  # noqa: E402

log = logging.getLogger("dosewise.serving")


# Unauthenticated traffic must not grow anything (issue #17, finding 1): BentoML's HTTP metrics
# label every raw path (`/metrics` grew to 72 MB after 20,000 junk requests) and its
# OpenTelemetry middleware keeps per-path state (worker memory +40-127%). Both are off; the
# gateway records every request with bounded labels (serving/http/gateway.py). Tracing (sample
# rate 0 by default anyway) can be turned back on for chosen URLs by a deployer (BentoML config).
@bentoml.service(
    name="dosewise",
    workers=get_settings().serve_workers,
    traffic={"timeout": 60},
    metrics={"enabled": False, "namespace": "bentoml_service"},
    tracing={"excluded_urls": ".*"},
)
@bentoml.asgi_app(app, path="/")
class Dosewise:
    """Guideline-bounded exercise prescriptions; state lives in `serving.http.runtime.RUNTIME`."""

    def __init__(self) -> None:
        RUNTIME.start()

    def __is_ready__(self) -> bool:
        """Ready only with both champion models, the guideline rules and the audit trail."""
        ready = RUNTIME.ready()
        if not ready:
            log.info("not ready: %s", RUNTIME.readiness())
        return ready

    @bentoml.on_shutdown
    def shutdown(self) -> None:
        """Flush the audit trail before the worker exits (no queued record is lost)."""
        RUNTIME.close()


Dosewise.add_asgi_middleware(GatewayMiddleware)


@lru_cache(maxsize=1)
def asgi_app() -> Any:
    """`Dosewise.to_asgi()`, built once per process: BentoML registers its own Prometheus
    collectors when an app is built, so a second build in one process would clash. Tests enter
    its lifespan (service startup/shutdown) as often as they like."""
    return Dosewise.to_asgi()
