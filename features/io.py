"""Reading and writing cohort tables: parquet or CSV, atomic writes."""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Callable, Collection
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def find_table(folder: Path, name: str) -> Path:
    """`folder/name.parquet` or `folder/name.csv`; a clear error naming what is missing."""
    for ext in (".parquet", ".csv"):
        path = folder / f"{name}{ext}"
        if path.exists():
            return path
    raise FileNotFoundError(f"{folder} has no {name}.parquet or {name}.csv")


class TableReadError(ValueError):
    """A table file that cannot be read whole (truncated, malformed): named by table and file."""

    def __init__(self, table: str, path: Path, reason: str) -> None:
        super().__init__(f"{table} table ({path}): {reason}")
        self.table = table
        self.path = path
        self.reason = reason


def check_csv_complete(path: Path, table: str) -> None:
    """Refuse a CSV that ends mid-record: every record must have the header's field count and
    end with a line break (pandas would read a cut last line as a short row, or drop it)."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh, strict=True)
            header = next(reader, None)
            if header is None:
                raise TableReadError(table, path, "the file is empty")
            for row in reader:
                if row and len(row) != len(header):
                    raise TableReadError(
                        table,
                        path,
                        f"record at line {reader.line_num} has {len(row)} fields, the header "
                        f"{len(header)}: the file ends mid-record or is malformed",
                    )
    except (csv.Error, UnicodeDecodeError) as exc:
        raise TableReadError(
            table,
            path,
            f"not readable as UTF-8 CSV ({type(exc).__name__}): "
            "the file ends mid-record or is malformed",
        ) from None
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) != b"\n":
            raise TableReadError(
                table, path, "the last record has no line break: the file ends mid-record"
            )


def read_table(
    folder: Path,
    name: str,
    columns: Collection[str] | None = None,
    categorical: Collection[str] = (),
) -> pd.DataFrame:
    """One cohort table; TableReadError (naming table and file) when it cannot be read whole.

    `columns`: of a parquet file, read only those it has (a cohort's extra columns, such as the
    simulator's truth, cost time to convert and are never used by the reader that names its
    columns); the other columns are typed as if the whole file were read. `categorical`: text
    columns of a parquet file read as pandas categoricals (one Python string per distinct value
    instead of one per row: the batch parent reads millions of patient ids; `plain_text` gives
    the column as it would have been read)."""
    path = find_table(Path(folder), name)
    if path.suffix == ".parquet":
        try:
            schema = pq.read_schema(path)
            text = {f.name for f in schema if pa.types.is_string(f.type)}
            as_dict = [c for c in categorical if c in text]
            kwargs = {"read_dictionary": as_dict} if as_dict else {}
            if columns is not None:
                wanted = set(columns)
                names = [c for c in schema.names if c in wanted]
                return pd.read_parquet(path, columns=names, **kwargs)
            return pd.read_parquet(path, **kwargs)
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise TableReadError(
                name,
                path,
                f"not readable as parquet ({type(exc).__name__}): the file ends mid-record "
                "(truncated?) or is not parquet",
            ) from None
    check_csv_complete(path, name)
    try:
        df = pd.read_csv(path, keep_default_na=True, on_bad_lines="error")
    except (ValueError, pd.errors.ParserError) as exc:
        raise TableReadError(name, path, f"not readable as CSV ({type(exc).__name__})") from None
    return tidy_csv_table(df, name)


def tidy_csv_table(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Dates and list columns of a table as read by `pd.read_csv` (also used by Spark executors
    on their share of a CSV, so both engines type the cells alike)."""
    date_cols = ["as_of"] if name == "patients" else ["date"]
    for col in date_cols:
        if col in df:
            df[col] = pd.to_datetime(df[col], errors="coerce")
    for col in ("metastatic_sites", "comorbidities", "rx_restrictions"):
        if col in df:
            df[col] = df[col].fillna("").astype(str)
    return df


def read_cohort(
    folder: Path,
    patient_columns: Collection[str] | None = None,
    session_columns: Collection[str] | None = None,
    categorical: Collection[str] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(patients, sessions) from a cohort folder (only the columns named, of parquet files;
    `categorical` text columns as categoricals, see `read_table`)."""
    return read_table(folder, "patients", patient_columns, categorical), read_table(
        folder, "sessions", session_columns, categorical
    )


def plain_text(col: pd.Series) -> pd.Series:
    """A categorical text column as `read_table` reads it without `categorical`: an object
    column of Python strings, None where missing (any other column is returned as it is)."""
    if not isinstance(col.dtype, pd.CategoricalDtype):
        return col
    # code -1 (missing) picks the None appended after the categories
    values = np.append(col.cat.categories.to_numpy(dtype=object), None)[col.cat.codes.to_numpy()]
    return pd.Series(values, index=col.index, name=col.name, dtype=object)


def folder_problem(folder: Path) -> str | None:
    """Why files cannot be written in `folder` (made if missing), or None: checked before a long
    job, so a bad output path fails in a second with a reason, not after the work."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return f"output folder {folder} is not writable ({type(exc).__name__}: {exc.strerror})"
    return None


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
