"""Issue #15: the audit database's versioned migrations and the monitoring table, on SQLite and
on a real PostgreSQL server (`audit_url`): what monitoring needs is written with each audit row,
in the same transaction, and purged after the retention period without touching the audit trail."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, Table, func, insert, inspect, select, text

from features.settings import Settings
from serving.audit import (
    CHAIN_COLUMNS,
    TRIGGER_NAMES,
    AuditUnavailableError,
    AuditWriter,
    audit_log,
    create_schema,
    current_revision,
    head_revision,
    make_engine,
    make_record,
)
from serving.audit_verify import verify
from serving.monitoring import attach, monitoring_log

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
INPUTS = {"age": 57.0, "ecog": 1.0, "hemoglobin_g_dl": None}


@pytest.fixture()
def response_json() -> dict[str, Any]:
    return json.loads((FIXTURES / "recommend-response.json").read_text())


def count(url: str, table: Table) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
    finally:
        engine.dispose()


def test_migrations_are_versioned(audit_url: str) -> None:
    engine = make_engine(audit_url)
    assert current_revision(engine) is None
    for _ in range(2):  # a second start-up finds the database at head and changes nothing
        AuditWriter(audit_url, engine=make_engine(audit_url)).start().close()
        assert current_revision(engine) == head_revision()  # the newest migration
    tables = set(inspect(engine).get_table_names())
    assert {"audit_log", "audit_chain_head", "monitoring_log", "alembic_version"} <= tables
    engine.dispose()


def _migrate(url: str) -> None:
    engine = make_engine(url)
    create_schema(engine)
    engine.dispose()


def test_workers_starting_together_migrate_once(audit_url: str) -> None:
    """Server workers start at the same time: one version row, every worker up (no error)."""
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_migrate, args=(audit_url,)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 4
    engine = make_engine(audit_url)
    with engine.connect() as conn:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        assert versions == [(head_revision(),)]
    engine.dispose()


def test_pre_migration_database_is_brought_to_head(audit_url: str, response_json: dict) -> None:
    """An audit table made before the chain columns and the migrations keeps its rows."""
    old = MetaData()
    legacy = Table(
        "audit_log", old, *(c._copy() for c in audit_log.columns if c.name not in CHAIN_COLUMNS)
    )
    engine = make_engine(audit_url)
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(legacy), [make_record(response_json, "1" * 64, 1.0)])
    AuditWriter(audit_url, engine=make_engine(audit_url)).start().close()
    assert current_revision(engine) == head_revision()
    columns = {c["name"] for c in inspect(engine).get_columns("audit_log")}
    assert set(CHAIN_COLUMNS) <= columns
    report = verify(engine)
    assert report.rows == 1 and report.unchained == 1 and report.ok, report.problems
    engine.dispose()


def test_monitoring_row_is_linked_to_its_audit_row(audit_url: str, response_json: dict) -> None:
    writer = AuditWriter(audit_url).start()
    records = [make_record(response_json, f"{i}" * 64, 1.0) for i in range(3)]
    try:
        writer.write(attach(records, [INPUTS] * 3))
        writer.write([make_record(response_json, "9" * 64, 1.0)])  # no monitoring row: allowed
    finally:
        writer.close()
    engine = make_engine(audit_url)
    with engine.connect() as conn:
        audit = conn.execute(select(audit_log).order_by(audit_log.c.seq)).mappings().all()
        rows = conn.execute(select(monitoring_log).order_by(monitoring_log.c.seq)).mappings().all()
    assert len(audit) == 4 and len(rows) == 3
    for a, m in zip(audit, rows, strict=False):
        assert (m["writer_id"], m["seq"]) == (a["writer_id"], a["seq"])
        assert m["patient_id"] == a["patient_id"] == "pt-000417"
        assert m["predictions"] == a["predictions"] == response_json["predictions"]
        assert m["tolerance_version"] == a["tolerance_version"]
        assert m["inputs"] == INPUTS
    assert verify(engine).ok  # the monitoring payload is not part of the hashed audit row
    engine.dispose()


def test_audit_and_monitoring_rows_commit_together(audit_url: str, response_json: dict) -> None:
    """A monitoring row the database refuses takes its audit row with it (one transaction)."""
    writer = AuditWriter(audit_url).start()
    bad = attach([make_record(response_json, "1" * 64, 1.0)], [INPUTS])
    bad[0]["_monitoring"]["decision"] = None  # NOT NULL
    try:
        with pytest.raises(AuditUnavailableError):
            writer.write(bad)
        assert writer.write(attach([make_record(response_json, "2" * 64, 1.0)], [INPUTS])) == 1
    finally:
        writer.close()
    assert count(audit_url, audit_log) == count(audit_url, monitoring_log) == 1
    engine = make_engine(audit_url)
    assert verify(engine).ok  # the refused batch left no hole in the chain
    engine.dispose()


def test_retention_purges_monitoring_only(audit_url: str, response_json: dict) -> None:
    now = dt.datetime.now(dt.UTC)
    old = [make_record(response_json, "1" * 64, 1.0, ts=now - dt.timedelta(days=40))] * 2
    new = [make_record(response_json, "2" * 64, 1.0, ts=now - dt.timedelta(days=5))]
    writer = AuditWriter(audit_url).start()
    writer.write(attach(old + new, [INPUTS] * 3))
    writer.close()
    assert count(audit_url, monitoring_log) == 3
    AuditWriter(audit_url, retention_days=30).start().close()  # start-up purge
    assert count(audit_url, monitoring_log) == 1
    assert count(audit_url, audit_log) == 3  # the audit trail is never purged
    engine = make_engine(audit_url)
    assert verify(engine).ok
    engine.dispose()


def test_retention_setting() -> None:
    assert Settings().monitoring_retention_days == 180
    assert Settings(monitoring_retention_days=7).monitoring_retention_days == 7
    with pytest.raises(ValueError):
        Settings(monitoring_retention_days=0)


def test_verify_finds_a_disabled_trigger(audit_url: str, response_json: dict) -> None:
    writer = AuditWriter(audit_url).start()
    writer.write([make_record(response_json, "1" * 64, 1.0)])
    writer.close()
    engine = make_engine(audit_url)
    assert verify(engine).ok
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"ALTER TABLE audit_log DISABLE TRIGGER {TRIGGER_NAMES[0]}"))
        else:
            conn.execute(text(f"DROP TRIGGER {TRIGGER_NAMES[0]}"))
    problems = verify(engine).problems
    assert problems == [f"triggers: missing {TRIGGER_NAMES[0]}"]
    engine.dispose()
