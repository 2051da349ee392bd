"""Column -> numpy conversions shared by the pipeline and the labels.

Everything downstream works on plain numpy arrays, so the cost of pandas is paid once per column
here. Each helper accepts what real inputs contain (numpy, nullable pandas and object dtypes;
categoricals from parquet; strings from CSV) and gives the same numbers for the same values,
whichever path (REST, batch, training) the frame came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from features.table import Table

Values = pd.Series | np.ndarray

DAY_NS = 86_400_000_000_000
# Day numbers are shifted to be positive (back to about 1611) so that a combined integer key
# (patient code, day) sorts by patient first, then day: key = code * DAY_SPAN + day.
DAY_OFFSET = 1 << 17
DAY_SPAN = 1 << 18
NAT = np.iinfo(np.int64).min


def column(frame: pd.DataFrame | Table, name: str) -> Values | None:
    """The column, or None when the table does not have it (optional inputs)."""
    if isinstance(frame, Table):
        return frame.get(name)
    return frame[name] if name in frame.columns else None


def _objects(values: Values) -> np.ndarray:
    if isinstance(values, np.ndarray):
        return values if values.dtype == object else values.astype(object)
    return values.to_numpy(dtype=object)


SMALL = 256  # below this many rows, a Python dict beats pandas' hash tables (same results)


def factorize(values: Values) -> tuple[np.ndarray, list[Any]]:
    """(codes, distinct values in first-seen order); missing values get code -1.

    Equivalent to `pd.factorize`; small inputs (one REST patient) skip its fixed overhead.
    """
    if len(values) > SMALL:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        return codes, list(uniques)
    # one dict pass over the values, then the missing ones (None, NA, NaT, NaN) are taken out of
    # the (few) distinct values: the per-row missing test was most of this function's time
    seen: dict[Any, int] = {}
    first = np.fromiter(
        (seen.setdefault(v, len(seen)) for v in _objects(values)), np.int64, len(values)
    )
    uniques = list(seen)
    missing = [_missing(u) for u in uniques]
    if not any(missing):
        return first, uniques
    kept = [u for u, m in zip(uniques, missing, strict=True) if not m]
    lookup = np.full(len(uniques), -1, dtype=np.int64)
    lookup[[j for j, m in enumerate(missing) if not m]] = np.arange(len(kept))
    return lookup[first], kept


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v)


def to_float(values: Values | None, n: int) -> np.ndarray:
    """float64 with NaN for anything missing or unparsable (nullable dtypes included)."""
    if values is None:
        return np.full(n, np.nan)
    if isinstance(values, np.ndarray):
        if values.dtype.kind in "fiub":
            return values.astype(np.float64, copy=False)
        if values.dtype.kind == "O" and len(values) <= SMALL:
            try:
                return np.asarray(values, dtype=np.float64)
            except (TypeError, ValueError):
                pass
        values = pd.Series(values)
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "fiub":
        return values.to_numpy().astype(np.float64, copy=False)
    if isinstance(dtype, np.dtype) and dtype.kind == "O" and len(values) <= SMALL:
        try:  # None -> NaN, numbers and numeric strings parsed; anything else: to_numeric
            return np.asarray(values.to_numpy(), dtype=np.float64)
        except (TypeError, ValueError):
            pass
    if dtype.kind in "fiub" and not isinstance(dtype, pd.CategoricalDtype):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(values.astype(object), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )


def to_flag(values: Values | None, n: int) -> np.ndarray:
    """Booleans as 1.0 / 0.0, NaN when unknown (nullable booleans, objects with None, 0/1)."""
    if values is None:
        return np.full(n, np.nan)
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        out = values.astype(np.float64)
        return np.where(np.isnan(out), np.nan, (out != 0).astype(np.float64))
    if isinstance(values, pd.Series) and values.dtype == bool:
        return values.to_numpy(dtype=np.float64)
    if isinstance(values, pd.Series) and (
        values.dtype.kind in "fiu" or isinstance(values.dtype, pd.BooleanDtype)
    ):
        out = values.to_numpy(dtype=np.float64, na_value=np.nan)
        return np.where(np.isnan(out), np.nan, (out != 0).astype(np.float64))
    codes = vocab_codes(values, ("False", "True", "false", "true", "0", "1"), as_text=True)
    return np.array([np.nan, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0])[codes + 1]


def vocab_codes(
    values: Values | None, vocab: Sequence[str], n: int = 0, *, as_text: bool = False
) -> np.ndarray:
    """Position of each value in `vocab`, -1 when missing or unknown.

    Factorising first means the (slow) string work happens once per distinct value, not per row.
    """
    if values is None:
        return np.full(n, -1, dtype=np.int64)
    codes, uniques = factorize(values)
    index = {v: i for i, v in enumerate(vocab)}
    keys = [str(u) if as_text else u for u in uniques]
    lookup = np.array([index.get(k, -1) for k in keys] + [-1], dtype=np.int64)
    return lookup[codes]


def list_flags(values: Values | None, vocab: Sequence[str], n: int) -> np.ndarray:
    """(n, len(vocab)) 0/1 matrix of a `;`-joined list column; missing means an empty list."""
    if values is None:
        return np.zeros((n, len(vocab)))
    codes, uniques = factorize(values)
    index = {v: i for i, v in enumerate(vocab)}
    table = np.zeros((len(uniques) + 1, len(vocab)))
    for row, text in enumerate(uniques):
        for item in str(text).split(";"):
            j = index.get(item.strip())
            if j is not None:
                table[row, j] = 1.0
    return table[codes]


def to_days(values: Any, n: int | None = None) -> np.ndarray:
    """Day numbers (shifted by DAY_OFFSET) of dates; NAT where missing. Scalars broadcast to n."""
    if n is not None and not isinstance(values, pd.Series | pd.Index | np.ndarray | list):
        ts = pd.Timestamp(values)
        if pd.isna(ts):
            return np.full(n, NAT, dtype=np.int64)
        if ts.tzinfo is not None:
            ts = ts.tz_localize(None)
        return np.full(n, ts.value // DAY_NS + DAY_OFFSET, dtype=np.int64)
    if isinstance(values, np.ndarray) and values.dtype.kind == "M":
        raw = values.astype("datetime64[ns]").view(np.int64)
        return np.where(raw == NAT, NAT, raw // DAY_NS + DAY_OFFSET)
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_localize(None)
    elif s.dtype.kind != "M":
        s = pd.to_datetime(s)
    raw = s.to_numpy(dtype="datetime64[ns]").view(np.int64)
    return np.where(raw == NAT, NAT, raw // DAY_NS + DAY_OFFSET)


def to_timestamps(values: Any, n: int) -> np.ndarray:
    """as_of key column of the output: datetime64[ns], a scalar broadcast to n rows."""
    if isinstance(values, np.ndarray) and values.dtype.kind == "M":
        return values.astype("datetime64[ns]")
    if isinstance(values, np.ndarray):
        values = pd.Series(values)
    if isinstance(values, pd.Series):
        if values.dtype.kind == "M" and not isinstance(values.dtype, pd.DatetimeTZDtype):
            return values.to_numpy(dtype="datetime64[ns]")
        return pd.to_datetime(values).to_numpy(dtype="datetime64[ns]")
    ts = pd.Timestamp(values)
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    return np.full(n, ts.to_datetime64(), dtype="datetime64[ns]")
