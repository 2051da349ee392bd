"""Reading and writing cohort tables: parquet or CSV, atomic writes."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

TABLES = ("patients", "sessions")


def find_table(folder: Path, name: str) -> Path:
    """`folder/name.parquet` or `folder/name.csv`; a clear error naming what is missing."""
    for ext in (".parquet", ".csv"):
        path = folder / f"{name}{ext}"
        if path.exists():
            return path
    raise FileNotFoundError(f"{folder} has no {name}.parquet or {name}.csv")


def read_table(folder: Path, name: str) -> pd.DataFrame:
    path = find_table(Path(folder), name)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    date_cols = ["as_of"] if name == "patients" else ["date"]
    df = pd.read_csv(path, keep_default_na=True)
    for col in date_cols:
        if col in df:
            df[col] = pd.to_datetime(df[col], errors="coerce")
    for col in ("metastatic_sites", "comorbidities", "rx_restrictions"):
        if col in df:
            df[col] = df[col].fillna("").astype(str)
    return df


def read_cohort(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(patients, sessions) from a cohort folder."""
    return read_table(folder, "patients"), read_table(folder, "sessions")


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, then rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
