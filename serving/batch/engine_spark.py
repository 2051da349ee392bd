"""The Spark engine of `dosewise score`: read, validate, score and write in the executors.

Why it looks the way it does:

* Nothing proportional to the cohort passes through the driver. The executors read the cohort
  tables with Spark's readers, score, and write the output as a Spark dataset (parquet or CSV
  parts) plus an errors dataset; the driver only sees counts and the summary.
* Same rows as the pandas engine. Patients and sessions are hash-partitioned into the same
  buckets by `patient_id`; `groupBy(bucket).cogroup(...).applyInPandas` hands each Python worker
  *whole* patients, and the worker runs `serving.batch.core.score_cohort`, the pandas engine's
  validation and scoring (`recommend`, so the guideline kernel) on them. Typing matches too: a
  CSV is read with an explicit all-text schema (the contract's columns, nothing inferred by
  Spark) and each share is typed by the pandas reader itself (`pd.read_csv` +
  `features.io.tidy_csv_table`), as the pandas engine types the whole file; parquet keeps its
  types (pandas' nanosecond timestamps arrive as integers and are converted back).
* Original row numbers (`monotonically_increasing_id` at the read, in file order) break ties
  between same-day snapshots or sessions exactly as the pandas engine's row order does.
* Atomic commit: both datasets are written under a hidden temporary folder next to DIR and
  renamed into place when complete; a failed job leaves no DIR. On a cluster DIR must be on
  storage that the executors and the driver see at the same path.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console

from features.contract.dose import REFERENCE_COLUMNS
from features.contract.tables import PATIENT_ROW_COLUMNS, RX_COLUMNS, SESSION_COLUMNS
from features.io import find_table, tidy_csv_table
from serving.batch.core import (
    EXTRA_COLUMNS,
    FLOAT_COLUMNS,
    INT_COLUMNS,
    OUTPUT_COLUMNS,
    ScoreResult,
    finalize_errors,
    score_cohort,
)
from serving.batch.spark_progress import run_with_progress
from serving.batch.validation import ERROR_COLUMNS, ROW, BatchError, check_columns, dates_of

BUCKET = "_dosewise_bucket"
KIND = "_dosewise_kind"
ERR_PREFIX = "_err_"
DATE_COLUMN = {"patients": "as_of", "sessions": "date"}
# RFC 4180 CSV as pandas reads and writes it (a quote inside a field is doubled, not escaped).
CSV_OPTIONS = {"header": "true", "escape": '"'}
# The columns the pandas engine can look at; anything else in a table is never read.
TABLE_COLUMNS = {
    "patients": ("patient_id", "as_of", *PATIENT_ROW_COLUMNS, *RX_COLUMNS, *REFERENCE_COLUMNS),
    "sessions": ("patient_id", "date", *SESSION_COLUMNS),
}


@dataclass
class SparkRun:
    """What the driver learns: counts and the summary (never the rows)."""

    summary: dict[str, Any]
    guideline_version: str
    sample: pd.DataFrame  # at most `sample_rows` output rows (for --report)
    errors_sample: pd.DataFrame


# --- reading (executors) ------------------------------------------------------------------------
def read_table(spark: Any, folder: Path, name: str) -> tuple[Any, str]:
    """(Spark DataFrame of the table's contract columns + ROW, "csv" | "parquet")."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    path = find_table(Path(folder), name)
    wanted = [c for c in dict.fromkeys(TABLE_COLUMNS[name])]
    if path.suffix == ".parquet":
        df, fmt = spark.read.parquet(str(path)), "parquet"
    else:
        reader = spark.read.options(**CSV_OPTIONS)
        header = reader.csv(str(path)).columns  # the first line only: no type inference
        schema = StructType([StructField(c, StringType(), True) for c in header])
        df = reader.csv(str(path), schema=schema, mode="PERMISSIVE")
        fmt = "csv"
    df = df.select(*[F.col(f"`{c}`") for c in wanted if c in df.columns])
    return df.withColumn(ROW, F.monotonically_increasing_id()), fmt


def typed_like_pandas(df: pd.DataFrame, name: str, fmt: str) -> pd.DataFrame:
    """A share of a table, typed as the pandas engine types the whole table."""
    row = df[ROW].to_numpy() if ROW in df else np.arange(len(df))
    df = df.drop(columns=[ROW], errors="ignore")
    if fmt == "csv":  # the pandas reader's own inference on this share's text
        text = df.to_csv(index=False)
        df = tidy_csv_table(pd.read_csv(io.StringIO(text), keep_default_na=True), name)
    else:
        col = DATE_COLUMN[name]
        if col in df and pd.api.types.is_numeric_dtype(df[col]):  # pandas' ns timestamps, read
            df[col] = pd.to_datetime(df[col], unit="ns")  # as long (float when a share has nulls)
    df[ROW] = row
    return df


# --- the per-bucket function (executors) --------------------------------------------------------
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
    errors = finalize_errors(result.errors).rename(
        columns={c: ERR_PREFIX + c for c in ERROR_COLUMNS}
    )
    errors[KIND] = "error"
    return pd.concat([scored, errors], ignore_index=True).reindex(columns=names)


def make_bucket_fn(as_of: dt.date, source: Any, cfg: Any, chunk_size: int, formats: dict[str, str]):
    """The function Spark runs per bucket (closure pickled to the workers)."""

    def score_bucket(patients: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
        from serving.batch.spark_session import worker_models

        patients = patients.drop(columns=[BUCKET], errors="ignore")
        sessions = sessions.drop(columns=[BUCKET], errors="ignore")
        if patients.empty:
            return to_union(ScoreResult(pd.DataFrame(), pd.DataFrame()))
        p = typed_like_pandas(patients, "patients", formats["patients"])
        s = typed_like_pandas(sessions, "sessions", formats["sessions"])
        result = score_cohort(p, s, as_of, worker_models(source), cfg, chunk_size)
        return to_union(result)

    return score_bucket


def latest_session_day(sessions: Any, fmt: str) -> dt.date | None:
    """The latest session date, computed per partition in the executors (one value each)."""

    def partition_max(frames):  # type: ignore[no-untyped-def]
        latest = pd.NaT
        for df in frames:
            df = typed_like_pandas(df, "sessions", fmt)
            m = dates_of(df["date"]).max() if len(df) else pd.NaT
            if pd.notna(m) and (pd.isna(latest) or m > latest):
                latest = m
        yield pd.DataFrame({"latest": [None if pd.isna(latest) else latest.isoformat()]})

    if "date" not in sessions.columns:
        return None
    values = [
        r["latest"]
        for r in sessions.select("date", ROW).mapInPandas(partition_max, "latest string").collect()
    ]
    values = [pd.Timestamp(v) for v in values if v]
    return (max(values).normalize() + pd.Timedelta(days=1)).date() if values else None


# --- the engine (driver) ------------------------------------------------------------------------
def score_spark(
    cohort: Path,
    out: Path,
    as_of: str | dt.date | None,
    source: Any,
    cfg: Any,
    chunk_size: int,
    master: str | None,
    console: Console,
    sample_rows: int = 20_000,
) -> tuple[SparkRun | None, dt.date]:
    """Score COHORT into the dataset DIR = `out` (+ `DIR.errors`), committed atomically.

    Returns (run, scoring date); run is None when nothing could be scored (then no DIR is
    written and `DIR.errors` holds the reasons).
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from serving.batch.output import errors_path
    from serving.batch.spark_session import spark_session
    from serving.batch.validation import parse_as_of

    spark, created = spark_session(master)
    spark.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")
    tmp = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.tmp"
    union = None
    try:
        p_df, p_fmt = read_table(spark, cohort, "patients")
        s_df, s_fmt = read_table(spark, cohort, "sessions")
        check_columns(pd.DataFrame(columns=p_df.columns), pd.DataFrame(columns=s_df.columns))
        day = parse_as_of(as_of, None) if as_of else latest_session_day(s_df, s_fmt)
        day = day or dt.date.today()
        n_patients = p_df.select("patient_id").distinct().count()
        n_buckets = max(
            spark.sparkContext.defaultParallelism, math.ceil(n_patients / chunk_size), 1
        )
        spark.conf.set("spark.sql.shuffle.partitions", str(n_buckets))
        # Ids as text on both sides (null as ""), so a patient's rows meet in one bucket.
        bucket = F.pmod(
            F.xxhash64(F.coalesce(F.col("patient_id").cast("string"), F.lit(""))), F.lit(n_buckets)
        )
        fn = make_bucket_fn(day, source, cfg, chunk_size, {"patients": p_fmt, "sessions": s_fmt})
        schema = ", ".join(f"`{c}` {t}" for c, t in union_columns())
        union = (
            p_df.withColumn(BUCKET, bucket)
            .groupBy(BUCKET)
            .cogroup(s_df.withColumn(BUCKET, bucket).groupBy(BUCKET))
            .applyInPandas(fn, schema)
            .persist(StorageLevel.DISK_ONLY)
        )
        rows = union.filter(F.col(KIND) == "row")
        errors = union.filter(F.col(KIND) == "error").select(
            *[F.col(ERR_PREFIX + c).alias(c) for c in ERROR_COLUMNS]
        )
        fmt = out.suffix.lower().lstrip(".")
        writer = rows.select(*OUTPUT_COLUMNS).sortWithinPartitions("patient_id").write
        run_with_progress(
            spark,
            lambda: writer.format(fmt).options(**CSV_OPTIONS).save(str(tmp / "rows")),
            n_buckets,
            console,
        )
        errors.coalesce(1).write.options(**CSV_OPTIONS).csv(str(tmp / "errors"))
        run = summarize_spark(rows, errors, sample_rows)
        commit(tmp, out, errors_path(out), scored=run is not None)
    except BatchError:
        raise
    except Exception as exc:  # Py4J / Spark errors: the job as a whole failed
        raise BatchError(f"Spark job failed: {str(exc).splitlines()[0][:500]}") from exc
    finally:
        if union is not None:
            union.unpersist()
        shutil.rmtree(tmp, ignore_errors=True)
        if created:
            spark.stop()
    return run, day


def summarize_spark(rows: Any, errors: Any, sample_rows: int) -> SparkRun | None:
    """Counts computed by Spark: decisions, the most frequent rules, errors; a bounded sample."""
    from pyspark.sql import functions as F

    decisions = {r["decision"]: r["count"] for r in rows.groupBy("decision").count().collect()}
    n = sum(decisions.values())
    if n == 0:
        return None
    rules = (
        rows.select(F.explode(F.from_json("rules", "array<string>")).alias("rule"))
        .groupBy("rule")
        .count()
        .orderBy(F.desc("count"), F.asc("rule"))
        .limit(8)
        .collect()
    )
    err = errors.agg(F.count("*").alias("n"), F.countDistinct("patient_id").alias("p")).first()
    summary = {
        "scored": n,
        "decisions": dict(sorted(decisions.items())),
        "top_rules": [(r["rule"], r["count"]) for r in rules],
        "error_rows": int(err["n"]),
        "error_patients": int(err["p"]),
    }
    sample = rows.limit(sample_rows).toPandas()
    return SparkRun(
        summary=summary,
        guideline_version=str(sample["guideline_version"].iloc[0]),
        sample=sample,
        errors_sample=errors.limit(sample_rows).toPandas(),
    )


def commit(tmp: Path, out: Path, errors_out: Path, scored: bool) -> None:
    """Rename the finished datasets into place (an earlier run's output goes first)."""
    for old in (out, errors_out):
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
    (tmp / "errors").rename(errors_out)
    if scored:
        (tmp / "rows").rename(out)
