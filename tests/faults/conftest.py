"""Fault injection against a real `dosewise serve` (issue #17): shared machinery.

Each scenario starts the real CLI on a free 127.0.0.1 port with ONE worker (so `/readyz` and
`/recommend` are answered by the same process and can be compared), a copy of a tiny registry
trained once per session, a model reload interval of 0.5 s, and a small bounded load (2 client
threads). Every scenario ends the same way: the server stopped, audit rows == 200 responses (or,
when a worker is SIGKILLed mid-request, the difference bounded by the requests cut off), and
`dosewise audit verify` clean.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from features.settings import PROJECT_ROOT, Settings
from serving.audit import audit_log, make_engine
from serving.audit_verify import verify
from tests.servers import free_port, spawn_server, stop_server, wait_for

KEY = "fault-key-17"
AUTH = {"Authorization": f"Bearer {KEY}"}
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BODY = json.loads((FIXTURES / "recommend-request.json").read_text())
RELOAD_S = 0.5


@dataclass
class Server:
    root: Path
    base: str
    proc: subprocess.Popen[bytes]
    log: Path
    audit_url: str
    tally: Counter[int | str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, status: int | str) -> None:
        with self.lock:
            self.tally[status] += 1

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def recommend(self, client: httpx.Client | None = None) -> int | str:
        """One POST /recommend, counted by status ('cut' when the connection failed)."""
        try:
            if client is None:
                status: int | str = httpx.post(
                    self.base + "/recommend", json=BODY, headers=AUTH, timeout=30
                ).status_code
            else:
                status = client.post("/recommend", json=BODY, headers=AUTH).status_code
        except httpx.HTTPError:
            status = "cut"
        self.count(status)
        return status

    def readyz(self) -> int | str:
        try:
            return httpx.get(self.base + "/readyz", timeout=10).status_code
        except httpx.HTTPError:
            return "cut"

    def worker_pids(self) -> list[int]:
        import psutil

        try:
            procs = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        return [p.pid for p in procs if "_bentoml_impl.worker" in " ".join(p.cmdline())]

    def settled(self, ready: bool, timeout: float = 30.0, streak: int = 3) -> bool:
        """Wait until /readyz and /recommend agree `streak` times in a row: 200 and 200 when
        `ready`, 503 and 503 otherwise (readiness tells the truth about what requests get)."""
        want = 200 if ready else 503
        run, deadline = 0, time.monotonic() + timeout
        while run < streak and time.monotonic() < deadline:
            pair = (self.readyz(), self.recommend())
            run = run + 1 if pair == (want, want) else 0
            if run < streak:
                time.sleep(0.1)
        return run >= streak

    def audit_rows(self) -> int:
        engine = make_engine(self.audit_url)
        try:
            with engine.connect() as conn:
                return int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())
        finally:
            engine.dispose()

    def verify_audit(self) -> list[str]:
        engine = make_engine(self.audit_url)
        try:
            return verify(engine).problems
        finally:
            engine.dispose()


class Load:
    """`threads` clients posting /recommend back to back until stopped (bounded, loopback)."""

    def __init__(self, server: Server, threads: int = 2) -> None:
        self.server = server
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(base_url=self.server.base, timeout=30) as client:
            while not self.stop.is_set():
                if self.server.recommend(client) == "cut":
                    time.sleep(0.05)

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)


def start_server(
    root: Path, registry: Path, audit_url: str | None = None, workers: int = 1
) -> Server:
    """A real `dosewise serve` with a copy of `registry`, ready (every check passing)."""
    shutil.copytree(registry, root / "mlruns")
    port = free_port()
    log = root / "server.log"
    env = {
        "DOSEWISE_ROOT": str(root),
        "DOSEWISE_API_KEYS": KEY,
        "DOSEWISE_MODEL_RELOAD_SECONDS": str(RELOAD_S),
    }
    if audit_url is not None:
        env["DOSEWISE_AUDIT_DB_URL"] = audit_url
    url = audit_url or Settings(root=root).audit_db_url
    assert url is not None
    proc = spawn_server(port, env, workers=workers, log_path=log)
    server = Server(root, f"http://127.0.0.1:{port}", proc, log, url)
    if not wait_for(server.base + "/readyz", timeout=180):
        stop_server(proc)
        raise AssertionError("server never became ready:\n" + server.tail())
    return server


@pytest.fixture()
def running(tmp_path: Path, template_registry: Path) -> Iterator[Server]:
    server = start_server(tmp_path, template_registry)
    try:
        yield server
    finally:
        stop_server(server.proc)


def finish(server: Server, exact: bool = True) -> None:
    """Stop gracefully (exit 0), then: every 200 has its audit row (exactly one row per 200 when
    `exact`), never a 500, and the audit chain verifies."""
    code = stop_server(server.proc)
    assert code == 0, server.tail()
    rows, ok = server.audit_rows(), server.tally[200]
    assert ok > 0 and set(server.tally) <= {200, 503, "cut"}, dict(server.tally)  # never a 500
    if exact:
        assert rows == ok, (rows, dict(server.tally))
    else:  # a SIGKILL can land after a commit and before the answer: only cut requests differ
        assert ok <= rows <= ok + server.tally["cut"], (rows, dict(server.tally))
    assert server.verify_audit() == []
    assert "Traceback" not in server.tail()
    # the server runs in the project folder: MLflow made no folder there (a `file:` URI once did)
    assert not (PROJECT_ROOT / "file:").exists()


def kill_worker(server: Server) -> int:
    """SIGKILL the (only) worker; BentoML's arbiter starts a new one."""
    pids = server.worker_pids()
    assert pids, server.tail()
    import os

    os.kill(pids[0], signal.SIGKILL)
    return pids[0]
