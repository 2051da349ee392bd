"""The Spark side of batch scoring that is not scoring: the session and the workers' models.

Why: Python workers must run the project's interpreter (PYSPARK_PYTHON is `sys.executable` as
is: the venv path; resolving the symlink would escape the venv) and stay offline; each worker
process loads the `@champion` models once (module-level cache), pinned to the versions the
driver resolved, so a promotion during a job cannot mix versions. Ports, memory and other
cluster settings come from Spark's own configuration (`SPARK_CONF_DIR/spark-defaults.conf`,
`spark-submit --conf`), never from code.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

from features.settings import Settings, apply_offline_environment

# Worker-side model cache: one load per Python worker process (workers are reused across tasks).
_MODELS: dict[tuple[str, ...], Any] = {}


@dataclass(frozen=True)
class RegistryModels:
    """How a worker finds the champions: the settings (registry URI) and the pinned versions."""

    settings: Settings
    tolerance_version: str
    adherence_version: str

    def key(self) -> tuple[str, ...]:
        s = self.settings
        return (
            str(s.mlflow_tracking_uri),
            s.tolerance_model_name,
            s.adherence_model_name,
            s.champion_alias,
            self.tolerance_version,
            self.adherence_version,
        )


def worker_models(source: Any) -> Any:
    """Models on a worker: loaded from the registry once per process, or the injected object."""
    if not isinstance(source, RegistryModels):
        return source
    key = source.key()
    if key not in _MODELS:
        from serving.models import load_champions

        models = load_champions(source.settings)
        got = (str(models.tolerance.version), str(models.adherence.version))
        if got != (source.tolerance_version, source.adherence_version):
            raise RuntimeError(
                f"champion changed during the job: driver saw {key[-2:]}, worker loaded {got}"
            )
        _MODELS[key] = models
    return _MODELS[key]


def models_source(models: Any, settings: Settings) -> Any:
    """What travels to the workers: registry coordinates for registry models (reloaded there),
    the object itself for anything else (fake models of the tests, pickled)."""
    from serving.models import RegistryPredictor

    if not isinstance(models.tolerance, RegistryPredictor):
        return models
    return RegistryModels(settings, str(models.tolerance.version), str(models.adherence.version))


def configure_python_env() -> None:
    """Workers run this interpreter (the venv one, symlink kept) and stay offline."""
    apply_offline_environment()
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")


def spark_session(
    master: str | None = None, app_name: str = "dosewise-score", conf: dict[str, str] | None = None
) -> tuple[Any, bool]:
    """(session, created): reuse an active session (tests share one), else start a small one;
    `conf` adds Spark settings (the tests pin ports with it)."""
    configure_python_env()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    builder = (
        SparkSession.builder.appName(app_name)
        .master(master or "local[*]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", Settings().spark_driver_memory)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.python.worker.reuse", "true")
        # pandas writes nanosecond timestamps; Spark reads them as integers (ns since epoch)
        .config("spark.sql.legacy.parquet.nanosAsLong", "true")
        .config("spark.executorEnv.PYSPARK_PYTHON", sys.executable)
    )
    if not master or master.startswith("local"):
        builder = builder.config("spark.driver.host", "127.0.0.1").config(
            "spark.driver.bindAddress", "127.0.0.1"
        )
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark, True
