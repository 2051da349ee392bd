"""The pandas engine of `dosewise score`: one machine, every core, chunks of patients.

Why it looks the way it does: anything the parent does alone caps the speed-up of the cores, so
the parent only reads the tables and splits them (`split_cohort`: the rows of each chunk of
patient ids, by one hash lookup per row); validation, point-in-time selection and scoring of a
chunk (`prepare_cohort` + `score_range`) run in `--jobs` worker processes. Every step is per
patient, so a chunk's rows and errors are what the whole cohort in one call would give for its
patients. Workers are forked after the models are loaded, so each holds the models once and reads
the tables copy-on-write (nothing pickled but chunk numbers in and output rows out). Chunks are
contiguous ranges of the patient ids sorted, and the output is sorted by id, so the bytes written
do not depend on `--jobs`. Each finished chunk (rows and errors) can be checkpointed (`--resume`).
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
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from features.io import plain_text
from serving.batch.checkpoint import Checkpoint
from serving.batch.core import (
    ScoreResult,
    concat_scored,
    empty_scored,
    prepare_cohort,
    score_range,
)
from serving.batch.validation import (
    BatchError,
    concat_errors,
    error_frame,
    patient_ids,
    warm_up_validation,
)

# What forked workers inherit: (split cohort, as_of, models, cfg). Set only around a pool.
_SHARED: dict[str, Any] = {}
_WARM_UP: list[threading.Thread] = []


def start_warm_up() -> None:
    """Load the validation backends in a thread while the parent reads the tables (pyarrow
    leaves the interpreter free), so that the workers inherit them (`finish_warm_up`)."""
    if not _WARM_UP:
        thread = threading.Thread(target=warm_up_validation, name="dosewise-warm-up", daemon=True)
        thread.start()
        _WARM_UP.append(thread)


def finish_warm_up() -> None:
    """The backends loaded, and no thread left running (before forking the workers)."""
    start_warm_up()
    _WARM_UP[0].join()


def default_jobs() -> int:
    """All the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@dataclass
class SplitCohort:
    """The cohort's tables and, per chunk of `chunk_size` patient ids (sorted), the row numbers
    of its patients and sessions rows (ascending: the tables' own order within a chunk)."""

    patients: pd.DataFrame
    sessions: pd.DataFrame
    patient_rows: list[np.ndarray]
    session_rows: list[np.ndarray]
    sizes: list[int]  # patient ids per chunk (the progress bar's unit)
    errors: pd.DataFrame  # rows no chunk owns: patients rows without an id

    def __len__(self) -> int:
        return sum(self.sizes)

    def chunk(self, i: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The patients and sessions rows of chunk i (copies the worker owns), with categorical
        ids (as the parent reads parquet) made the plain text column scoring reads."""
        out = []
        for table, rows in ((self.patients, self.patient_rows), (self.sessions, self.session_rows)):
            part = table.take(rows[i])
            if "patient_id" in part and isinstance(part["patient_id"].dtype, pd.CategoricalDtype):
                part["patient_id"] = plain_text(part["patient_id"])
            out.append(part)
        return out[0], out[1]


def _rows_by_chunk(codes: np.ndarray, chunk_size: int, n_chunks: int) -> list[np.ndarray]:
    """Row numbers per chunk from each row's patient code (-1: no chunk), ascending."""
    keep = np.flatnonzero(codes >= 0)
    which = codes[keep] // chunk_size
    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(n_chunks + 1))
    rows = keep[order]
    return [rows[bounds[k] : bounds[k + 1]] for k in range(n_chunks)]


