"""Append-only audit trail of every recommendation the service hands out.

Why it looks like this:

* SQLAlchemy 2 Core, one table (`audit_log`), any SQLAlchemy URL. SQLite is the default
  (``settings.audit_db_url``): WAL journal so readers never block the writer, a busy timeout so
  several server workers can share one file, ``synchronous=FULL`` (a committed row survives a
  crash and a power loss; measured at ~0.25 ms per sequential commit, ~0.07 ms with group commit).
* Append-only from the service's side: this module has an INSERT path and nothing else (no
  update, no delete). In the database, triggers refuse UPDATE and DELETE on both audit tables
  (SQLite and PostgreSQL; on PostgreSQL TRUNCATE too); on PostgreSQL also grant the service role
  INSERT and SELECT only.
* Schema by versioned Alembic migrations shipped in `serving/migrations` (`migrate`), run by the
  writer at start-up (service and CLI), for the audit database only, never the MLflow registry.
  Concurrent workers serialise on a lock (PostgreSQL: an advisory lock; SQLite: an flock on the
  file), so the version table gets one row; the migrations are also idempotent.
* Monitoring (issue #15): a record may carry its `monitoring_log` row (serving/monitoring.py);
  it is inserted in the same transaction as the audit row, linked by (writer_id, seq).
* Group commit: request handlers hand records to one writer thread per process and wait for the
  commit of the batch their record is in. Under load many requests share one transaction (cheap);
  a request is answered only after its row is committed (nothing is lost, even on a crash after
  the answer). `close()` drains the queue before stopping.
* Tamper-evident (issue #17): every row carries `row_hash` = SHA-256 of the previous row's hash
  and the row's own canonical JSON, chained per writer (`writer_id`, one per process, `seq` 1, 2,
  ...). Each commit also appends the writer's chain head (seq, hash) to `audit_chain_head`, and
  `close()` logs it. `verify()` (`dosewise audit verify`) recomputes every chain and reports gaps,
  edited and forged rows, a cut tail and missing triggers. Not tamper-proof: whoever can write the
  file can recompute a chain; keep the logged heads (or a copy) elsewhere to anchor it.
* Health: a failed commit marks the writer unhealthy (the service's /readyz turns 503); a
  heartbeat (a chain-head row, written only when no commit succeeded recently) marks it healthy
  again once the database takes writes.
* Files: a SQLite audit file is created 0600 (its WAL and SHM files inherit the mode).
* No PHI leaves this module through logs: errors are logged by exception type only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import math
import os
import queue
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
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
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from serving.monitoring import MONITORING_KEY, monitoring_log, purge
from serving.ui.store import REVIEW_KEY, review_page, review_rows

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
    # the hash chain (nullable only for rows written before it existed)
    Column("writer_id", String(36), nullable=True, index=True),
    Column("seq", Integer, nullable=True),
    Column("prev_hash", String(64), nullable=True),
    Column("row_hash", String(64), nullable=True),
    # CDS Hooks (issue #13, migration 0003): the card's uuid and the calling EHR; empty elsewhere
    Column("uuid", String(36), nullable=True, unique=True),
    Column("tenant", String(512), nullable=True),
)
# Columns hashed only when set: rows written before they existed verify as they did.
HASHED_WHEN_SET = ("uuid", "tenant")

# Append-only record of each writer's chain head after each commit (and heartbeat).
audit_chain_head = Table(
    "audit_chain_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("writer_id", String(36), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("head_hash", String(64), nullable=False),
    Column("ts", DateTime(timezone=True), nullable=False),
)
CHAIN_COLUMNS = ("writer_id", "seq", "prev_hash", "row_hash")
SIDE_KEYS = (MONITORING_KEY, REVIEW_KEY)  # side rows a record carries (not hashed, own tables)

TRIGGER_NAMES = tuple(
    f"{table}_no_{op}" for table in ("audit_log", "audit_chain_head") for op in ("update", "delete")
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
    is_file_uri = (parsed.database or "").startswith("file:")  # `?uri=true`: opened as given
    if is_sqlite and parsed.database and parsed.database != ":memory:" and not is_file_uri:
        _private_file(Path(parsed.database).expanduser())
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


def _private_file(path: Path) -> None:
    """Create the SQLite file 0600 before SQLite does (its WAL/SHM files copy the mode); an
    existing file is narrowed to 0600 too: audit rows are pseudonymous but clinical."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for suffix in ("", "-wal", "-shm"):
        target = path.with_name(path.name + suffix)
        if target.exists():
            os.chmod(target, 0o600)


MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# any constant: the advisory lock PostgreSQL workers take while migrating
_PG_MIGRATION_LOCK = 0x0D05E715


def _alembic_config(conn: Connection) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def head_revision() -> str:
    """The newest migration shipped with this code."""
    from alembic.script import ScriptDirectory

    cfg = _alembic_config(None)  # type: ignore[arg-type]
    return str(ScriptDirectory.from_config(cfg).get_current_head())


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at (None before the first one)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextlib.contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """Serialise migrations of one SQLite file across processes (server workers start together):
    an flock on the database file, independent of SQLite's own fcntl locks. PostgreSQL uses an
    advisory lock instead; an in-memory or `file:` URI database needs none."""
    database = engine.url.database or ""
    if (
        engine.dialect.name != "sqlite"
        or database in ("", ":memory:")
        or database.startswith("file:")
    ):
        yield
        return
    import fcntl

    fd = os.open(Path(database).expanduser(), os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def migrate(engine: Engine) -> None:
    """Bring the audit database to the newest migration (a no-op when it is there)."""
    from alembic import command

    with _sqlite_file_lock(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        command.upgrade(_alembic_config(conn), "head")


def create_schema(engine: Engine, attempts: int = 5) -> None:
    """Run the migrations; safe when several workers start at once (a lost SQLite race is
    retried and then finds the tables)."""
    for attempt in range(attempts):
        try:
            migrate(engine)
            return
        except OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def genesis_hash(writer_id: str) -> str:
    """The `prev_hash` of a writer's first row."""
    return hashlib.sha256(f"dosewise-audit-genesis:{writer_id}".encode()).hexdigest()


def row_digest(prev_hash: str, row: Mapping[str, Any]) -> str:
    """SHA-256 over the previous hash and the row's canonical JSON (all columns but id/row_hash;
    `ts` as ISO text in UTC, so a value read back from the database hashes the same)."""
    fields = {k: v for k, v in row.items() if k not in ("id", "row_hash", "prev_hash")}
    for name in HASHED_WHEN_SET:
        if fields.get(name) is None:
            fields.pop(name, None)
    ts = fields.get("ts")
    if isinstance(ts, dt.datetime):
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=dt.UTC)
        fields["ts"] = ts.astimezone(dt.UTC).isoformat()
    if fields.get("latency_ms") is not None:
        fields["latency_ms"] = float(fields["latency_ms"])
    return hashlib.sha256((prev_hash + canonical_json(fields)).encode("utf-8")).hexdigest()


def chain_records(
    records: Sequence[Mapping[str, Any]], writer_id: str, seq: int, head: str
) -> tuple[list[dict[str, Any]], int, str]:
    """Records with their chain columns, continuing after (`seq`, `head`); the new (seq, head)."""
    out = []
    for record in records:
        seq += 1
        row = {**record, "writer_id": writer_id, "seq": seq, "prev_hash": head}
        head = row_digest(head, {k: v for k, v in row.items() if k not in SIDE_KEYS})
        row["row_hash"] = head
        out.append(row)
    return out, seq, head


def insert_records(
    engine: Engine,
    records: Sequence[Mapping[str, Any]],
    head: Mapping[str, Any] | None = None,
    monitoring: Sequence[Mapping[str, Any]] = (),
    reviews: Sequence[Mapping[str, Any]] = (),
) -> None:
    """The only write path: one INSERT (executemany), the monitoring rows and the chain head,
    in one transaction."""
    if not records and head is None:
        return
    with engine.begin() as conn:
        if records:
            conn.execute(insert(audit_log), [dict(r) for r in records])
        if monitoring:
            conn.execute(insert(monitoring_log), [dict(m) for m in monitoring])
        if reviews:
            conn.execute(insert(review_page), [dict(r) for r in reviews])
        if head is not None:
            conn.execute(insert(audit_chain_head), [dict(head)])


def split_monitoring(
    rows: Sequence[Mapping[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Audit rows without their monitoring rows, and the monitoring rows linked to them."""
    audit_rows, monitoring = [], []
    for row in rows:
        clean = {k: v for k, v in row.items() if k not in SIDE_KEYS}
        audit_rows.append(clean)
        if row.get(MONITORING_KEY) is not None:
            link = {"writer_id": clean["writer_id"], "seq": clean["seq"]}
            monitoring.append({**row[MONITORING_KEY], **link})
    return audit_rows, monitoring


# --------------------------------------------------------------------------------------------
# the writer
# --------------------------------------------------------------------------------------------
_STOP = object()


class AuditWriter:
    """One background writer thread per process; `submit` returns a future set at commit."""

    def __init__(
        self,
        url: str,
        *,
        max_batch: int = 512,
        engine: Engine | None = None,
        retention_days: int | None = None,
    ) -> None:
        self.url = url
        self.retention_days = retention_days  # monitoring rows; None keeps them
        self._last_purge = -math.inf
        self.engine = engine or make_engine(url)
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.rows_written = 0
        self.batches_written = 0
        self.failures = 0
        self.writer_id = str(uuid.uuid4())
        self.seq = 0
        self.head = genesis_hash(self.writer_id)
        self.healthy = True
        self.last_ok = time.monotonic()

    def start(self) -> AuditWriter:
        """Create the schema and start the writer thread (idempotent)."""
        with self._lock:
            if self._thread is None:
                create_schema(self.engine)
                self.purge_monitoring()
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

    def purge_monitoring(self, every_s: float = 0.0) -> int:
        """Drop monitoring rows past the retention period (at most once per `every_s`); never
        touches the audit tables. A failure is logged and left to the next call."""
        if self.retention_days is None or time.monotonic() - self._last_purge < every_s:
            return 0
        try:
            deleted = purge(self.engine, self.retention_days)
        except SQLAlchemyError as exc:
            log.warning("monitoring purge failed (%s)", type(exc).__name__)
            return 0
        self._last_purge = time.monotonic()
        if deleted:
            log.info("monitoring: %d rows past %d days purged", deleted, self.retention_days)
        return deleted

    def heartbeat(self, timeout: float = 10.0, idle_s: float = 0.0) -> bool:
        """Can the database take a write now? Unless a commit succeeded in the last `idle_s`
        seconds, a chain-head row is committed to find out. Updates (and returns) `healthy`.
        Also runs the periodic monitoring purge (hourly)."""
        self.purge_monitoring(every_s=3600.0)
        if time.monotonic() - self.last_ok < idle_s and self.healthy:
            return True
        try:
            self.submit([]).result(timeout=timeout)
        except Exception:
            self.healthy = False
        return self.healthy

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
        # an anchor for `dosewise audit verify` outside the database (no PHI: ids and a hash)
        log.info("audit chain %s closed at seq %d head %s", self.writer_id, self.seq, self.head)
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
        records = [r for recs, _ in batch for r in recs]
        chained, seq, head = chain_records(records, self.writer_id, self.seq, self.head)
        rows, monitoring = split_monitoring(chained)
        head_row = {
            "writer_id": self.writer_id,
            "seq": seq,
            "head_hash": head,
            "ts": dt.datetime.now(dt.UTC),
        }
        error: BaseException | None = None
        for attempt in range(3):
            try:
                insert_records(self.engine, rows, head_row, monitoring, review_rows(chained))
                error = None
                break
            except SQLAlchemyError as exc:  # locked beyond the busy timeout, disk full, gone
                error = exc
                # a connection that hit SQLITE_FULL / IOERR can stay broken: reconnect
                self.engine.dispose()
                time.sleep(0.1 * (attempt + 1))
        if error is None:
            self.seq, self.head = seq, head  # the chain advances only with a commit
            self.healthy, self.last_ok = True, time.monotonic()
            self.rows_written += len(rows)
            self.batches_written += 1
            for recs, fut in batch:
                fut.set_result(len(recs))
            return
        self.failures += 1
        self.healthy = False
        code = getattr(getattr(error, "orig", None), "sqlite_errorname", "")  # e.g. SQLITE_FULL
        log.error(
            "audit write failed (%s %s); %d rows not written", type(error).__name__, code, len(rows)
        )
        for _, fut in batch:
            fut.set_exception(AuditUnavailableError("audit trail unavailable"))
