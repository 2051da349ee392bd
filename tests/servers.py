"""Test and benchmark helpers: a real `dosewise serve` in a child process (its own process
group), waiting for it to answer, stopping it gracefully; a free TCP port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from features.settings import OFFLINE_ENVIRONMENT

REPO = Path(__file__).resolve().parents[1]


# Below Linux's ephemeral range (32768-60999): a client socket of a test running beside it
# (pytest-xdist) never takes a port between its pick and the server's bind.
SERVER_PORTS = range(27000, 29000)


def free_port(host: str = "127.0.0.1", ports: range = SERVER_PORTS) -> int:
    """A TCP port of `ports` free on `host` right now (tried in random order)."""
    import random
    import socket

    order = list(ports)
    random.SystemRandom().shuffle(order)  # never a seeded order two workers would share
    for port in order:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1}")


def spawn_server(
    port: int,
    env: dict[str, str] | None = None,
    host: str = "127.0.0.1",
    workers: int | None = None,
    log_path: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start `dosewise serve` (the real CLI) in its own process group; stop it with
    `stop_server`. `env` is added to this process's environment (e.g. DOSEWISE_ROOT)."""
    exe = Path(sys.executable).with_name("dosewise")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "dosewise_cli"]
    cmd += ["serve", "--host", host, "--port", str(port)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    out = open(log_path, "ab") if log_path is not None else subprocess.DEVNULL  # noqa: SIM115
    try:
        return subprocess.Popen(
            cmd,
            env={**os.environ, **OFFLINE_ENVIRONMENT, **(env or {})},
            cwd=str(REPO),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        if log_path is not None:
            out.close()  # type: ignore[union-attr]


def wait_for(url: str, status: int = 200, timeout: float = 90.0, interval: float = 0.2) -> bool:
    """Poll `url` until it answers `status` (True) or `timeout` passes (False)."""
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=5).status_code == status:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(interval)
    return False


def stop_server(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> int:
    """SIGTERM (graceful: workers flush the audit trail), then SIGKILL the group if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            return proc.wait(10)
    return int(proc.returncode)
