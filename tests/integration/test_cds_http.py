"""CDS Hooks against a real `dosewise serve` (BentoML, two workers) on a free 127.0.0.1 port, with
the suite's tiny trained registry: discovery, patient-view for every fixture patient, 412,
order-sign above and within the limits, feedback and its metrics, and every 401 (a replayed
token too, whichever worker gets it). After a graceful stop the audit trail verifies and holds
one row per recommendation card, with the card's uuid and the caller."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from features.settings import Settings
from serving.audit import audit_log, make_engine
from serving.audit_verify import verify
from tests.cds.helpers import BASE, ISS, PATIENTS, fixture, token, write_trusted
from tests.cds.test_cds_auth import bad_tokens
from tests.cds.test_cds_service import order, order_sign_body
from tests.servers import free_port, spawn_server, stop_server, wait_for

pytestmark = pytest.mark.integration

PV = "/cds-services/dosewise-patient-view"
OS = "/cds-services/dosewise-order-sign"


@dataclass
class Server:
    url: str
    root: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def call(self, path: str, body: dict | None = None, **kw) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token(path, **kw)}"}
        if body is None:
            return httpx.get(self.url + path, headers=headers, timeout=30)
        return httpx.post(self.url + path, json=body, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, template_registry: Path) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("cds-serve")
    shutil.copytree(template_registry, root / "mlruns")
    port = free_port()
    log = root / "server.log"
    proc = spawn_server(
        port,
        {
            "DOSEWISE_ROOT": str(root),
            "DOSEWISE_API_KEYS": "rest-key-0123456789",
            "DOSEWISE_PUBLIC_BASE_URL": BASE,  # TLS ends at a proxy: aud is the public URL
            "DOSEWISE_CDS_TRUSTED_CLIENTS": str(write_trusted(root / "trusted.json")),
        },
        workers=2,
        log_path=log,
    )
    srv = Server(f"http://127.0.0.1:{port}", root, proc, log)
    try:
        assert wait_for(srv.url + "/readyz", timeout=180), srv.tail()
        yield srv
    finally:
        stop_server(proc)


def test_cds_hooks_over_http(server: Server) -> None:
    # --- discovery, and every refused token -----------------------------------------------------
    resp = server.call("/cds-services")
    assert resp.status_code == 200, server.tail()
    assert {s["id"] for s in resp.json()["services"]} == {
        "dosewise-patient-view",
        "dosewise-order-sign",
    }
    assert httpx.get(server.url + "/cds-services").status_code == 401
    for name, tok in bad_tokens().items():
        resp = httpx.get(server.url + "/cds-services", headers={"Authorization": f"Bearer {tok}"})
        assert resp.status_code == 401 and resp.json() == {"error": "unauthorized"}, name
    replayed = {"Authorization": f"Bearer {token('/cds-services')}"}
    statuses = [
        httpx.get(server.url + "/cds-services", headers=replayed).status_code for _ in range(6)
    ]
    assert statuses == [200] + [401] * 5  # across both workers (the jti table is shared)

    # --- patient-view for every fixture patient -------------------------------------------------
    cards = {}
    for name in PATIENTS:
        resp = server.call(PV, fixture(name), tenant="clinic-7")
        assert resp.status_code == 200, (name, resp.text, server.tail())
        [cards[name]] = resp.json()["cards"]
    for name in ("chemo", "metastatic"):
        assert cards[name]["indicator"] == "info" and cards[name]["suggestions"], name
    assert cards["hold"]["indicator"] == "warning" and cards["hold"]["suggestions"] == []
    assert cards["refer"]["indicator"] == "warning"
    assert cards["sparse"]["indicator"] == "info" and "ecog" in cards["sparse"]["summary"]
    body = fixture("chemo")
    del body["prefetch"]["patient"]
    assert server.call(PV, body).status_code == 412

    # --- order-sign -------------------------------------------------------------------------------
    resp = server.call(OS, order_sign_body("chemo", order("sr-1", 2, 10, 55, 60)))
    assert resp.status_code == 200 and resp.json() == {"cards": []}
    resp = server.call(OS, order_sign_body("chemo", order("sr-2", 7, 90, 80, 90)))
    [critical] = resp.json()["cards"]
    assert critical["indicator"] == "critical"
    assert critical["suggestions"][0]["actions"][0]["type"] == "update"

    # --- feedback and metrics ---------------------------------------------------------------------
    feedback = {
        "feedback": [
            {
                "card": cards["hold"]["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [],
                "outcomeTimestamp": "2026-11-20T10:00:00Z",
            }
        ]
    }
    resp = server.call(PV + "/feedback", feedback)
    assert resp.status_code == 200, resp.text
    deadline = time.monotonic() + 10
    metrics = ""
    while time.monotonic() < deadline and "dosewise_cds_acceptance_rate" not in metrics:
        metrics = httpx.get(server.url + "/metrics").text
    assert 'dosewise_cds_acceptance_rate{key="hold",scope="decision"} 1.0' in metrics

    # --- after a graceful stop: one audit row per recommendation card, chain intact -------------
    assert stop_server(server.proc) == 0
    engine = make_engine(Settings(root=server.root).audit_db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(audit_log.c.uuid, audit_log.c.tenant, audit_log.c.endpoint).where(
                    audit_log.c.uuid.is_not(None)
                )
            ).all()
        report = verify(engine)
    finally:
        engine.dispose()
    expected = {cards[n]["uuid"] for n in ("chemo", "metastatic", "hold", "refer")}
    assert {r.uuid for r in rows} == expected
    assert {(r.tenant, r.endpoint) for r in rows} == {(f"{ISS}#clinic-7", "cds-patient-view")}
    assert report.ok, report.problems
