"""A real Spark standalone cluster on 127.0.0.1 for the tests: one master and one worker, started
with the locked pyspark's own `bin/spark-class`, every listening port pinned.

Ports come from DOSEWISE_SPARK_TEST_PORTS (default 29400-29499, below Linux's ephemeral range so
that no client socket of a test running beside takes one; free ones picked by binding); the web
UIs are pinned there too. Logs and the worker's folder live in a temp dir.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

PORT_RANGE = os.environ.get("DOSEWISE_SPARK_TEST_PORTS", "29400-29499")


def free_ports(n: int) -> list[int]:
    """n ports of PORT_RANGE that are free on 127.0.0.1 now."""
    lo, hi = (int(x) for x in PORT_RANGE.split("-"))
    found: list[int] = []
    for port in range(lo, hi + 1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
        if len(found) == n:
            return found
    raise RuntimeError(f"fewer than {n} free ports in {PORT_RANGE}")


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


@dataclass
class SparkCluster:
    master_url: str
    ui_url: str
    folder: Path
    driver_conf: dict[str, str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in self.folder.glob("*.log"))

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _env(folder: Path) -> dict[str, str]:
    return os.environ | {
        "SPARK_HOME": str(spark_home()),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(folder),
        "SPARK_WORKER_DIR": str(folder / "work"),
        "PYSPARK_PYTHON": sys.executable,
    }


def _wait(check, what: str, cluster: SparkCluster, timeout: float = 120) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except OSError:
            pass
        for proc in cluster.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{what}: a Spark daemon exited\n{cluster.logs()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: timed out\n{cluster.logs()}")
        time.sleep(0.25)  # polling a starting JVM


def start_cluster(folder: Path, cores: int = 2, memory: str = "1g") -> SparkCluster:
    """Master + one worker; returns once the worker has registered with the master."""
    folder.mkdir(parents=True, exist_ok=True)
    master, master_ui, worker, worker_ui, driver, driver_bm, executor_bm = free_ports(7)
    cls = str(spark_home() / "bin" / "spark-class")
    cluster = SparkCluster(
        master_url=f"spark://127.0.0.1:{master}",
        ui_url=f"http://127.0.0.1:{master_ui}",
        folder=folder,
        driver_conf={
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.driver.port": str(driver),
            "spark.driver.blockManager.port": str(driver_bm),
            "spark.blockManager.port": str(executor_bm),
            "spark.port.maxRetries": "0",
            "spark.ui.enabled": "false",
            "spark.executor.memory": "768m",
        },
    )
    env = _env(folder)
    daemons = (
        ("master", [cls, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                    "--port", str(master), "--webui-port", str(master_ui)]),
        ("worker", [cls, "org.apache.spark.deploy.worker.Worker", cluster.master_url,
                    "--host", "127.0.0.1", "--port", str(worker), "--webui-port", str(worker_ui),
                    "--cores", str(cores), "--memory", memory,
                    "--work-dir", str(folder / "work")]),
    )  # fmt: skip
    try:
        for name, cmd in daemons:
            log = open(folder / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
            cluster.procs.append(
                subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
            )
            if name == "master":
                _wait(lambda: _accepts(master), "master", cluster)
        _wait(lambda: _alive_workers(cluster.ui_url) >= 1, "worker registration", cluster)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _accepts(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def _alive_workers(ui_url: str) -> int:
    with urllib.request.urlopen(f"{ui_url}/json/", timeout=2) as resp:
        return int(json.load(resp).get("aliveworkers", 0))
