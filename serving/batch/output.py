"""Writing a batch job's output: atomic files, the errors side file, the summary.

Why: a killed or failed job must leave no partial FILE (temp file in the same folder, then
rename, `features.io.write_atomic`), and after a failed run no FILE from an earlier run either.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from features.io import folder_problem, write_atomic
from serving.batch.core import OUTPUT_SUFFIXES, finalize_errors
from serving.batch.validation import BatchError


def check_output_writable(out: Path) -> None:
    """Fail before any scoring when FILE cannot be written (issue #17: a read-only folder used
    to fail with a traceback after the whole run)."""
    problem = folder_problem(out.parent)
    if problem:
        raise BatchError(problem, exit_code=2)


# --- writing ------------------------------------------------------------------------------------
def _write_frame(df: pd.DataFrame, path: Path, suffix: str) -> None:
    if suffix == ".parquet":
        df.to_parquet(path, index=False, engine="pyarrow")
    else:
        df.to_csv(path, index=False)


def write_table(df: pd.DataFrame, out: Path) -> None:
    """Atomic write by extension (.parquet or .csv): temp file in the same folder, then rename."""
    suffix = Path(out).suffix.lower()
    write_atomic(Path(out), lambda tmp: _write_frame(df, tmp, suffix))


def errors_path(out: Path) -> Path:
    return Path(f"{out}.errors")


# --- summary ------------------------------------------------------------------------------------
def summarize(scored: pd.DataFrame, errors: pd.DataFrame, top_rules: int = 8) -> dict[str, Any]:
    """Counts per decision and rule. Most patients share a few rule lists: each distinct list is
    parsed once, in order of first appearance (so ties rank as a row-by-row count ranks them)."""
    rule_counts: Counter[str] = Counter()
    codes, texts = pd.factorize(scored["rules"].to_numpy(dtype=object))
    for text, n in zip(texts, np.bincount(codes[codes >= 0], minlength=len(texts)), strict=True):
        for rule in json.loads(text):
            rule_counts[rule] += int(n)
    return {
        "scored": len(scored),
        "decisions": scored["decision"].value_counts().sort_index().to_dict(),
        "top_rules": rule_counts.most_common(top_rules),
        "error_rows": len(errors),
        "error_patients": int(errors["patient_id"].nunique()) if len(errors) else 0,
    }


def print_summary(summary: dict[str, Any], meta: dict[str, Any], console: Console) -> None:
    console.print(
        f"[bold]Scored {summary['scored']:,} patients[/] as of {meta['as_of']} "
        f"with the {meta['engine']} engine in {meta['seconds']:.1f} s "
        f"({meta['per_second']:,.0f} patients/s); models "
        f"{meta['models']}; guideline {meta['guideline_version']}"
    )
    t = Table(title="Decisions")
    t.add_column("decision")
    t.add_column("patients", justify="right")
    for k, v in summary["decisions"].items():
        t.add_row(str(k), f"{v:,}")
    console.print(t)
    if summary["top_rules"]:
        r = Table(title="Most frequent rules")
        r.add_column("rule")
        r.add_column("patients", justify="right")
        for k, v in summary["top_rules"]:
            r.add_row(k, f"{v:,}")
        console.print(r)
    colour = "yellow" if summary["error_rows"] else "green"
    console.print(
        f"[{colour}]{summary['error_rows']:,} invalid rows ({summary['error_patients']:,} "
        f"patients skipped or not scorable)[/] -> {meta['errors_file']}"
    )


def fail_cleanly(out: Path, exc: BatchError | None) -> None:
    """After a failed run: FILE.errors holds this run's table/row errors (when there are any),
    and no FILE from an earlier run is left to be mistaken for this run's output."""
    with contextlib.suppress(OSError):
        if exc is not None and exc.errors is not None:
            errors = finalize_errors(exc.errors)
            if errors_path(out).is_dir():  # a Spark errors dataset of an earlier run
                shutil.rmtree(errors_path(out))
            write_atomic(errors_path(out), lambda tmp: errors.to_csv(tmp, index=False))
        if out.suffix.lower() in OUTPUT_SUFFIXES:
            if out.is_dir():  # a Spark dataset of an earlier run
                shutil.rmtree(out)
            out.unlink(missing_ok=True)
