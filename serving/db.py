"""The SQLAlchemy setup every store of the audit database shares (the audit trail, the monitoring
log, the review pages, the CDS Hooks feedback and used-JWT tables): one `MetaData`, an engine with
the right SQLite settings and a private file, and the columns that several tables repeat."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Column, DateTime, Engine, Integer, MetaData, String, create_engine, event
from sqlalchemy.engine import make_url

# One MetaData for every table of the audit database: they live in one database and one chain of
# migrations (`serving/migrations`), whichever module declares them.
metadata = MetaData()


def id_column() -> Column[int]:
    """The surrogate key of an append-only table."""
    return Column("id", Integer, primary_key=True, autoincrement=True)


def ts_column(*, index: bool = False) -> Column[Any]:
    """When the row was written (UTC)."""
    return Column("ts", DateTime(timezone=True), nullable=False, index=index)


def patient_id_column(*, index: bool = False) -> Column[str]:
    """The patient's pseudonymous id, never a name."""
    return Column("patient_id", String(64), nullable=False, index=index)


def audit_row_columns() -> tuple[Column[str], Column[int]]:
    """(writer_id, seq): the audit row a side row (monitoring, review page) belongs to."""
    return Column("writer_id", String(36), nullable=False), Column("seq", Integer, nullable=False)


def model_columns() -> tuple[Column[str], ...]:
    """The two registered models (name and version) that made a recommendation."""
    return (
        Column("tolerance_model", String(128), nullable=False),
        Column("tolerance_version", String(32), nullable=False),
        Column("adherence_model", String(128), nullable=False),
        Column("adherence_version", String(32), nullable=False),
    )


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
            cur.execute("PRAGMA busy_timeout=30000")
            _ensure_wal(cur)
            cur.execute("PRAGMA synchronous=FULL")
            cur.close()

    return engine


def _ensure_wal(cur: Any, attempts: int = 50) -> None:
    """WAL mode, set once per database file. Switching the mode needs an exclusive lock that
    SQLite may refuse at once (SQLITE_BUSY without the busy handler) while another connection
    writes, so a connection to a file already in WAL mode only reads the mode, and the first
    switch is retried instead of failing a request (seen as a 500 under load)."""
    for attempt in range(attempts):
        try:
            if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
                return
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.01 * (attempt + 1))


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
