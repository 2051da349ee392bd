"""The audit trail, on SQLite and on a real PostgreSQL server (`audit_url`): every recommendation
is one committed row, nothing is lost under concurrency or at shutdown, the table refuses updates
and deletes, and equal requests hash equally."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError
from starlette.testclient import TestClient

from features.contract.rest import RecommendRequest
from features.settings import Settings
from serving.audit import (
    AuditUnavailableError,
    AuditWriter,
    audit_log,
    canonical_json,
    make_engine,
    make_record,
    request_hash,
)
from serving.http.runtime import RUNTIME, configure
from serving.http.work import hash_request
from serving.service import asgi_app
from tests.fakes import fake_models

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
KEY = "audit-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture()
def response_json() -> dict[str, Any]:
    return json.loads((FIXTURES / "recommend-response.json").read_text())


@pytest.fixture()
def request_body() -> dict[str, Any]:
    return json.loads((FIXTURES / "recommend-request.json").read_text())


def count_rows(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())
    finally:
        engine.dispose()


# --- the writer ----------------------------------------------------------------------------------
def test_record_fields(response_json: dict) -> None:
    rec = make_record(response_json, "ab" * 32, 4.5)
    assert rec["patient_id"] == "pt-000417"
    assert rec["decision"] == "progress"
    assert rec["rules"] == [
        "lymphedema.resistance_progression",
        "progression.weekly_volume_10pct",
    ]
    assert rec["tolerance_version"] == "3" and rec["adherence_model"] == "dosewise-adherence"
    assert rec["guideline_version"] == "2026.11.0"
    assert rec["prescription"]["aerobic"]["minutes_per_session"] == 33
    assert rec["ts"].tzinfo is not None  # UTC, explicit


def test_request_hash_is_canonical() -> None:
    a = {"patient": {"age": 57, "sex": "female"}, "sessions": [], "as_of": "2026-11-20"}
    b = {"as_of": "2026-11-20", "sessions": [], "patient": {"sex": "female", "age": 57}}
    assert canonical_json(a) == canonical_json(b)
    assert request_hash(a) == request_hash(b)
    assert request_hash(a) != request_hash({**a, "as_of": "2026-11-21"})
    assert len(request_hash(a)) == 64


def test_writes_and_creates_parent_dir(tmp_path: Path, response_json: dict) -> None:
    url = f"sqlite:///{tmp_path / 'deep' / 'er' / 'audit.db'}"
    writer = AuditWriter(url).start()
    try:
        assert writer.write([make_record(response_json, "0" * 64, 1.0)]) == 1
    finally:
        writer.close()
    assert count_rows(url) == 1
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        row = conn.execute(select(audit_log)).mappings().one()
    engine.dispose()
    assert row["rules"] == [
        "lymphedema.resistance_progression",
        "progression.weekly_volume_10pct",
    ]
    assert row["prescription"]["resistance"]["sets"] == 2


def test_append_only(audit_url: str, response_json: dict) -> None:
    url = audit_url
    writer = AuditWriter(url).start()
    writer.write([make_record(response_json, "0" * 64, 1.0)])
    writer.close()
    engine = make_engine(url)
    statements = ["UPDATE audit_log SET decision = 'hold'", "DELETE FROM audit_log"]
    statements += ["UPDATE audit_chain_head SET seq = 0", "DELETE FROM audit_chain_head"]
    if engine.dialect.name == "postgresql":
        statements += ["TRUNCATE audit_log", "TRUNCATE audit_chain_head"]
    for stmt in statements:
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(text(stmt))
    engine.dispose()
    assert count_rows(url) == 1
    # and the package offers no other write path than INSERT
    package = Path(__import__("serving.audit").audit.__file__).parent
    source = "".join(p.read_text() for p in sorted(package.glob("*.py"))).lower()
    assert "update(" not in source and "delete(" not in source


def test_concurrent_submits_lose_nothing(audit_url: str, response_json: dict) -> None:
    url = audit_url
    writer = AuditWriter(url).start()
    recs = [make_record(response_json, f"{i:064d}", 1.0) for i in range(400)]
    with ThreadPoolExecutor(32) as pool:
        written = list(pool.map(lambda r: writer.write([r]), recs))
    writer.close()
    assert sum(written) == 400
    assert count_rows(url) == 400
    assert writer.batches_written < 400  # group commit did share transactions


def test_close_flushes_the_queue(audit_url: str, response_json: dict) -> None:
    url = audit_url
    writer = AuditWriter(url).start()
    futures = [writer.submit([make_record(response_json, "1" * 64, 1.0)]) for _ in range(300)]
    writer.close()  # right away: everything queued must still be written
    assert all(f.result(timeout=5) == 1 for f in futures)
    assert count_rows(url) == 300
    with pytest.raises(AuditUnavailableError):
        writer.submit([make_record(response_json, "1" * 64, 1.0)]).result(timeout=5)


def test_two_writers_share_one_file(audit_url: str, response_json: dict) -> None:
    """Two server workers = two writers on one database (SQLite: WAL + busy timeout)."""
    url = audit_url
    writers = [AuditWriter(url).start(), AuditWriter(url).start()]
    rec = make_record(response_json, "2" * 64, 1.0)

    def hammer(w: AuditWriter) -> None:
        for _ in range(150):
            w.write([rec])

    threads = [threading.Thread(target=hammer, args=(w,)) for w in writers for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in writers:
        w.close()
    assert count_rows(url) == 600


# --- through the service -------------------------------------------------------------------------
@pytest.fixture()
def service(tmp_path: Path, audit_url: str) -> Iterator[tuple[TestClient, str]]:
    settings = Settings(root=tmp_path, api_keys=KEY, audit_db_url=audit_url)
    configure(settings=settings, model_loader=lambda s: fake_models())
    try:
        with TestClient(asgi_app(), raise_server_exceptions=False) as client:
            assert settings.audit_db_url is not None
            yield client, settings.audit_db_url
    finally:
        RUNTIME.close()
        configure()


def test_200_concurrent_requests_200_rows(
    service: tuple[TestClient, str], request_body: dict
) -> None:
    client, url = service
    bodies = []
    for i in range(200):
        body = copy.deepcopy(request_body)
        body["patient"]["patient_id"] = f"pt-{i:06d}"
        if i % 4 == 0:  # a mix of decisions: some holds
            body["patient"]["labs"]["platelets_10e9_l"] = 10
        bodies.append(body)
    with ThreadPoolExecutor(32) as pool:
        statuses = list(
            pool.map(lambda b: client.post("/recommend", json=b, headers=AUTH).status_code, bodies)
        )
    assert statuses == [200] * 200
    assert count_rows(url) == 200
    engine = make_engine(url)
    with engine.connect() as conn:
        ids = conn.execute(select(audit_log.c.patient_id)).scalars().all()
        hashes = conn.execute(select(audit_log.c.request_hash)).scalars().all()
        holds = conn.execute(
            select(func.count()).select_from(audit_log).where(audit_log.c.decision == "hold")
        ).scalar_one()
    engine.dispose()
    assert sorted(ids) == sorted(b["patient"]["patient_id"] for b in bodies)
    assert len(set(hashes)) == 200
    assert holds == 50


def test_batch_writes_one_row_per_item(service: tuple[TestClient, str], request_body: dict) -> None:
    client, url = service
    resp = client.post("/recommend_batch", json=[request_body] * 3, headers=AUTH)
    assert resp.status_code == 200
    assert count_rows(url) == 3


def test_rejected_requests_are_not_audited(
    service: tuple[TestClient, str], request_body: dict
) -> None:
    client, url = service
    request_body["patient"]["age"] = 5
    assert client.post("/recommend", json=request_body, headers=AUTH).status_code == 422
    assert client.post("/recommend", json=request_body).status_code == 401
    assert count_rows(url) == 0


def test_audit_row_matches_the_answer(service: tuple[TestClient, str], request_body: dict) -> None:
    client, url = service
    answer = client.post("/recommend", json=request_body, headers=AUTH).json()
    engine = make_engine(url)
    with engine.connect() as conn:
        row = conn.execute(select(audit_log)).mappings().one()
    engine.dispose()
    assert row["patient_id"] == answer["patient_id"]
    assert row["decision"] == answer["decision"]
    assert row["prescription"] == answer["prescription"]
    assert row["rules"] == [r["id"] for r in answer["rules"]]
    assert row["tolerance_version"] == answer["model"]["tolerance"]["version"]
    assert row["guideline_version"] == answer["guideline_version"]
    # canonical JSON of the validated request (defaults filled in, as_of explicit)
    normalised = RecommendRequest.model_validate(request_body).model_dump(mode="json")
    assert (
        row["request_hash"]
        == request_hash(normalised)
        == hash_request(RecommendRequest.model_validate(request_body))
    )
    assert row["latency_ms"] > 0


def test_no_answer_without_audit(service: tuple[TestClient, str], request_body: dict) -> None:
    client, _ = service
    assert RUNTIME.audit is not None
    RUNTIME.audit.close()  # the trail is gone (e.g. database down)
    resp = client.post("/recommend", json=request_body, headers=AUTH)
    assert resp.status_code == 503
    assert resp.json() == {"error": "audit_unavailable"}


def test_monitoring_row_matches_the_answer(
    service: tuple[TestClient, str], request_body: dict
) -> None:
    """Issue #15: each recommendation's model input row and predictions, beside its audit row."""
    from features import FEATURE_SET
    from serving.monitoring import monitoring_log

    client, url = service
    answer = client.post("/recommend", json=request_body, headers=AUTH).json()
    batch = client.post("/recommend_batch", json=[request_body] * 2, headers=AUTH).json()
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(monitoring_log).order_by(monitoring_log.c.id)).mappings().all()
        audit = conn.execute(select(audit_log).order_by(audit_log.c.id)).mappings().all()
    engine.dispose()
    assert [r["endpoint"] for r in rows] == ["recommend", "recommend_batch", "recommend_batch"]
    assert [(r["writer_id"], r["seq"]) for r in rows] == [(a["writer_id"], a["seq"]) for a in audit]
    row = rows[0]
    assert row["patient_id"] == answer["patient_id"] and row["decision"] == answer["decision"]
    assert row["predictions"] == answer["predictions"] == batch[0]["predictions"]
    assert set(row["inputs"]) == set(FEATURE_SET.columns)
    assert all(v is None or isinstance(v, float) for v in row["inputs"].values())
    assert rows[1]["inputs"] == row["inputs"]  # same request, same features
    assert any(v is not None for v in row["inputs"].values())
