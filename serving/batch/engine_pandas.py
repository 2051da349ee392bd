"""The pandas engine of `dosewise score`: one machine, chunks of patients, a progress bar."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from serving.batch.core import ScoreResult, score_cohort
from serving.batch.validation import patient_ids


def score_pandas(
    patients: pd.DataFrame,
    sessions: pd.DataFrame,
    as_of: dt.date,
    models: Any,
    cfg: Any,
    chunk_size: int,
    console: Console,
) -> ScoreResult:
    """The pandas engine: one process, chunks of `chunk_size` patients, a progress bar."""
    n = int(patient_ids(patients["patient_id"]).nunique()) if "patient_id" in patients else 0
    with Progress(
        TextColumn("[bold]scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("patients"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("score", total=max(n, 1))
        result = score_cohort(
            patients,
            sessions,
            as_of,
            models,
            cfg,
            chunk_size,
            on_chunk=lambda k: progress.advance(task, k),
        )
        progress.update(task, completed=max(n, 1))
    return result
