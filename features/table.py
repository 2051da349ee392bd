"""Read-only column access over either a DataFrame or a dict of equal-length numpy arrays.

`build` reads a handful of columns and does all its work on numpy arrays. A REST request is one
patient: wrapping it in pandas DataFrames first (and pandas' per-column cost on the way out) used
to be most of a recommendation's time. `Table` lets the same code read either form, so the cohort
path (DataFrames from parquet/CSV) and the request path (arrays straight from the validated
request) run exactly the same functions on exactly the same values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Union

import numpy as np
import pandas as pd

Columns = Mapping[str, np.ndarray]
TableLike = Union[pd.DataFrame, Columns, "Table"]


class Table:
    """Columns by name, row count, positional take and the row index (DataFrame or 0..n-1)."""

    __slots__ = ("_cols", "_frame", "_index", "_n")

    def __init__(self, data: pd.DataFrame | Columns, index: np.ndarray | None = None) -> None:
        if isinstance(data, pd.DataFrame):
            self._frame: pd.DataFrame | None = data
            self._cols: dict[str, np.ndarray] = {}
            self._n = len(data)
            self._index: Any = data.index
            return
        cols = {k: np.asarray(v) if not isinstance(v, np.ndarray) else v for k, v in data.items()}
        lengths = {len(v) for v in cols.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns have different lengths: {sorted(lengths)}")
        self._frame = None
        self._cols = cols
        self._n = lengths.pop() if lengths else 0
        self._index = np.arange(self._n) if index is None else index

    @classmethod
    def of(cls, data: TableLike) -> Table:
        return data if isinstance(data, Table) else cls(data)

    @property
    def columns(self) -> list[str]:
        return list(self._frame.columns) if self._frame is not None else list(self._cols)

    @property
    def index(self) -> Any:
        return self._index

    def __len__(self) -> int:
        return self._n

    def __contains__(self, name: object) -> bool:
        if self._frame is not None:
            return name in self._frame.columns
        return name in self._cols

    def get(self, name: str) -> pd.Series | np.ndarray | None:
        """The column (a Series for DataFrames, keeping pandas dtypes), or None if absent."""
        if self._frame is not None:
            return self._frame[name] if name in self._frame.columns else None
        return self._cols.get(name)

    def values(self, name: str) -> np.ndarray:
        """The column as a numpy array (KeyError when absent)."""
        if self._frame is not None:
            return self._frame[name].to_numpy()
        return self._cols[name]

    def take(self, idx: np.ndarray) -> Table:
        """Rows by position; itself when `idx` is every row in order (the common case)."""
        if len(idx) == self._n and bool(np.all(idx == np.arange(self._n))):
            return self
        if self._frame is not None:
            return Table(self._frame.take(idx))
        return Table({k: v[idx] for k, v in self._cols.items()}, index=self._index[idx])
