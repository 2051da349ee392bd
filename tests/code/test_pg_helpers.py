"""The test suite's PostgreSQL helper (tests/pg.py): a run killed before its cleanup must not
leave its server running for good."""

from __future__ import annotations

import socket
import subprocess

import pytest

from tests.pg import MISSING, OWNER_FILE, PgServer, reap_orphans, server_bindir


def accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_a_killed_runs_server_is_reaped_and_a_live_runs_kept() -> None:
    """A server whose owning test run no longer exists is stopped and its folder deleted on the
    next run; one whose owner still runs (this run's) is left alone."""
    bindir = server_bindir()
    if bindir is None:
        pytest.fail(MISSING, pytrace=False)
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid that no longer runs: the killed run
    orphan = PgServer(bindir).init()
    live = PgServer(bindir).init()
    try:
        orphan.start()
        (orphan.folder / OWNER_FILE).write_text(str(gone.pid))
        assert accepts(orphan.port)
        reaped = reap_orphans(bindir)
        assert orphan.folder in reaped and not orphan.folder.exists()
        assert not accepts(orphan.port)
        assert live.folder not in reaped and live.folder.exists()
    finally:
        orphan.cleanup()
        live.cleanup()
