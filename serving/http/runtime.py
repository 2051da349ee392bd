"""The state of one worker process: settings, hashed keys, the champion models (loaded at start,
reloaded when a champion alias moves), the policy configuration and the audit writer.

`configure(...)` is the injection hook of tests and benchmarks (settings, a model loader).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread

from features.settings import Settings, get_settings
from serving.audit import AuditUnavailableError, AuditWriter
from serving.auth import ApiKeys
from serving.http.errors import ApiError
from serving.metrics import get_metrics

log = logging.getLogger("dosewise.serving")


ModelLoader = Callable[[Settings], Any]
ChampionProbe = Callable[[Settings], tuple[str, str] | None]
VersionLoader = Callable[[Settings, tuple[str, str]], Any]


def _default_loader(settings: Settings) -> Any:
    from serving.models import load_champions

    return load_champions(settings)


def _default_version_loader(settings: Settings, versions: tuple[str, str]) -> Any:
    from serving.models import load_versions

    return load_versions(settings, versions)


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
    version_loader: VersionLoader | None = None  # earlier versions, for review pages
    reload_interval_s: float | None = None  # None: settings.model_reload_seconds
    threads: int | None = None  # None: settings.serve_threads


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
        self._earlier: dict[tuple[str, str], Any] = {}  # versions -> models, for review pages
        self._earlier_lock = threading.Lock()
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
            self.policy_cfg = PolicyConfig.from_settings(settings)
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
        self._earlier = {}
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
        assert self.settings is not None
        interval = max(self.options.reload_interval_s or self.settings.model_reload_seconds, 0.05)
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

    def models_at(self, versions: tuple[str, str]) -> Any:
        """The (tolerance, adherence) models of these versions: the champions when they are
        those, else loaded from the registry once and kept (the last two pairs), so a review page
        explains a recommendation with the models that made it, whatever was promoted since.
        Raises ModelUnavailableError (or the loader's error) when they cannot be had."""
        models = self.models
        if models is not None and versions == self.model_versions:
            return models
        with self._earlier_lock:
            if versions not in self._earlier:
                if self.settings is None:
                    raise RuntimeError("runtime not started")
                loader = self.options.version_loader or _default_version_loader
                earlier = loader(self.settings, versions)
                while len(self._earlier) >= 2:
                    self._earlier.pop(next(iter(self._earlier)))
                self._earlier[versions] = earlier
            return self._earlier[versions]

    def require_models(self) -> Any:
        models = self.models
        if models is None or self.guideline_version is None:
            raise ApiError(503, {"error": "model_unavailable"})
        return models

    async def run(self, func: Callable[..., Any], *args: Any) -> Any:
        """CPU work off the event loop, at most `threads` at a time per worker."""
        if self.limiter is None:
            threads = self.options.threads or (self.settings or get_settings()).serve_threads
            self.limiter = anyio.CapacityLimiter(max(1, threads))
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
