"""A progress bar over the buckets of a running Spark job (the driver only polls task counts)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from serving.batch.validation import BatchError


def run_with_progress(
    spark: Any, action: Callable[[], Any], n_buckets: int, console: Console
) -> Any:
    """Run a Spark action in a thread while a rich bar follows its buckets (tasks) as they end."""
    sc = spark.sparkContext
    group = f"dosewise-score-{os.getpid()}-{time.time_ns()}"
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            sc.setJobGroup(group, "dosewise score", interruptOnCancel=True)
            box["result"] = action()
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
    return box.get("result")
