"""`dosewise serve`: run the real `bentoml serve serving.service:Dosewise` with Dosewise defaults.

Why a child process running BentoML's own CLI: the service is then started exactly as BentoML
documents it (`bentoml serve <module>:<Service>`), with BentoML's arbiter, sockets and graceful
shutdown, and BentoML's global configuration never leaks into the `dosewise` process.

Defaults for the 2-core target (benchmarks/serve.py; figures in the README, "Workers and threads"):
* workers: 2 (one per core). A request is CPU-bound numpy/LightGBM work under the GIL, so a
  second process is what uses the second core; threads inside a worker only add GIL contention.
* threads: 1 per worker for the CPU work; the event loop keeps accepting, parsing and answering
  probes while it runs, and the audit writer has its own thread.
* httptools + uvloop (declared dependencies): uvicorn, under BentoML, picks them up by itself
  ("auto"); they cut the HTTP and event-loop cost per request by roughly a quarter (README).
* BENTOML_HOME: a fresh temporary folder per launch (removed at exit), so two servers never share
  (and wipe) each other's Prometheus multiprocess folder.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import FrameType

from features.settings import OFFLINE_ENVIRONMENT, PROJECT_ROOT, get_settings
from serving.auth import generate_key

SERVICE = "serving.service:Dosewise"
DEFAULT_WORKERS = 2
DEFAULT_THREADS = 1


def server_command(host: str, port: int) -> list[str]:
    """The exact BentoML command line `dosewise serve` runs."""
    return [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        SERVICE,
        "--host",
        host,
        "--port",
        str(port),
        "--working-dir",
        str(PROJECT_ROOT),
    ]


def server_environment(
    workers: int | None = None, threads: int | None = None, bentoml_home: str | None = None
) -> dict[str, str]:
    """The child's environment: offline switches, worker/thread counts, an own BENTOML_HOME."""
    env = dict(os.environ)
    for key, value in OFFLINE_ENVIRONMENT.items():
        env.setdefault(key, value)
    env["DOSEWISE_SERVE_WORKERS"] = str(
        workers or int(env.get("DOSEWISE_SERVE_WORKERS", DEFAULT_WORKERS))
    )
    env["DOSEWISE_SERVE_THREADS"] = str(
        threads or int(env.get("DOSEWISE_SERVE_THREADS", DEFAULT_THREADS))
    )
    # tiny LightGBM predictions gain nothing from OpenMP threads; with one worker per core more
    # threads would only oversubscribe the CPUs
    env.setdefault("OMP_NUM_THREADS", "1")
    if bentoml_home is not None:
        env["BENTOML_HOME"] = bentoml_home
    pythonpath = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), pythonpath) if p)
    return env


def serve_forever(
    host: str,
    port: int,
    workers: int | None = None,
    threads: int | None = None,
    generate_missing_key: bool = True,
) -> int:
    """Run the service in the foreground until interrupted; returns BentoML's exit status.

    With no API key configured and `generate_missing_key`, a random key is made for this run and
    printed once to stderr (local use); otherwise the service refuses every protected call.
    """
    settings = get_settings()
    env_home = os.environ.get("BENTOML_HOME")
    home = env_home or tempfile.mkdtemp(prefix="dosewise-bentoml-")
    env = server_environment(workers, threads, None if env_home else home)
    if not settings.api_key_list():
        if generate_missing_key:
            key = generate_key()
            env["DOSEWISE_API_KEYS"] = key
            print(
                "No API key configured (DOSEWISE_API_KEYS). Generated one for this run only:\n"
                f"  Authorization: Bearer {key}",
                file=sys.stderr,
                flush=True,
            )
        else:
            print(
                "No API key configured (DOSEWISE_API_KEYS): every protected call will get 401.",
                file=sys.stderr,
                flush=True,
            )
    # no registry preparation: serving never creates or migrates the registry (issue #17); a
    # missing one is `model_unavailable` until training makes it
    child = subprocess.Popen(server_command(host, port), env=env, cwd=str(PROJECT_ROOT))

    def forward(signum: int, _frame: FrameType | None) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:  # pragma: no cover - the handler above forwards instead
                forward(signal.SIGINT, None)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if not env_home:
            shutil.rmtree(Path(home), ignore_errors=True)


# ------------------------------------------------------------------------------------------------
# helpers for tests and benchmarks: a real `dosewise serve` in a child process
# ------------------------------------------------------------------------------------------------
def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` right now."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


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
            cwd=str(PROJECT_ROOT),
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
