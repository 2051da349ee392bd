"""Row validation of a batch cohort: the rules both engines apply, per patient.

Why it looks the way it does: every row is checked with the pandera schemas of
`features/contract/tables.py` (plus the rx_*/ref_* bounds) and *reported*, never raised: a patient
whose current snapshot or any session before the scoring date is invalid is skipped (the bad row
might be the serious adverse event that forces a hold). All steps are per patient, so the pandas
engine (one call on the cohort), its worker processes and Spark (one call per bucket) give the same
rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pandera.errors
import pandera.pandas as pa

from features.contract.dose import REFERENCE_COLUMNS, RPE_SCALE_MAX, RPE_SCALE_MIN
from features.contract.rest import AerobicDose, ResistanceDose
from features.contract.tables import PATIENTS_SCHEMA, RX_FIELDS, SESSIONS_SCHEMA, check_words
from features.contract.vocab import LIST_SEPARATOR, RESTRICTIONS

ERROR_COLUMNS = ("patient_id", "table", "field", "reason")
# Original row number, carried through Spark so ties are broken as in the pandas engine.
ROW = "_dosewise_row"

# rx_* columns are optional in the contract but must be sane when present: the Prescription
# model's own field bounds (sessions, minutes, sets), and for its bands (which the model bounds
# only by their order) the scale each band lives on.
_BAND_SCALES: dict[str, tuple[float, float]] = {
    "intensity_pct_hrmax": (0, 100),
    "intensity_pct_1rm": (0, 100),
    "rpe": (RPE_SCALE_MIN, RPE_SCALE_MAX),
    "reps": (0, 30),
}


def _rx_bounds(path: str) -> tuple[float | None, float | None]:
    """Bounds of the Prescription field at `path` (e.g. "aerobic.rpe.low")."""
    modality, name, *_ = path.split(".")
    if name in _BAND_SCALES:
        return _BAND_SCALES[name]
    model = AerobicDose if modality == "aerobic" else ResistanceDose
    lo = hi = None
    for meta in model.model_fields[name].metadata:
        lo, hi = getattr(meta, "ge", lo), getattr(meta, "le", hi)
    return lo, hi


_RX_BOUNDS = {column: _rx_bounds(path) for column, path in RX_FIELDS.items()}


def _rx_column(lo: float | None, hi: float | None) -> pa.Column:
    checks = [pa.Check.ge(lo)] if lo is not None else []
    checks += [pa.Check.le(hi)] if hi is not None else []
    return pa.Column(float, checks=checks, nullable=True, coerce=True)


def _restrictions_ok(series: pd.Series) -> pd.Series:
    allowed = set(RESTRICTIONS)
    return series.fillna("").map(
        lambda s: all(x in allowed for x in str(s).split(LIST_SEPARATOR) if x)
    )


# ref_* (the progression reference handed back): ProgressionReference's bounds.
_REF_BOUNDS = dict(zip(REFERENCE_COLUMNS, ((0, 14), (0, 180), (0, 100), (0, 14), (0, 10), (0, 30),
                                           (0, 100)), strict=True))  # fmt: skip

BATCH_PATIENTS_SCHEMA = PATIENTS_SCHEMA.add_columns(
    {c: _rx_column(*b) for c, b in (_RX_BOUNDS | _REF_BOUNDS).items()}
    | {
        "rx_restrictions": pa.Column(
            str,
            pa.Check(_restrictions_ok, error=f"items must be among {sorted(RESTRICTIONS)}"),
            nullable=True,
            coerce=True,
        )
    }
)


# Sessions are validated for the patients' candidates only: their ids were already checked on the
# patients side (an id that fails there is skipped), so the per-row regex over millions of session
# rows is saved.
SESSION_ROW_SCHEMA = SESSIONS_SCHEMA.remove_columns(["patient_id"])


class BatchError(RuntimeError):
    """A problem with the job as a whole (not a row): reported and mapped to an exit code;
    `errors` (ERROR_COLUMNS rows naming table and field) go to FILE.errors."""

    def __init__(
        self, message: str, exit_code: int = 2, errors: pd.DataFrame | None = None
    ) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.errors = errors

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled whole (a worker process raises it to the parent), exit code included."""
        return (type(self), (str(self), self.exit_code, self.errors))


def table_error(table: str, field_: str, reason: str) -> pd.DataFrame:
    """A FILE.errors row about a whole table (no patient)."""
    return pd.DataFrame([{"patient_id": "", "table": table, "field": field_, "reason": reason}])


