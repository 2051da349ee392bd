"""Where training data comes from: a cohort folder, or the embedded simulated default cohort."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pandera.errors as pa_errors
from rich.console import Console

from features.contract.tables import check_words, validate_patients, validate_sessions
from features.io import TableReadError, read_cohort
from features.settings import Settings


class CohortError(ValueError):
    """A training cohort that cannot be read or does not meet the table schemas (says which)."""


def _schema_summary(exc: pa_errors.SchemaErrors, table: str, most: int = 8) -> str:
    """Which columns are missing and which checks fail, with counts, never the values."""
    cases = exc.failure_cases
    missing = cases["check"].astype(str) == "column_in_dataframe"
    parts = []
    if missing.any():
        names = sorted(cases.loc[missing, "failure_case"].astype(str).unique())
        parts.append(
            f"missing columns: {', '.join(names[:most])}" + (", ..." if len(names) > most else "")
        )
    failing = cases.loc[~missing].groupby(["column", "check"], sort=True).size().head(most)
    parts += [
        f"{col}: {check_words(check)} ({n} row{'s' if n > 1 else ''})"
        for (col, check), n in failing.items()
    ]
    return f"{table} table does not meet the schema: " + "; ".join(parts)


def load_or_simulate(
    settings: Settings, data: Path | None, seed: int, console: Console
) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Read and validate a cohort; with no folder, simulate the default one (cached in data/)."""
    if data is None:
        n, w = settings.default_patients, settings.default_weeks
        data = settings.data_dir / f"cohort-{n}x{w}-seed{seed}"
        if not (data / "patients.parquet").exists():
            from training.simulate import run_simulate

            console.print(
                f"No cohort given: simulating the default cohort "
                f"({n} patients x {w} weeks, seed {seed}) into {data}"
            )
            if run_simulate(n, w, seed, data) != 0:
                raise CohortError(f"could not write the default cohort to {data}")
    try:
        patients, sessions = read_cohort(Path(data))
    except (FileNotFoundError, NotADirectoryError, TableReadError) as exc:
        raise CohortError(str(exc)) from None
    try:
        patients = validate_patients(patients)
    except pa_errors.SchemaErrors as exc:
        raise CohortError(_schema_summary(exc, "patients")) from None
    try:
        sessions = validate_sessions(sessions)
    except pa_errors.SchemaErrors as exc:
        raise CohortError(_schema_summary(exc, "sessions")) from None
    return patients, sessions, str(data)
