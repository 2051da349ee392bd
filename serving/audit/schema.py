"""The audit database's schema: the Alembic migrations shipped in `serving/migrations`, run at
start-up under a lock (PostgreSQL advisory lock, SQLite flock) so concurrent workers serialise."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Engine,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
# any constant: the advisory lock PostgreSQL workers take while migrating
_PG_MIGRATION_LOCK = 0x0D05E715


def alembic_config(conn: Connection) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def head_revision() -> str:
    """The newest migration shipped with this code."""
    from alembic.script import ScriptDirectory

    cfg = alembic_config(None)  # type: ignore[arg-type]
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
        command.upgrade(alembic_config(conn), "head")


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
