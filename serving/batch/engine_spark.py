"""The Spark engine of `dosewise score`: the pandas engine's scoring function, run per bucket.

Why it looks the way it does:

* Patients and sessions are hash-partitioned into the same buckets by `patient_id`, then
  `groupBy(bucket).cogroup(...).applyInPandas` hands each Python worker *whole* patients (all
  snapshots, all sessions) as two pandas frames. The worker runs `serving.batch.score_cohort`,
  the very function of the pandas engine; all its steps are per patient, so the rows are the same.
* The cohort is read on the driver by `features.io.read_cohort` (the pandas engine's reader, so
  CSV type inference and date parsing are identical), staged as parquet with dates as ISO text and
  read by Spark. With `--spark-master` on a cluster the staging folder (next to the output file)
  must be on storage the executors can read.
* Results come back to the driver (one small row per patient) and go through the same
  `finalize_scored` and writer as the pandas engine: identical values and float formatting.
* Models: a worker loads the `@champion` models once (module-level cache) from the same registry
  URI, and refuses to score if the versions differ from the ones the driver resolved, so a
  promotion during a job cannot mix versions. Injected models (tests, `--fake`) travel pickled.
* Python workers must run the project's interpreter: PYSPARK_PYTHON / PYSPARK_DRIVER_PYTHON are
  `sys.executable` as is (the venv path; resolving the symlink would escape the venv).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from features.settings import Settings, apply_offline_environment
from serving.batch.core import (
    EXTRA_COLUMNS,
    FLOAT_COLUMNS,
    INT_COLUMNS,
    OUTPUT_COLUMNS,
    ScoreResult,
    score_cohort,
)
from serving.batch.validation import ERROR_COLUMNS, ROW, BatchError, patient_ids

BUCKET = "_dosewise_bucket"
KIND = "_dosewise_kind"
ERR_PREFIX = "_err_"
DATE_COLUMNS = {"patients": ("as_of",), "sessions": ("date",)}

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


# --- Spark session ------------------------------------------------------------------------------
def configure_python_env() -> None:
    """Workers run this interpreter (the venv one, symlink kept) and stay offline."""
    apply_offline_environment()
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")


def spark_session(master: str | None = None, app_name: str = "dosewise-score"):
    """(session, created): reuse an active session (tests share one), else start a small one."""
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
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "4")
        .config("spark.driver.memory", os.environ.get("DOSEWISE_SPARK_DRIVER_MEMORY", "1g"))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.python.worker.reuse", "true")
    )
    if not master or master.startswith("local"):
        builder = builder.config("spark.driver.host", "127.0.0.1").config(
            "spark.driver.bindAddress", "127.0.0.1"
        )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark, True


# --- staging ------------------------------------------------------------------------------------
def _is_missing(v: Any) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def to_arrow(df: pd.DataFrame, date_columns: tuple[str, ...]) -> pa.Table:
    """A Spark-readable Arrow table: dates as ISO text, mixed object columns as text.

    Dates go as text because Spark cannot read pandas' nanosecond parquet timestamps and would
    shift time zones; the worker parses them back exactly as the pandas engine does.
    """
    cols: dict[str, pa.Array] = {}
    for name in df.columns:
        s = df[name]
        if name in date_columns or pd.api.types.is_datetime64_any_dtype(s):
            text = [None if _is_missing(v) else str(v) for v in s.tolist()]
            cols[name] = pa.array(text, type=pa.string())
        elif s.dtype == object:
            vals = [None if _is_missing(v) else v for v in s.tolist()]
            kinds = {type(v) for v in vals if v is not None}
            if kinds <= {bool, np.bool_} and kinds:
                cols[name] = pa.array(vals, type=pa.bool_())
            elif kinds and kinds <= {int, float, np.int64, np.float64}:
                cols[name] = pa.array(vals, type=pa.float64())
            else:  # text (or nothing but nulls)
                cols[name] = pa.array([None if v is None else str(v) for v in vals], pa.string())
        else:
            arr = pa.Array.from_pandas(s)
            cols[name] = arr if not pa.types.is_null(arr.type) else arr.cast(pa.string())
    return pa.table(cols)


def _stage(df: pd.DataFrame, table: str, folder: Path) -> Path:
    path = folder / f"{table}.parquet"
    if "patient_id" in df:  # ids as text on both sides, so both hash to the same bucket
        df = df.assign(patient_id=patient_ids(df["patient_id"]))
    df = df.assign(**{ROW: np.arange(len(df), dtype=np.int64)})
    pq.write_table(to_arrow(df, DATE_COLUMNS[table]), path)
    return path


# --- the per-bucket function --------------------------------------------------------------------
def union_columns() -> list[tuple[str, str]]:
    """(name, Spark type) of the rows a bucket returns: output rows and error rows in one frame."""
    cols: list[tuple[str, str]] = [(KIND, "string")]
    for c in OUTPUT_COLUMNS + EXTRA_COLUMNS:
        kind = "bigint" if c in INT_COLUMNS else "double" if c in FLOAT_COLUMNS else "string"
        cols.append((c, kind))
    cols += [(ERR_PREFIX + c, "string") for c in ERROR_COLUMNS]
    return cols


def to_union(result: ScoreResult) -> pd.DataFrame:
    names = [c for c, _ in union_columns()]
    scored = result.scored.reindex(columns=list(OUTPUT_COLUMNS + EXTRA_COLUMNS))
    for c in INT_COLUMNS:
        scored[c] = pd.to_numeric(scored[c], errors="coerce").astype("Int64")
    scored[KIND] = "row"
    errors = result.errors.reindex(columns=list(ERROR_COLUMNS))
    errors = errors.rename(columns={c: ERR_PREFIX + c for c in ERROR_COLUMNS})
    errors[KIND] = "error"
    return pd.concat([scored, errors], ignore_index=True).reindex(columns=names)


def from_union(df: pd.DataFrame) -> ScoreResult:
    rows = df[df[KIND] == "row"]
    errs = df[df[KIND] == "error"]
    scored = rows[list(OUTPUT_COLUMNS + EXTRA_COLUMNS)].reset_index(drop=True)
    errors = errs[[ERR_PREFIX + c for c in ERROR_COLUMNS]].reset_index(drop=True)
    errors.columns = list(ERROR_COLUMNS)
    return ScoreResult(scored, errors)


def make_bucket_fn(
    as_of: dt.date,
    models_source: Any,
    cfg: Any,
    chunk_size: int,
    patient_columns: list[str],
    session_columns: list[str],
):
    """The function Spark runs per bucket (closure pickled to the workers)."""

    def score_bucket(patients: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
        patients = patients.reindex(columns=patient_columns)
        sessions = sessions.reindex(columns=session_columns)
        if patients.empty:
            return to_union(ScoreResult(pd.DataFrame(), pd.DataFrame()))
        models = worker_models(models_source)
        result = score_cohort(patients, sessions, as_of, models, cfg, chunk_size)
        return to_union(result)

    return score_bucket


# --- the engine ---------------------------------------------------------------------------------
def score_spark(
    patients: pd.DataFrame,
    sessions: pd.DataFrame,
    as_of: dt.date,
    settings: Settings,
    models: Any,
    cfg: Any,
    chunk_size: int,
    master: str | None,
    console: Console,
    staging_parent: Path | None = None,
    injected: bool | None = None,
) -> ScoreResult:
    """Score on Spark; `models` was loaded on the driver (versions pinned for the workers).

    Models from the registry (a RegistryPredictor) are reloaded on the workers from the registry
    URI; any other object (fake models) is shipped pickled.
    """
    from pyspark.sql import functions as F

    from serving.models import RegistryPredictor

    source: Any = models
    if injected is None:
        injected = not isinstance(models.tolerance, RegistryPredictor)
    if not injected:
        source = RegistryModels(
            settings, str(models.tolerance.version), str(models.adherence.version)
        )
    spark, created = spark_session(master)
    parent = Path(staging_parent or tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".dosewise-spark-", dir=parent))
    try:
        p_path = _stage(patients, "patients", staging)
        s_path = _stage(sessions, "sessions", staging)
        n_patients = int(patients["patient_id"].nunique()) if "patient_id" in patients else 0
        parallelism = spark.sparkContext.defaultParallelism
        n_buckets = max(parallelism, math.ceil(n_patients / max(chunk_size, 1)), 1)
        spark.conf.set("spark.sql.shuffle.partitions", str(n_buckets))
        # Null ids hash to the same bucket on both sides, so they are still reported.
        bucket = F.pmod(
            F.xxhash64(F.coalesce(F.col("patient_id").cast("string"), F.lit(""))), F.lit(n_buckets)
        )
        p_df = spark.read.parquet(str(p_path)).withColumn(BUCKET, bucket)
        s_df = spark.read.parquet(str(s_path)).withColumn(BUCKET, bucket)
        fn = make_bucket_fn(
            as_of,
            source,
            cfg,
            chunk_size,
            [c for c in p_df.columns if c != BUCKET],
            [c for c in s_df.columns if c != BUCKET],
        )
        schema = ", ".join(f"`{c}` {t}" for c, t in union_columns())
        out = p_df.groupBy(BUCKET).cogroup(s_df.groupBy(BUCKET)).applyInPandas(fn, schema)
        result_pdf = _collect_with_progress(spark, out, n_buckets, console)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            spark.stop()
    return from_union(result_pdf)


def _collect_with_progress(spark: Any, df: Any, n_buckets: int, console: Console) -> pd.DataFrame:
    """toPandas() in a thread while a rich bar follows the buckets (Spark tasks) as they finish."""
    sc = spark.sparkContext
    group = f"dosewise-score-{os.getpid()}-{time.time_ns()}"
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            sc.setJobGroup(group, "dosewise score", interruptOnCancel=True)
            box["df"] = df.toPandas()
        except BaseException as exc:  # re-raised in the caller's thread
            box["exc"] = exc

    worker = threading.Thread(target=run, daemon=True)
    with Progress(
        TextColumn("[bold]scoring on Spark"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("buckets"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("spark", total=n_buckets)
        worker.start()
        tracker = sc.statusTracker()
        while worker.is_alive():
            worker.join(0.5)
            done = 0
            for job_id in tracker.getJobIdsForGroup(group):
                info = tracker.getJobInfo(job_id)
                for sid in info.stageIds if info else []:
                    stage = tracker.getStageInfo(sid)
                    if stage is not None and stage.numTasks == n_buckets:
                        done = max(done, stage.numCompletedTasks)
            progress.update(task, completed=done)
        progress.update(task, completed=n_buckets)
    if "exc" in box:
        exc = box["exc"]
        raise BatchError(f"Spark job failed: {str(exc).splitlines()[0][:500]}") from exc
    return box["df"]
