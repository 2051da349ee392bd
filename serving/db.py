"""The SQLAlchemy setup every store of the audit database shares (the audit trail, the monitoring
log, the review pages, the CDS Hooks feedback and used-JWT tables): one `MetaData`, an engine with
the right SQLite settings and a private file, and the columns that several tables repeat."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


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