# --- dates --------------------------------------------------------------------------------------
def parse_as_of(value: str | dt.date | None, sessions: pd.DataFrame | None) -> dt.date:
    """The scoring date: given, else the day after the latest session in the cohort, else today.

    The day after the latest session makes a re-run on the same files reproducible (not tied to
    the wall clock) and sees every session, since features use data strictly before `as_of`.
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if value:
        try:
            return dt.date.fromisoformat(value)
        except ValueError as exc:
            raise BatchError(f"--as-of {value!r} is not a date (YYYY-MM-DD)") from exc
    if sessions is not None and "date" in sessions and len(sessions):
        latest = pd.to_datetime(sessions["date"], errors="coerce").max()
        if pd.notna(latest):
            return (pd.Timestamp(latest).normalize() + pd.Timedelta(days=1)).date()
    return dt.date.today()


def dates_of(series: pd.Series) -> pd.Series:
    """Lenient date parse (NaT when unreadable); validation then reports NaT as missing."""
    out = pd.to_datetime(series, errors="coerce")
    if isinstance(out.dtype, pd.DatetimeTZDtype):
        out = out.dt.tz_localize(None)
    return out.astype("datetime64[ns]")


def patient_ids(series: pd.Series) -> pd.Series:
    """Ids as text, missing as "" (then reported), the same way in both engines."""
    out = series.astype(str)
    out[series.isna().to_numpy()] = ""
    return out


# --- validation ---------------------------------------------------------------------------------
def _reason(check: Any, value: Any, column: Any = None) -> str:
    """A readable reason naming the rule and the offending value."""
    text = str(check)
    if column in ("date", "as_of") and text == "not_nullable":
        return "missing or not a date"
    reason = check_words(check)
    if text.startswith(("not_nullable", "column_in_dataframe")):
        return reason
    return f"{reason} (got {_show(value)})"


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return repr(int(value)) if abs(value) < 1e15 else repr(value)
    return repr(value.item() if isinstance(value, np.generic) else value)


def validate_rows(
    df: pd.DataFrame, schema: pa.DataFrameSchema, table: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-row validation: (valid rows, coerced; error rows). Never raises for bad rows.

    pandera (lazy=True) lists every failing cell in `failure_cases` with its row index; those rows
    are dropped and the rest validated again, because a cell that cannot be coerced makes pandera
    skip the range checks of its whole column (reported without an index) on that pass.
    `df` is coerced in place (no copy of a multi-million-row table): pass a frame you own.
    """
    if not df.index.is_unique:
        df = df.reset_index(drop=True)
    for name, col in schema.columns.items():  # optional columns may be absent from a file
        if name not in df and col.nullable:
            df[name] = None
    clean = _clean_text_columns(df, schema)
    if clean:
        schema = schema.remove_columns(list(clean))
    errors: list[pd.DataFrame] = []
    current = df
    for _ in range(5):
        try:
            valid = schema.validate(current, lazy=True, inplace=True)
        except pandera.errors.SchemaErrors as exc:
            fc = exc.failure_cases
        else:
            for name, values in clean.items():
                valid[name] = values if len(valid) == len(df) else values.loc[valid.index]
            return valid, concat_errors(errors)
        rowwise = fc[fc["index"].notna()]
        if rowwise.empty:
            reasons = "; ".join(
                sorted(
                    {
                        f"{c}: {_reason(k, v)}"
                        for c, k, v in zip(
                            fc["column"], fc["check"], fc["failure_case"], strict=True
                        )
                    }
                )
            )
            raise BatchError(f"{table} table cannot be read: {reasons}", exit_code=1)
        idx = rowwise["index"].astype(df.index.dtype)
        errors.append(
            pd.DataFrame(
                {
                    "patient_id": patient_ids(current.loc[idx, "patient_id"]).to_numpy()
                    if "patient_id" in current
                    else "",
                    "table": table,
                    "field": rowwise["column"].astype(str).to_numpy(),
                    "reason": [
                        _reason(k, v, c)
                        for c, k, v in zip(
                            rowwise["column"],
                            rowwise["check"],
                            rowwise["failure_case"],
                            strict=True,
                        )
                    ],
                }
            )
        )
        current = current.drop(index=pd.Index(idx.unique()))
    raise BatchError(f"{table} table: validation did not converge", exit_code=1)


def warm_up_validation() -> None:
    """Load pandera's validation backends now (they import hypothesis: about a second), so that
    forked worker processes inherit them instead of each importing them again."""
    validate_rows(pd.DataFrame({"patient_id": pd.Series([], dtype=object)}), _WARM_UP, "warm-up")


_WARM_UP = pa.DataFrameSchema({"patient_id": pa.Column(str, coerce=True)})


