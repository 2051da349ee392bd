"""`dosewise score`: the CLI-facing job (arguments, models, engine, atomic commit, resume).

Exit codes: 0 = written (maybe with row errors), 1 = nothing scorable (every patient invalid, a
required column missing, a table unreadable or ending mid-record; FILE.errors names the table),
2 = job error (arguments, no champion, output folder not writable: checked before scoring, a
failed Spark job). After 1 or 2 no FILE (or DIR) is left, not even one from an earlier run.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from features.io import TableReadError, find_table, read_cohort, write_atomic
from features.settings import Settings
from serving.batch.checkpoint import Checkpoint, checkpoint_dir, run_key
from serving.batch.compiled import compiled_models
from serving.batch.core import (
    ENGINES,
    OUTPUT_COLUMNS,
    OUTPUT_SUFFIXES,
    finalize_errors,
    finalize_scored,
    policy_config,
)
from serving.batch.engine_pandas import (
    default_jobs,
    finish_warm_up,
    score_pandas,
    start_warm_up,
)
from serving.batch.output import (
    check_output_writable,
    errors_path,
    fail_cleanly,
    print_summary,
    summarize,
    write_table,
)
from serving.batch.validation import (
    BATCH_PATIENTS_SCHEMA,
    ROW,
    SESSIONS_SCHEMA,
    BatchError,
    check_columns,
    parse_as_of,
    table_error,
)


def run_score(
    settings: Settings,
    cohort: Path,
    out: Path,
    engine: str = "pandas",
    as_of: str | dt.date | None = None,
    chunk_size: int = 5000,
    spark_master: str | None = None,
    report: Path | None = None,
    console: Console | None = None,
    models: Any = None,
    cfg: Any = None,
    jobs: int | None = None,
    resume: bool = False,
    compiled: bool | None = None,
) -> int:
    """`dosewise score` (exit codes in the module docstring).

    `models` injects ready models (tests, benchmarks); by default the `@champion` models are loaded
    from the registry and a missing champion is exit code 2, never a guess. `jobs` worker
    processes for the pandas engine (default: all cores); `resume` reuses the chunks a killed run
    checkpointed next to FILE. With `engine="spark"`, `out` is a dataset folder written by Spark.
    `compiled`: the pandas engine's compiled trees (`serving.batch.compiled`; None = when cached
    or for a large cohort, True = always, False = never); the same probabilities either way.
    """
    console = console or Console(stderr=True)
    out = Path(out)
    t0 = time.perf_counter()
    try:
        if engine not in ENGINES:
            raise BatchError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        if out.suffix.lower() not in OUTPUT_SUFFIXES:
            raise BatchError(f"--out must end in .parquet or .csv, not {out.name!r}")
        if chunk_size < 1:
            raise BatchError("--chunk-size must be at least 1")
        if jobs is not None and jobs < 1:
            raise BatchError("--jobs must be at least 1")
        if resume and engine != "pandas":
            raise BatchError("--resume works with the pandas engine (Spark retries failed tasks)")
        if isinstance(as_of, str) and as_of:
            as_of = parse_as_of(as_of, None)
        check_output_writable(out)
        cfg = cfg if cfg is not None else policy_config(settings)
        models = models if models is not None else load_models(settings)
        if engine == "spark":
            return run_spark(settings, Path(cohort), out, as_of, models, cfg, chunk_size,
                             spark_master, report, console, t0)  # fmt: skip
        start_warm_up()
        try:
            patients, sessions = read_cohort(Path(cohort), *read_columns(), categorical=ID)
        except FileNotFoundError as exc:
            raise BatchError(str(exc)) from exc
        except TableReadError as exc:
            raise BatchError(
                str(exc), exit_code=1, errors=table_error(exc.table, "", exc.reason)
            ) from None
        check_columns(patients, sessions)
        day = parse_as_of(as_of, sessions)
        finish_warm_up()  # no thread running while the models may compile in forked processes
        n_ids = patients["patient_id"].nunique()
        models = compiled_models(models, settings, n_ids, compiled, console.print)
        checkpoint = Checkpoint(
            checkpoint_dir(out), run_key(Path(cohort), day, chunk_size, models, cfg)
        )
        note = checkpoint.open(resume)
        if note:
            console.print(note)
        result = score_pandas(patients, sessions, day, models, cfg, chunk_size, console,
                              jobs=jobs or default_jobs(), checkpoint=checkpoint)  # fmt: skip
        scored = finalize_scored(result.scored, keep_extra=True)
        errors = finalize_errors(result.errors)
        write_atomic(errors_path(out), lambda tmp: errors.to_csv(tmp, index=False))
        if not scored.empty:
            write_table(scored[list(OUTPUT_COLUMNS)], out)
        checkpoint.remove()  # FILE is committed (or nothing was scorable): nothing to resume
    except BatchError as exc:
        console.print(f"[red]error:[/] {exc}")
        fail_cleanly(out, exc)
        return exc.exit_code
    if scored.empty:
        return nothing_scored(out, len(errors), console)
    summary = summarize(scored, errors)
    guideline = scored["guideline_version"].iloc[0]
    meta = run_meta(day, "pandas", t0, len(scored), models, guideline, out)
    return finish(summary, meta, scored, errors, report, console)


# Read as a categorical from parquet: millions of id cells cost one Python string per distinct id
# in the parent (which works alone); each worker makes its chunk's ids plain text again.
ID = ("patient_id",)


def read_columns() -> tuple[set[str], set[str]]:
    """The columns scoring reads of each table: the schemas' (rx_* and ref_* included) and the
    row numbers; any other column is never read (it could not change a recommendation)."""
    return (
        {*BATCH_PATIENTS_SCHEMA.columns, ROW},
        {*SESSIONS_SCHEMA.columns, ROW},
    )


def load_models(settings: Settings) -> Any:
    """The `@champion` models; none is a job error (exit 2), never a guess."""
    from serving.models import ModelUnavailableError, load_champions

    try:
        return load_champions(settings)
    except ModelUnavailableError as exc:
        raise BatchError(
            f"No champion model in the registry ({exc}). Train and promote first "
            "(`dosewise train`); batch scoring never guesses without a model."
        ) from exc


def run_spark(
    settings: Settings,
    cohort: Path,
    out: Path,
    as_of: dt.date | None,
    models: Any,
    cfg: Any,
    chunk_size: int,
    master: str | None,
    report: Path | None,
    console: Console,
    t0: float,
) -> int:
    """The Spark engine: the executors read, score and write DIR; the driver gets counts."""
    from serving.batch.engine_spark import score_spark
    from serving.batch.spark_session import models_source

    try:
        find_table(cohort, "patients"), find_table(cohort, "sessions")
    except FileNotFoundError as exc:
        raise BatchError(str(exc)) from exc
    run, day = score_spark(cohort, out, as_of, models_source(models, settings), cfg, chunk_size,
                           master, console)  # fmt: skip
    if run is None:
        return nothing_scored(out, None, console)
    meta = run_meta(day, "spark", t0, run.summary["scored"], models, run.guideline_version, out)
    sample = finalize_scored(run.sample, keep_extra=True)
    return finish(run.summary, meta, sample, run.errors_sample, report, console)


def run_meta(
    day: dt.date, engine: str, t0: float, n: int, models: Any, guideline: str, out: Path
) -> dict[str, Any]:
    seconds = time.perf_counter() - t0
    return {
        "as_of": day.isoformat(),
        "engine": engine,
        "seconds": seconds,
        "per_second": n / seconds if seconds > 0 else 0.0,
        "models": f"{models.tolerance.name} v{models.tolerance.version}, "
        f"{models.adherence.name} v{models.adherence.version}",
        "guideline_version": guideline,
        "errors_file": str(errors_path(out)),
        "out": str(out),
    }


def nothing_scored(out: Path, n_errors: int | None, console: Console) -> int:
    counted = f"{n_errors:,} invalid rows, " if n_errors is not None else ""
    console.print(
        f"[red]Nothing could be scored[/]: {counted}see {errors_path(out)}; {out} not written."
    )
    fail_cleanly(out, None)
    return 1


def finish(
    summary: dict[str, Any],
    meta: dict[str, Any],
    scored: pd.DataFrame,
    errors: pd.DataFrame,
    report: Path | None,
    console: Console,
) -> int:
    """Summary, and the HTML report (from `scored`: all rows, or Spark's bounded sample)."""
    print_summary(summary, meta, console)
    console.print(f"[green]wrote[/] {meta['out']}")
    if report is not None:
        from serving.report import write_report

        write_report(Path(report), scored, errors, summary, meta)
        console.print(f"[green]wrote[/] {report}")
    return 0
