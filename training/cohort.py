"""Where training data comes from: a cohort folder, or the embedded simulated default cohort."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich.console import Console

from features.contract.tables import validate_patients, validate_sessions
from features.io import read_cohort
from features.settings import Settings


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
            run_simulate(n, w, seed, data)
    patients, sessions = read_cohort(Path(data))
    patients = validate_patients(patients)
    sessions = validate_sessions(sessions)
    return patients, sessions, str(data)
