"""Issue #17, on SQLite and on a real PostgreSQL server (`audit_url`): the tamper-evident audit
trail (hash chain per writer, recorded chain heads, `dosewise audit verify`), its file mode, and
the writer's health (what /readyz reports)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from dosewise_cli import app
from serving.audit import (
    AuditUnavailableError,
    AuditWriter,
    head_revision,
    make_engine,
    make_record,
)
from serving.audit_verify import verify

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture()
def response_json() -> dict[str, Any]:
    return json.loads((FIXTURES / "recommend-response.json").read_text())


def filled(url: str, response_json: dict, writers: int = 2, rows: int = 5) -> str:
    """An audit database with `writers` chains of `rows` rows each (written in a few batches)."""
    for w in range(writers):
        writer = AuditWriter(url).start()
        try:
            writer.write([make_record(response_json, f"{w}" * 64, 1.0)])
            writer.write([make_record(response_json, f"{i}" * 64, 2.5) for i in range(rows - 1)])
        finally:
            writer.close()
    return url


def tamper(url: str, *statements: str) -> None:
    """What an attacker with write access does: drop the triggers, then change the table."""
    engine = make_engine(url)
    with engine.begin() as conn:
        on = " ON audit_log" if conn.dialect.name == "postgresql" else ""
        for name in ("audit_log_no_update", "audit_log_no_delete"):
            conn.execute(text(f"DROP TRIGGER IF EXISTS {name}{on}"))
        for stmt in statements:
            conn.execute(text(stmt))
    engine.dispose()


def report_for(url: str):
    engine = make_engine(url)
    try:
        return verify(engine)
    finally:
        engine.dispose()


def test_clean_trail_verifies(audit_url: str, response_json: dict) -> None:
    url = filled(audit_url, response_json)
    report = report_for(url)
    assert report.ok, report.problems
    assert (report.rows, report.writers) == (10, 2)


def test_edited_row_is_found(audit_url: str, response_json: dict) -> None:
    url = filled(audit_url, response_json)
    tamper(url, "UPDATE audit_log SET decision = 'hold' WHERE id = 3")
    problems = report_for(url).problems
    assert any(p.startswith("edited") and "(id 3)" in p for p in problems), problems
    assert any(p.startswith("triggers") for p in problems), problems


def test_forged_row_is_found(audit_url: str, response_json: dict) -> None:
    url = filled(audit_url, response_json)
    forged = (
        "INSERT INTO audit_log (ts, patient_id, as_of, request_hash, endpoint, decision, rules, "
        "tolerance_model, tolerance_version, adherence_model, adherence_version, "
        "guideline_version, latency_ms, writer_id, seq, prev_hash, row_hash) "
        "SELECT ts, patient_id, as_of, request_hash, endpoint, 'progress', rules, "
        "tolerance_model, tolerance_version, adherence_model, adherence_version, "
        "guideline_version, latency_ms, writer_id, seq + 100, row_hash, row_hash "
        "FROM audit_log WHERE id = 5"
    )
    tamper(url, forged)
    problems = report_for(url).problems
    assert any(p.startswith("gap") for p in problems), problems
    assert any(p.startswith("edited") for p in problems), problems


def test_row_from_an_unknown_writer_is_forged(audit_url: str, response_json: dict) -> None:
    url = filled(audit_url, response_json, writers=1)
    tamper(
        url,
        "INSERT INTO audit_log (ts, patient_id, as_of, request_hash, endpoint, decision, rules, "
        "tolerance_model, tolerance_version, adherence_model, adherence_version, "
        "guideline_version, latency_ms, writer_id, seq, prev_hash, row_hash) "
        "SELECT ts, patient_id, as_of, request_hash, endpoint, decision, rules, "
        "tolerance_model, tolerance_version, adherence_model, adherence_version, "
        "guideline_version, latency_ms, 'intruder', 1, prev_hash, row_hash "
        "FROM audit_log WHERE id = 1",
    )
    problems = report_for(url).problems
    assert any(p.startswith("forged") and "intruder"[:8] in p for p in problems), problems


def test_deleted_middle_row_is_a_gap(audit_url: str, response_json: dict) -> None:
    url = filled(audit_url, response_json)
    tamper(url, "DELETE FROM audit_log WHERE id = 2")
    problems = report_for(url).problems
    assert any(p.startswith("gap") for p in problems), problems
    assert any(p.startswith("forged") for p in problems), problems  # the chain link breaks too


def test_cut_tail_is_found(audit_url: str, response_json: dict) -> None:
    url = filled(audit_url, response_json, writers=1)
    tamper(url, "DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)")
    problems = report_for(url).problems
    assert any(p.startswith("truncated") for p in problems), problems


def test_audit_files_are_private(tmp_path: Path, response_json: dict) -> None:
    url = filled(f"sqlite:///{tmp_path / 'audit.db'}", response_json, writers=1)
    writer = AuditWriter(url).start()  # open: the WAL and SHM files exist now
    try:
        writer.write([make_record(response_json, "9" * 64, 1.0)])
        files = [p for p in tmp_path.iterdir() if p.name.startswith("audit.db")]
        assert len(files) >= 2
        for path in files:
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    finally:
        writer.close()


def test_cli_verify_exit_codes(tmp_path: Path, audit_url: str, response_json: dict) -> None:
    url = filled(audit_url, response_json)
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--db-url", url])
    assert ok.exit_code == 0, ok.output
    assert "10 rows, 2 chains" in ok.output and "OK" in ok.output
    tamper(url, "UPDATE audit_log SET patient_id = 'pt-x' WHERE id = 7")
    bad = runner.invoke(app, ["audit", "verify", "--db-url", url])
    assert bad.exit_code == 1 and "edited" in bad.output
    missing = runner.invoke(app, ["audit", "verify", "--db-url", f"sqlite:///{tmp_path}/no.db"])
    assert missing.exit_code == 2


def test_writer_health_follows_the_database(tmp_path: Path, response_json: dict) -> None:
    """A failed commit makes the writer unhealthy; a heartbeat that commits makes it healthy."""
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    writer = AuditWriter(url).start()
    try:
        assert writer.heartbeat() and writer.healthy
        writer.engine.dispose()  # the database now refuses every write (like a full disk)
        writer.engine = make_engine(
            url.replace("sqlite:///", "sqlite:///file:") + "?mode=ro&uri=true"
        )
        with pytest.raises(AuditUnavailableError):
            writer.write([make_record(response_json, "1" * 64, 1.0)])
        assert not writer.healthy
        assert not writer.heartbeat()
        writer.engine.dispose()
        writer.engine = make_engine(url)
        assert writer.heartbeat() and writer.healthy
        assert writer.write([make_record(response_json, "2" * 64, 1.0)]) == 1
    finally:
        writer.close()
    assert report_for(url).ok


def test_cli_migrate_then_verify(audit_url: str) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["audit", "migrate", "--db-url", audit_url])
    assert first.exit_code == 0 and f"empty -> {head_revision()}" in first.output, first.output
    again = runner.invoke(app, ["audit", "migrate", "--db-url", audit_url])
    assert again.exit_code == 0 and f"{head_revision()} -> {head_revision()}" in again.output, (
        again.output
    )
    clean = runner.invoke(app, ["audit", "verify", "--db-url", audit_url])
    assert clean.exit_code == 0 and "0 rows" in clean.output, clean.output


def test_cli_verify_unreachable_database_exits_2() -> None:
    from tests.pg import free_port

    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none"  # nothing listens there
    result = CliRunner().invoke(app, ["audit", "verify", "--db-url", url])
    assert result.exit_code == 2 and "cannot read" in result.output, result.output
