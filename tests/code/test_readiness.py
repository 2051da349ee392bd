"""Issue #17, findings 3 and 4 in process: serving never creates the MLflow registry, and
/readyz is 503 whenever the audit trail cannot take a row (it used to stay 200 while every
/recommend answered 503 audit_unavailable). The real-server versions are in tests/faults/."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from features.settings import Settings
from serving.audit import make_engine
from serving.http.openapi import EXAMPLE_REQUEST
from serving.http.runtime import RUNTIME, _default_probe
from serving.models import ModelUnavailableError, load_champions, registry_problem
from tests.code.test_service_contract import make_client, post


def wait_status(client: TestClient, path: str, status: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get(path).status_code == status:
            return True
        time.sleep(0.05)
    return False


def test_missing_registry_is_not_created(tmp_path: Path) -> None:
    settings = Settings(root=tmp_path)
    db = tmp_path / "mlruns" / "mlflow.db"
    assert registry_problem(settings) == "registry file missing"
    with pytest.raises(ModelUnavailableError):
        load_champions(settings)
    assert _default_probe(settings) is None
    assert not db.exists()


@pytest.mark.parametrize("content", [b"", b"not a database at all" * 100])
def test_a_file_that_is_no_registry_is_left_alone(tmp_path: Path, content: bytes) -> None:
    db = tmp_path / "mlruns" / "mlflow.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(content)
    settings = Settings(root=tmp_path)
    assert registry_problem(settings) is not None
    with pytest.raises(ModelUnavailableError):
        load_champions(settings)
    assert db.read_bytes() == content  # never initialised, migrated or "repaired"


def test_readyz_is_503_while_the_audit_cannot_take_a_row(tmp_path: Path) -> None:
    body = json.loads(json.dumps(EXAMPLE_REQUEST))
    with make_client(tmp_path, reload_interval_s=0.05) as client:
        assert client.get("/readyz").status_code == 200
        writer = RUNTIME.audit
        assert writer is not None
        url = Settings(root=tmp_path).audit_db_url
        assert url is not None
        good = writer.engine
        # the database refuses writes from now on (as with a full disk)
        writer.engine = make_engine(
            url.replace("sqlite:///", "sqlite:///file:") + "?mode=ro&uri=true"
        )
        resp = post(client, "/recommend", body)
        assert resp.status_code == 503 and resp.json() == {"error": "audit_unavailable"}
        assert client.get("/readyz").status_code == 503
        assert wait_status(client, "/readyz", 503)  # heartbeats keep it not ready
        time.sleep(0.3)
        assert client.get("/readyz").status_code == 503
        writer.engine.dispose()
        writer.engine = good  # writes work again: the next heartbeat makes it ready
        assert wait_status(client, "/readyz", 200)
        assert post(client, "/recommend", body).status_code == 200
