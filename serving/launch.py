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

from features.settings import OFFLINE_ENVIRONMENT, get_settings
from serving.auth import generate_key

SERVICE = "serving.service:Dosewise"
# Where the packages are importable from (a source checkout or site-packages): BentoML's working
# directory for `serving.service`. Code only; every data path comes from the settings.
CODE_ROOT = Path(__file__).resolve().parents[1]


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
        str(CODE_ROOT),
    ]


def server_environment(
    workers: int | None = None, threads: int | None = None, bentoml_home: str | None = None
) -> dict[str, str]:
    """The child's environment: offline switches, worker/thread counts (the settings' unless
    given; the child reads them back through its own settings), an own BENTOML_HOME."""
    settings = get_settings()
    env = dict(os.environ)
    for key, value in OFFLINE_ENVIRONMENT.items():
        env.setdefault(key, value)
    env["DOSEWISE_SERVE_WORKERS"] = str(workers or settings.serve_workers)
    env["DOSEWISE_SERVE_THREADS"] = str(threads or settings.serve_threads)
    # tiny LightGBM predictions gain nothing from OpenMP threads; with one worker per core more
    # threads would only oversubscribe the CPUs
    env.setdefault("OMP_NUM_THREADS", "1")
    if bentoml_home is not None:
        env["BENTOML_HOME"] = bentoml_home
    pythonpath = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(CODE_ROOT), pythonpath) if p)
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
    child = subprocess.Popen(server_command(host, port), env=env, cwd=str(CODE_ROOT))

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