def _distinct_ids(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(index of each row's id among the distinct ids, -1 when missing; the distinct ids as
    `patient_ids` writes them). Text ids are hashed once per row and converted once per
    distinct id; other ids (numbers read from a CSV, mixed types) are converted per row; the
    categorical ids of a parquet file are not hashed at all."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        cats = series.cat.categories.to_numpy(dtype=object)
        if set(map(type, cats)) <= {str}:
            codes = series.cat.codes.to_numpy().astype(np.int64)
            present = np.unique(codes[codes >= 0])  # first-seen order does not matter: sorted later
            remap = np.full(len(cats) + 1, -1, dtype=np.int64)  # [-1] stays -1 (missing)
            remap[present] = np.arange(len(present))
            return remap[codes], cats[present]
        series = plain_text(series)
    if series.dtype == object:
        index, distinct = pd.factorize(series.to_numpy(), use_na_sentinel=True)
        if all(type(x) is str for x in distinct):
            return index, np.asarray(distinct, dtype=object)
    ids = patient_ids(series).to_numpy(dtype=object)
    index, distinct = pd.factorize(ids)
    return index, np.asarray(distinct, dtype=object)


def _codes(index: np.ndarray, code_of_distinct: np.ndarray) -> np.ndarray:
    """Each row's code from its distinct id's code (-1: missing id, or not a candidate)."""
    out = np.full(len(index), -1, dtype=np.int64)
    known = index >= 0
    out[known] = code_of_distinct[index[known]]
    return out


def split_cohort(patients: pd.DataFrame, sessions: pd.DataFrame, chunk_size: int) -> SplitCohort:
    """Chunks of patient ids (sorted) and their rows in both tables; nothing validated here.

    Sessions of ids with no patients row are in no chunk (the whole cohort in one call ignores
    them too); a patients row without an id is reported here, once."""
    size = max(1, chunk_size)
    p_index, p_ids = _distinct_ids(patients["patient_id"])
    named = p_ids[p_ids != ""]
    candidates = pd.Index(np.sort(named))
    n_chunks = -(-len(candidates) // size)
    p_codes = _codes(p_index, candidates.get_indexer(p_ids))
    if "patient_id" in sessions:
        s_index, s_ids = _distinct_ids(sessions["patient_id"])
        s_codes = _codes(s_index, candidates.get_indexer(s_ids))
    else:
        s_codes = np.full(len(sessions), -1)
    n_missing = int((p_index < 0).sum()) + int(np.isin(p_index, np.flatnonzero(p_ids == "")).sum())
    errors = [error_frame([""] * n_missing, "patients", "patient_id", "missing")]
    return SplitCohort(
        patients=patients,
        sessions=sessions,
        patient_rows=_rows_by_chunk(p_codes, size, n_chunks),
        session_rows=_rows_by_chunk(s_codes, size, n_chunks),
        sizes=[min(size, len(candidates) - k * size) for k in range(n_chunks)],
        errors=concat_errors(errors),
    )


def score_chunk(
    split: SplitCohort, i: int, as_of: dt.date, models: Any, cfg: Any
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate, select and score the patients of chunk i: (output rows, error rows)."""
    patients, sessions = split.chunk(i)
    prep = prepare_cohort(patients, sessions, as_of)
    del patients, sessions
    rows = score_range(prep, 0, len(prep), as_of, models, cfg) if len(prep) else empty_scored()
    return rows, prep.errors


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def keep_freed_memory() -> None:
    """Let this process reuse the memory of its freed large arrays (glibc: no mmap per large
    allocation, no trim): scoring a chunk allocates the same few hundred MB of candidate rows as
    the last one, and fresh pages cost a fault each (dear in a VM) where reused ones cost nothing.
    The process keeps its peak heap until it exits (a worker lives for one job)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = _libc()
            libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD: arrays up to 1 GiB from the heap
            libc.mallopt(-1, 1 << 31)  # M_TRIM_THRESHOLD: keep up to 2 GiB of freed heap


def _init_worker() -> None:
    """Worker initializer: a killed job must not leave its workers behind (Linux prctl); freed
    memory is reused (`keep_freed_memory`)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            _libc().prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != _SHARED.get("parent"):  # the parent died before prctl
            os._exit(1)
    keep_freed_memory()


def _score_shared(i: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Worker side: chunk i of the inherited split cohort."""
    s = _SHARED
    return score_chunk(s["split"], i, s["as_of"], s["models"], s["cfg"])


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
    split = split_cohort(patients, sessions, chunk_size)
    n_chunks = len(split.sizes)
    done = checkpoint.done() if checkpoint is not None else set()
    parts: dict[int, tuple[pd.DataFrame, pd.DataFrame]] = {
        i: (checkpoint.load(i), checkpoint.load_errors(i))
        for i in done
        if i < n_chunks and checkpoint is not None
    }
    todo = [i for i in range(n_chunks) if i not in parts]
    with Progress(
        TextColumn("[bold]scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("patients"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("score", total=max(len(split), 1))
        progress.advance(task, sum(split.sizes[i] for i in parts))

        def finished(i: int, result: tuple[pd.DataFrame, pd.DataFrame]) -> None:
            parts[i] = result
            if checkpoint is not None:
                checkpoint.save_errors(i, result[1])
                checkpoint.save(i, result[0])  # the rows last: their file marks the chunk done
            progress.advance(task, split.sizes[i])

        workers = min(max(1, jobs), len(todo))
        if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
            keep_freed_memory()
            for i in todo:
                finished(i, score_chunk(split, i, as_of, models, cfg))
        else:
            finish_warm_up()  # loaded once here, not once per worker
            _score_in_pool(split, todo, as_of, models, cfg, workers, finished)
        progress.update(task, completed=max(len(split), 1))
    ordered = [parts[i] for i in range(n_chunks)]
    return ScoreResult(
        concat_scored([rows for rows, _ in ordered]),
        concat_errors([split.errors, *(errors for _, errors in ordered)]),
    )


def _score_in_pool(
    split: SplitCohort,
    todo: list[int],
    as_of: dt.date,
    models: Any,
    cfg: Any,
    workers: int,
    finished: Any,
) -> None:
    """Chunks on forked workers; at most 2 chunks in flight per worker (bounded memory)."""
    _SHARED.update(split=split, as_of=as_of, models=models, cfg=cfg, parent=os.getpid())
    try:
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_init_worker
        ) as pool:
            queue = list(todo)
            running: dict[Future[tuple[pd.DataFrame, pd.DataFrame]], int] = {}
            while queue or running:
                while queue and len(running) < 2 * workers:
                    i = queue.pop(0)
                    running[pool.submit(_score_shared, i)] = i
                ready, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in ready:
                    finished(running.pop(fut), fut.result())
    except BrokenProcessPool as exc:
        raise BatchError(f"a scoring worker process died ({exc})") from exc
    finally:
        _SHARED.clear()
