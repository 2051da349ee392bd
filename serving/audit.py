"""Append-only audit trail of every recommendation the service hands out.

Why it looks like this:

* SQLAlchemy 2 Core, one table (`audit_log`), any SQLAlchemy URL. SQLite is the default
  (``settings.audit_db_url``): WAL journal so readers never block the writer, a busy timeout so
  several server workers can share one file, ``synchronous=FULL`` (a committed row survives a
  crash and a power loss; measured at ~0.25 ms per sequential commit, ~0.07 ms with group commit).
* Append-only from the service's side: this module has an INSERT path and nothing else (no
  update, no delete). On SQLite two triggers additionally refuse UPDATE and DELETE on the table;
  on PostgreSQL grant the service role INSERT and SELECT only.
* Group commit: request handlers hand records to one writer thread per process and wait for the
  commit of the batch their record is in. Under load many requests share one transaction (cheap);
  a request is answered only after its row is committed (nothing is lost, even on a crash after
  the answer). `close()` drains the queue before stopping.
* No PHI leaves this module through logs: errors are logged by exception type only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import queue
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    insert,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError

log = logging.getLogger(__name__)

metadata = MetaData()

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", DateTime(timezone=True), nullable=False),  # UTC
    Column("patient_id", String(64), nullable=False, index=True),  # pseudonymous, never a name
    Column("as_of", String(10), nullable=False),
    Column("request_hash", String(64), nullable=False, index=True),
    Column("endpoint", String(32), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("prescription", JSON, nullable=True),
    Column("predictions", JSON, nullable=True),
    Column("rules", JSON, nullable=False),  # rule ids, in firing order
    Column("tolerance_model", String(128), nullable=False),
    Column("tolerance_version", String(32), nullable=False),
    Column("adherence_model", String(128), nullable=False),
    Column("adherence_version", String(32), nullable=False),
    Column("guideline_version", String(32), nullable=False),
    Column("latency_ms", Float, nullable=False),
)

_SQLITE_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
)


class AuditUnavailableError(RuntimeError):
    """The audit trail cannot take the record: the service must not answer as if it had."""


# --------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# engine
# --------------------------------------------------------------------------------------------
def make_engine(url: str) -> Engine:
    """An engine for `url`; for SQLite: parent folder created, WAL, busy timeout, append-only."""
    parsed = make_url(url)
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {"pool_pre_ping": not is_sqlite}
    if is_sqlite:
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    engine = create_engine(url, **kwargs)
    if is_sqlite:

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=FULL")
            cur.close()

    return engine


def create_schema(engine: Engine, attempts: int = 5) -> None:
    """Create the table (and SQLite's append-only triggers) if missing; safe when several
    workers start at once (a lost creation race is retried and then finds the table)."""
    for attempt in range(attempts):
        try:
            metadata.create_all(engine, checkfirst=True)
            if engine.dialect.name == "sqlite":
                with engine.begin() as conn:
                    for ddl in _SQLITE_TRIGGERS:
                        conn.execute(text(ddl))
            return
        except OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def insert_records(engine: Engine, records: Sequence[Mapping[str, Any]]) -> None:
    """The only write path: one INSERT (executemany) in one transaction."""
    if records:
        with engine.begin() as conn:
            conn.execute(insert(audit_log), [dict(r) for r in records])


# --------------------------------------------------------------------------------------------
# the writer
# --------------------------------------------------------------------------------------------
_STOP = object()


class AuditWriter:
    """One background writer thread per process; `submit` returns a future set at commit."""

    def __init__(self, url: str, *, max_batch: int = 512, engine: Engine | None = None) -> None:
        self.url = url
        self.engine = engine or make_engine(url)
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.rows_written = 0
        self.batches_written = 0
        self.failures = 0

    def start(self) -> AuditWriter:
        """Create the schema and start the writer thread (idempotent)."""
        with self._lock:
            if self._thread is None:
                create_schema(self.engine)
                self._thread = threading.Thread(
                    target=self._run, name="dosewise-audit-writer", daemon=True
                )
                self._thread.start()
        return self

    def submit(self, records: Iterable[Mapping[str, Any]]) -> Future[int]:
        """Queue records (written in one transaction); the future resolves to the row count."""
        fut: Future[int] = Future()
        rows = [dict(r) for r in records]
        with self._lock:
            if self._closed.is_set() or self._thread is None:
                fut.set_exception(AuditUnavailableError("audit writer is not running"))
                return fut
            self._queue.put((rows, fut))
        return fut

    def write(self, records: Iterable[Mapping[str, Any]], timeout: float = 60.0) -> int:
        """Synchronous convenience: submit and wait for the commit."""
        return self.submit(records).result(timeout=timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Stop accepting records, write everything queued, stop the thread, release the DB."""
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
            thread = self._thread
            if thread is not None:
                self._queue.put(_STOP)
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():  # pragma: no cover - only with a hung database
                log.error("audit writer did not finish within %.0f s", timeout)
        self.engine.dispose()

    # -- thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            if item is _STOP:
                break
            batch = [item]
            n_rows = len(item[0])
            while n_rows < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                batch.append(nxt)
                n_rows += len(nxt[0])
            self._write_batch(batch)

    def _write_batch(self, batch: list[tuple[list[dict[str, Any]], Future[int]]]) -> None:
        rows = [r for records, _ in batch for r in records]
        error: BaseException | None = None
        for attempt in range(3):
            try:
                insert_records(self.engine, rows)
                error = None
                break
            except SQLAlchemyError as exc:  # locked beyond the busy timeout, connection lost
                error = exc
                time.sleep(0.1 * (attempt + 1))
        if error is None:
            self.rows_written += len(rows)
            self.batches_written += 1
            for records, fut in batch:
                fut.set_result(len(records))
            return
        self.failures += 1
        log.error("audit write failed (%s); %d rows not written", type(error).__name__, len(rows))
        for _, fut in batch:
            fut.set_exception(AuditUnavailableError("audit trail unavailable"))
