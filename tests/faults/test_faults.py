"""Issue #17: faults injected into a real `dosewise serve` under a small load (tests/faults/
conftest.py). Each scenario checks `/readyz` against what `/recommend` actually gets at every
step, and ends with audit rows == 200 responses and a clean `dosewise audit verify`."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.conftest import Load, Server, finish, kill_worker, start_server

pytestmark = pytest.mark.integration


def test_worker_killed_under_load(running: Server) -> None:
    assert running.settled(ready=True)
    with Load(running):
        time.sleep(1.5)
        old = kill_worker(running)
        time.sleep(0.5)
        assert running.settled(ready=True, timeout=120), running.tail()
        assert old not in running.worker_pids()
        time.sleep(1.0)
    finish(running, exact=False)


def test_sigterm_under_load(running: Server) -> None:
    assert running.settled(ready=True)
    with Load(running):
        time.sleep(1.5)
        running.proc.send_signal(signal.SIGTERM)
        running.proc.wait(60)
        time.sleep(0.3)  # the clients see the server gone
    finish(running)  # every request answered 200 before the stop has its row, no more


def test_registry_moved_away_and_back(running: Server) -> None:
    db = running.root / "mlruns" / "mlflow.db"
    away = db.with_name("mlflow.db.away")
    assert running.settled(ready=True)
    with Load(running):
        time.sleep(1.0)
        db.rename(away)
        time.sleep(1.5)  # several reload intervals: models in memory keep serving, truthfully
    assert running.settled(ready=True)
    kill_worker(running)  # a fresh worker cannot load models now: it must say so
    assert running.settled(ready=False, timeout=120), running.tail()
    with Load(running):
        time.sleep(1.0)
    assert not db.exists()  # nothing created or migrated in its place
    assert running.settled(ready=False)
    away.rename(db)
    assert running.settled(ready=True, timeout=30), running.tail()
    with Load(running):
        time.sleep(1.0)
    assert running.tally[503] > 0
    finish(running)


# --- audit storage full -------------------------------------------------------------------------
@contextlib.contextmanager
def small_tmpfs(path: Path, size: str = "16m") -> Iterator[Path]:
    """A tmpfs of `size` at `path` (needs root: how a full audit disk is made for real)."""
    path.mkdir(parents=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root (CAP_SYS_ADMIN); not available here")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(folder: Path) -> Path:
    """Write a file until the file system is full; returns it (delete it to free the space)."""
    filler = folder / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_audit_storage_full_and_back(tmp_path: Path, template_registry: Path) -> None:
    with small_tmpfs(tmp_path / "auditfs") as fs:
        url = f"sqlite:///{fs / 'audit.db'}"
        server = start_server(tmp_path / "root", template_registry, audit_url=url)
        try:
            assert server.settled(ready=True)
            with Load(server):
                time.sleep(1.0)
                filler = fill(fs)
                deadline = time.monotonic() + 60
                while server.readyz() != 503 and time.monotonic() < deadline:
                    time.sleep(0.1)
            assert server.settled(ready=False), server.tail()  # 503 audit_unavailable, not ready
            assert server.tally[503] > 0
            time.sleep(2 * 0.5)
            assert server.settled(ready=False)  # heartbeats keep it honest while full
            os.remove(filler)
            assert server.settled(ready=True, timeout=30), server.tail()
            with Load(server):
                time.sleep(1.0)
            finish(server)
        finally:
            server.proc.poll() is None and server.proc.send_signal(signal.SIGKILL)
