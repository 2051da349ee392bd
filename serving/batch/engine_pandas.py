"""The pandas engine of `dosewise score`: one machine, every core, chunks of patients.

Why it looks the way it does: validation and point-in-time selection are vectorised and run once
(`prepare_cohort`); the chunks of patients are then scored by `--jobs` worker processes. Workers
are forked after the models are loaded, so each holds the models once and reads the prepared
cohort copy-on-write (nothing pickled but chunk numbers in and output rows out). Chunks are
contiguous ranges of the patients sorted by id and the output is sorted by id, so the bytes
written do not depend on `--jobs`. Each finished chunk can be checkpointed (`--resume`).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import datetime as dt
import multiprocessing
import os
import signal
import sys
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from serving.batch.checkpoint import Checkpoint
from serving.batch.core import (
    PreparedCohort,
    ScoreResult,
    concat_scored,
    prepare_cohort,
    score_range,
)
from serving.batch.validation import BatchError

# What forked workers inherit: (prepared cohort, as_of, models, cfg). Set only around a pool.
_SHARED: dict[str, Any] = {}


def default_jobs() -> int:
    """All the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _die_with_parent() -> None:
    """Worker initializer: a killed job must not leave its workers behind (Linux prctl)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != _SHARED.get("parent"):  # the parent died before prctl
            os._exit(1)


def _score_shared(start: int, stop: int) -> pd.DataFrame:
    """Worker side: score a range of the inherited prepared cohort."""
    s = _SHARED
    return score_range(s["prep"], start, stop, s["as_of"], s["models"], s["cfg"])


def score_pandas(
    patients: pd.DataFrame,
    sessions: pd.DataFrame,
    as_of: dt.date,
    models: Any,
    cfg: Any,
    chunk_size: int,
    console: Console,
    jobs: int = 1,
    checkpoint: Checkpoint | None = None,
) -> ScoreResult:
    """Score a cohort on `jobs` processes with a progress bar; chunks in `checkpoint` are reused
    (when it was opened for resuming) and new ones saved."""
    prep = prepare_cohort(patients, sessions, as_of)
    chunks = prep.chunks(chunk_size)
    done = checkpoint.done() if checkpoint is not None else set()
    parts: dict[int, pd.DataFrame] = {i: checkpoint.load(i) for i in done if i < len(chunks)}
    todo = [i for i in range(len(chunks)) if i not in parts]
    with Progress(
        TextColumn("[bold]scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("patients"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("score", total=max(len(prep), 1))
        progress.advance(task, sum(len(p) for p in parts.values()))

        def finished(i: int, rows: pd.DataFrame) -> None:
            parts[i] = rows
            if checkpoint is not None:
                checkpoint.save(i, rows)
            progress.advance(task, chunks[i][1] - chunks[i][0])

        workers = min(max(1, jobs), len(todo))
        if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
            for i in todo:
                finished(i, score_range(prep, *chunks[i], as_of, models, cfg))
        else:
            _score_in_pool(prep, chunks, todo, as_of, models, cfg, workers, finished)
        progress.update(task, completed=max(len(prep), 1))
    return ScoreResult(concat_scored([parts[i] for i in range(len(chunks))]), prep.errors)


def _score_in_pool(
    prep: PreparedCohort,
    chunks: list[tuple[int, int]],
    todo: list[int],
    as_of: dt.date,
    models: Any,
    cfg: Any,
    workers: int,
    finished: Any,
) -> None:
    """Chunks on forked workers; at most 2 chunks in flight per worker (bounded memory)."""
    _SHARED.update(prep=prep, as_of=as_of, models=models, cfg=cfg, parent=os.getpid())
    try:
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_die_with_parent
        ) as pool:
            queue = list(todo)
            running: dict[Future[pd.DataFrame], int] = {}
            while queue or running:
                while queue and len(running) < 2 * workers:
                    i = queue.pop(0)
                    running[pool.submit(_score_shared, *chunks[i])] = i
                ready, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in ready:
                    finished(running.pop(fut), fut.result())
    except BrokenProcessPool as exc:
        raise BatchError(f"a scoring worker process died ({exc})") from exc
    finally:
        _SHARED.clear()
