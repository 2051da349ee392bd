"""Issue #15 item 5: a real `dosewise serve` with two workers writing its audit trail to a real
PostgreSQL server (`DOSEWISE_AUDIT_DB_URL`), and that server restarting mid-run.

What must hold: 200 concurrent responses -> exactly 200 audit rows (and 200 monitoring rows), from
both workers; while PostgreSQL is down /readyz and /recommend answer 503 (`audit_unavailable`,
never a 500, never an answer without its row); once it is back the service recovers by itself (no
restart); at the end rows == 200 responses and `dosewise audit verify` is clean.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import distinct, func, select
from typer.testing import CliRunner

from dosewise_cli import app
from serving.audit import audit_log, make_engine
from serving.monitoring import monitoring_log
from tests.faults.conftest import AUTH, BODY, Load, Server, finish, start_server
from tests.pg import PgServer

pytestmark = pytest.mark.integration


def scalar(url: str, query) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


def wait_for_200s(server: Server, more_than: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while server.tally[200] <= more_than and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.tally[200] > more_than, dict(server.tally)


def wait_for_writers(server: Server, url: str, want: int, timeout: float = 180.0) -> int:
    """Post /recommend (4 at a time) until `want` workers have written audit rows; the number
    of 200s it took. Fails, naming what it saw, when the workers never all answer."""
    writers_of = select(func.count(distinct(audit_log.c.writer_id)))
    deadline = time.monotonic() + timeout
    with ThreadPoolExecutor(4) as pool:
        while scalar(url, writers_of) < want and time.monotonic() < deadline:
            assert set(pool.map(lambda _: server.recommend(), range(4))) == {200}, server.tail()
    assert scalar(url, writers_of) == want, (dict(server.tally), server.tail())
    return server.tally[200]


def test_two_workers_on_postgresql_and_a_server_restart(
    tmp_path: Path, template_registry: Path, pg_server: PgServer
) -> None:
    url = pg_server.create_database()
    server = start_server(tmp_path, template_registry, audit_url=url, workers=2)
    try:
        # /readyz answers once ONE worker is up; on a slow machine the other may still be loading
        # the models and every request lands on the first (CI stop 26). Wait until both write.
        warm = wait_for_writers(server, url, 2)
        # --- two workers writing concurrently: 200 responses -> 200 rows -----------------------
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: server.recommend(), range(200)))
        assert statuses == [200] * 200, server.tail()
        written = server.audit_rows(), scalar(url, select(func.count()).select_from(monitoring_log))
        writers = scalar(url, select(func.count(distinct(audit_log.c.writer_id))))
        assert written == (warm + 200, warm + 200) and writers == 2, (written, warm, writers)
        print(
            f"\npostgres concurrency: {warm} warm-up + {statuses.count(200)} responses 200 -> "
            f"{written[0]} audit "
            f"rows, {written[1]} monitoring rows, from {writers} workers"
        )

        # --- PostgreSQL restarts under load -------------------------------------------------------
        with Load(server, threads=2):
            wait_for_200s(server, server.tally[200] + 10)
            pg_server.stop()
            assert server.settled(ready=False), server.tail()  # /readyz 503 and /recommend 503
            down = httpx.post(server.base + "/recommend", json=BODY, headers=AUTH, timeout=30)
            assert down.status_code == 503 and down.json() == {"error": "audit_unavailable"}
            pg_server.start()
            assert server.settled(ready=True, timeout=60), server.tail()  # no service restart
            wait_for_200s(server, server.tally[200] + 20)
        assert server.tally[503] > 0
    finally:
        if not pg_server.running():
            pg_server.start()
    finish(server)  # graceful stop; rows == 200 responses; chain verifies; never a 500
    rows = server.audit_rows()
    assert scalar(url, select(func.count()).select_from(monitoring_log)) == rows
    result = CliRunner().invoke(app, ["audit", "verify", "--db-url", url])
    assert result.exit_code == 0 and f"{rows} rows" in result.output, result.output
    tally = dict(server.tally)
    print(f"\npostgres service: {server.tally[200]} responses 200, {rows} rows, {tally}")