def _clean_text_columns(df: pd.DataFrame, schema: pa.DataFrameSchema) -> dict[str, pd.Series]:
    """Text columns with few distinct values (modality, stage, ...) whose every distinct value
    passes its column's rules, coerced: validated once per distinct value instead of once per row.

    Exact: a column's rules look at each cell alone (type, vocabulary, nullability), so a column
    whose distinct values all pass has no failing cell in any subset of the rows, and its coerced
    cells are its coerced distinct values. A column with any failing value is left to the whole
    validation (same rows, same reasons as before). The columns' distinct values are validated
    together (one pandera call: each column padded with its own first value)."""
    found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    out: dict[str, pd.Series] = {}
    for name, column in schema.columns.items():
        if str(column.dtype) != "str" or name not in df or df[name].dtype != object:
            continue
        series = df[name]
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        if len(uniques) > len(series) // 8:  # ids and free text: nothing to share
            continue
        if (codes < 0).any() and not column.nullable:
            continue
        if not len(uniques):  # only nulls, in a nullable column: kept as they are (pandera too)
            out[name] = pd.Series(series.to_numpy(dtype=object), index=series.index, dtype=object)
            continue
        found[name] = (codes, np.asarray(uniques, dtype=object))
    while found:
        size = max(len(u) for _, u in found.values())
        table = pd.DataFrame(
            {n: np.concatenate([u, np.repeat(u[:1], size - len(u))]) for n, (_, u) in found.items()}
        )
        one = pa.DataFrameSchema({n: schema.columns[n] for n in found})
        try:
            coerced = one.validate(table, lazy=True)
        except pandera.errors.SchemaErrors as exc:
            failed = set(exc.failure_cases["column"].astype(str)) & set(found)
            if not failed:  # not about one column: leave them all to the whole validation
                break
            for n in failed:
                del found[n]
            continue
        for name, (codes, uniques) in found.items():
            series = df[name]
            # nulls pass a nullable column and are kept as they are (pandera too)
            values = series.to_numpy(dtype=object, copy=True)
            known = codes >= 0
            values[known] = coerced[name].to_numpy(dtype=object)[: len(uniques)][codes[known]]
            out[name] = pd.Series(values, index=series.index, dtype=object)
        break
    return out


def concat_errors(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ERROR_COLUMNS})
    return pd.concat(parts, ignore_index=True)[list(ERROR_COLUMNS)]


def error_frame(ids: Sequence[str], table: str, field_: str, reason: str) -> pd.DataFrame:
    return pd.DataFrame(
        {"patient_id": list(ids), "table": table, "field": field_, "reason": reason},
        columns=list(ERROR_COLUMNS),
    )


def select_snapshots(patients: pd.DataFrame, as_of: dt.date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Point in time: per patient, the latest snapshot with `as_of` <= the scoring date.

    A patient with a snapshot whose date is missing or unreadable is skipped (we cannot tell
    which snapshot is the latest); one with only future snapshots is reported as not scorable.
    """
    for col in ("patient_id", "as_of"):
        if col not in patients:
            raise BatchError(f"patients table has no {col} column", exit_code=1)
    # Work on the key columns only, then copy the chosen rows once (the table can be large).
    ids = patient_ids(patients["patient_id"]).to_numpy()
    dates = dates_of(patients["as_of"]).to_numpy()
    errs: list[pd.DataFrame] = []
    no_id = ids == ""
    if no_id.any():
        errs.append(error_frame([""] * int(no_id.sum()), "patients", "patient_id", "missing"))
    no_date = pd.isna(dates) & ~no_id
    bad_ids = sorted(set(ids[no_date]))
    if bad_ids:
        errs.append(error_frame(bad_ids, "patients", "as_of", "missing or not a date"))
    usable = ~no_id & ~pd.Series(ids).isin(set(bad_ids)).to_numpy()
    in_time = usable & (dates <= np.datetime64(pd.Timestamp(as_of)))
    future_only = sorted(set(ids[usable]) - set(ids[in_time]))
    if future_only:
        errs.append(
            error_frame(future_only, "patients", "as_of", f"no snapshot on or before {as_of}")
        )
    sel = np.flatnonzero(in_time)
    codes, _ = pd.factorize(ids[sel])
    row_no = patients[ROW].to_numpy()[sel] if ROW in patients else sel
    o = np.lexsort((row_no, dates[sel], codes))  # per patient by date; ties: the later row wins
    last = np.ones(len(o), dtype=bool)
    last[:-1] = codes[o][1:] != codes[o][:-1]
    chosen = sel[o][last]
    p = patients.iloc[chosen].drop(columns=[ROW], errors="ignore")
    p = p.assign(patient_id=ids[chosen], as_of=dates[chosen])
    p = p.sort_values("patient_id", kind="stable").reset_index(drop=True)
    return p, concat_errors(errs)


def check_columns(patients: pd.DataFrame, sessions: pd.DataFrame) -> None:
    """A required column missing from a table is a job error (exit 1), found before any work."""
    for df, schema, name in (
        (patients, BATCH_PATIENTS_SCHEMA, "patients"),
        (sessions, SESSIONS_SCHEMA, "sessions"),
    ):
        missing = [c for c, col in schema.columns.items() if not col.nullable and c not in df]
        if missing:
            rows = pd.concat([table_error(name, c, "required column missing") for c in missing])
            raise BatchError(
                f"{name} table lacks required columns: {missing}", exit_code=1, errors=rows
            )
