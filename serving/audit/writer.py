"""`AuditWriter`: one background thread per process with group commit; a request is answered
only after the batch its record is in has committed."""

from __future__ import annotations

import datetime as dt
import logging
import math
import queue
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from typing import Any

from sqlalchemy import (
    Engine,
)
from sqlalchemy.exc import SQLAlchemyError

from serving.audit.chain import chain_records, genesis_hash, insert_records, split_monitoring
from serving.audit.schema import create_schema
from serving.db import make_engine
from serving.monitoring import purge
from serving.ui.store import review_rows

log = logging.getLogger("serving.audit")  # the name it had as one module


class AuditUnavailableError(RuntimeError):
    """The audit trail cannot take the record: the service must not answer as if it had."""


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
