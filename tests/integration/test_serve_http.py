"""A real `dosewise serve` (BentoML, default workers) on a free 127.0.0.1 port, a real MLflow
registry in tmp_path, called over HTTP.

The server starts before any model exists (503s, not ready), tiny models are then trained and
promoted into its registry, and the server must pick the champions up by itself; then the
endpoints are called, and a graceful stop must leave exactly one audit row per recommendation.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from features.settings import Settings, apply_offline_environment
from serving.audit import audit_log, make_engine
from tests.servers import free_port, spawn_server, stop_server, wait_for

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
KEY = "integration-key-42"
AUTH = {"Authorization": f"Bearer {KEY}"}


@dataclass
class Server:
    base: str
    root: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("serve")
    port = free_port()
    log = root / "server.log"
    proc = spawn_server(
        port,
        {
            "DOSEWISE_ROOT": str(root),
            "DOSEWISE_API_KEYS": KEY,
            "DOSEWISE_MODEL_RELOAD_SECONDS": "1",
        },
        log_path=log,
    )
    srv = Server(f"http://127.0.0.1:{port}", root, proc, log)
    try:
        assert wait_for(srv.base + "/livez", timeout=180), srv.tail()
        yield srv
    finally:
        stop_server(proc)


@pytest.fixture()
def request_body() -> dict:
    return json.loads((FIXTURES / "recommend-request.json").read_text())


def audit_rows(root: Path) -> int:
    settings = Settings(root=root)
    assert settings.audit_db_url is not None
    engine = make_engine(settings.audit_db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())
    finally:
        engine.dispose()


def test_serves_over_http(server: Server, request_body: dict) -> None:
    base = server.base
    # --- before any champion: alive, not ready, 503 (never a guess) ---------------------------
    assert httpx.get(base + "/livez").status_code == 200
    assert httpx.get(base + "/readyz").status_code == 503
    assert not (server.root / "mlruns" / "mlflow.db").exists()  # serving never creates it
    resp = httpx.post(base + "/recommend", json=request_body, headers=AUTH)
    assert resp.status_code == 503 and resp.json() == {"error": "model_unavailable"}
    assert httpx.post(base + "/recommend", json=request_body).status_code == 401

    # --- train tiny models into the server's registry: picked up without a restart -----------
    apply_offline_environment()
    from training.train import run_training

    run_training(Settings(root=server.root, default_patients=300, default_weeks=8), None, 7)
    deadline = time.monotonic() + 120
    ready_streak = 0
    while ready_streak < 6 and time.monotonic() < deadline:  # every worker, not just one
        ready_streak = ready_streak + 1 if httpx.get(base + "/readyz").status_code == 200 else 0
        time.sleep(0.25)
    assert ready_streak >= 6, server.tail()

    # --- the contract over HTTP ----------------------------------------------------------------
    resp = httpx.post(base + "/recommend", json=request_body, headers=AUTH, timeout=30)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["patient_id"] == "pt-000417" and body["as_of"] == "2026-11-20"
    assert body["decision"] in {"progress", "maintain", "regress", "hold", "refer"}
    assert body["model"]["tolerance"]["name"] == "dosewise-tolerance"
    assert body["model"]["adherence"]["name"] == "dosewise-adherence"
    assert body["model"]["tolerance"]["version"] == "1"

    batch = httpx.post(base + "/recommend_batch", json=[request_body] * 3, headers=AUTH, timeout=30)
    assert batch.status_code == 200 and len(batch.json()) == 3
    assert batch.json()[0] | {"review_url": None} == body | {"review_url": None}  # own page each

    from serving.http.openapi import EXAMPLE_PREDICT_REQUEST

    pred = httpx.post(base + "/predict", json=EXAMPLE_PREDICT_REQUEST, headers=AUTH, timeout=30)
    assert pred.status_code == 200, pred.text
    assert all(0 <= p["adherence"] <= 1 for p in pred.json()["predictions"])

    bad = dict(request_body, unknown_field=1)
    resp = httpx.post(base + "/recommend", json=bad, headers=AUTH)
    assert resp.status_code == 422 and resp.json()["details"][0]["loc"] == ["unknown_field"]
    big = b" " * (2 * 1024 * 1024)
    resp = httpx.post(
        base + "/recommend", content=big, headers={**AUTH, "content-type": "application/json"}
    )
    assert resp.status_code == 413

    doc = httpx.get(base + "/docs.json").json()
    assert "/recommend" in doc["paths"]
    # issue #17 over real HTTP: unknown paths add no series, /metrics GET only, header limits
    assert httpx.get(base + "/junk-12345").status_code == 401
    assert httpx.post(base + "/metrics").status_code == 405
    assert httpx.get(base + "/livez", headers={"X-Junk": "a" * 20_000}).status_code == 431
    metrics = httpx.get(base + "/metrics").text
    assert "dosewise_recommendations_total" in metrics
    assert "dosewise_request_duration_seconds_bucket" in metrics
    assert "junk" not in metrics

    # --- graceful stop: every recommendation is in the audit trail -----------------------------
    assert stop_server(server.proc) == 0, server.tail()
    assert audit_rows(server.root) == 4  # 1 single + 3 batch items
    assert "Traceback" not in server.tail()
    assert "pt-000417" not in server.log.read_text(errors="replace")  # no patient ids in logs


def test_dosewise_serve_help_lists_options() -> None:
    from typer.testing import CliRunner

    from dosewise_cli import app

    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--workers", "--threads", "--no-generate-key"):
        assert option in result.output
