"""Batch scoring of a cohort (`dosewise score`): the same policy and kernel as `POST /recommend`.

Why it looks the way it does:

* One pure function, `score_cohort`, turns raw patients + sessions tables of *whole* patients into
  output rows and error rows. The pandas engine calls it once on the cohort; the Spark engine
  (`serving.batch_spark`) calls it once per hash bucket of patients. Validation, point-in-time
  snapshot selection and scoring are all per patient, so both engines give the same rows, and
  both go through `finalize_scored` / `write_table` so the bytes written are the same too.
* Scoring itself is `serving.policy.recommend`, called on chunks of `chunk_size` patients with
  exactly the columns a REST request produces (`PATIENT_ROW_COLUMNS` + `RX_COLUMNS`,
  `SESSION_COLUMNS`), so extra columns in a cohort (e.g. simulator truth) can never influence a
  recommendation.
* Invalid rows never stop the job: a patient whose selected snapshot or any session (before the
  scoring date) fails validation is reported in `FILE.errors` and *skipped*. Scoring without the
  bad session would be a guess: the bad row may be the serious adverse event that forces a hold.
* Output is written atomically (`features.io.write_atomic`): a killed job leaves no partial FILE.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.errors
import pandera.pandas as pa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from features.io import TableReadError, read_cohort, write_atomic
from features.schemas import (
    LIST_SEPARATOR,
    PATIENT_ROW_COLUMNS,
    PATIENTS_SCHEMA,
    REFERENCE_COLUMNS,
    RESTRICTIONS,
    RX_COLUMNS,
    SESSION_COLUMNS,
    SESSIONS_SCHEMA,
)
from features.settings import Settings

ENGINES = ("pandas", "spark")
OUTPUT_SUFFIXES = (".parquet", ".csv")

# --- output shape -------------------------------------------------------------------------------
INT_COLUMNS = (
    "aerobic_sessions_per_week",
    "aerobic_rpe_low",
    "aerobic_rpe_high",
    "resistance_sessions_per_week",
    "resistance_sets",
    "resistance_reps_low",
    "resistance_reps_high",
)
FLOAT_COLUMNS = (
    "aerobic_minutes_per_session",
    "aerobic_pct_hrmax_low",
    "aerobic_pct_hrmax_high",
    "resistance_pct_1rm_low",
    "resistance_pct_1rm_high",
    "predicted_tolerance",
    "predicted_adherence",
    *REFERENCE_COLUMNS,
)
OUTPUT_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "as_of",
    "decision",
    "aerobic_sessions_per_week",
    "aerobic_minutes_per_session",
    "aerobic_pct_hrmax_low",
    "aerobic_pct_hrmax_high",
    "aerobic_rpe_low",
    "aerobic_rpe_high",
    "resistance_sessions_per_week",
    "resistance_sets",
    "resistance_reps_low",
    "resistance_reps_high",
    "resistance_pct_1rm_low",
    "resistance_pct_1rm_high",
    "restrictions",
    "predicted_tolerance",
    "predicted_adherence",
    "rules",
    "explanation",
    "tolerance_model_version",
    "adherence_model_version",
    "guideline_version",
    "unknown_facts",  # additive (guideline 2026.12.0): missing facts the kernel treated as bad
    # additive: the progression reference (REST `progression_reference`); hand these back as the
    # patients table's optional ref_* input columns next week
    *REFERENCE_COLUMNS,
)
STR_COLUMNS = tuple(c for c in OUTPUT_COLUMNS if c not in INT_COLUMNS + FLOAT_COLUMNS)
# Carried next to the output rows for the summary and the report; never written to FILE.
EXTRA_COLUMNS = ("cancer_type",)
ERROR_COLUMNS = ("patient_id", "table", "field", "reason")
# Original row number, carried through Spark so ties are broken as in the pandas engine.
ROW = "_dosewise_row"

# rx_* columns are optional in the contract but must be sane when present (same bounds as the
# Prescription model where it has them).
_RX_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "rx_aerobic_sessions": (0, 14),
    "rx_aerobic_minutes": (0, 180),
    "rx_aerobic_pct_hrmax_low": (0, 100),
    "rx_aerobic_pct_hrmax_high": (0, 100),
    "rx_aerobic_rpe_low": (6, 20),
    "rx_aerobic_rpe_high": (6, 20),
    "rx_resistance_sessions": (0, 14),
    "rx_resistance_sets": (0, 10),
    "rx_resistance_reps_low": (0, 30),
    "rx_resistance_reps_high": (0, 30),
    "rx_resistance_pct_1rm_low": (0, 100),
    "rx_resistance_pct_1rm_high": (0, 100),
}


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


def table_error(table: str, field_: str, reason: str) -> pd.DataFrame:
    """A FILE.errors row about a whole table (no patient)."""
    return pd.DataFrame([{"patient_id": "", "table": table, "field": field_, "reason": reason}])


def check_output_writable(out: Path) -> None:
    """Fail before any scoring when FILE cannot be written (issue #17: a read-only folder used
    to fail with a traceback after the whole run)."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out.parent):
            pass
    except OSError as exc:
        raise BatchError(
            f"output folder {out.parent} is not writable ({type(exc).__name__})", exit_code=2
        ) from None


@dataclass
class ScoreResult:
    """Output rows (OUTPUT_COLUMNS + EXTRA_COLUMNS) and error rows (ERROR_COLUMNS)."""

    scored: pd.DataFrame
    errors: pd.DataFrame


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


def _dates(series: pd.Series) -> pd.Series:
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
_CHECK_TEXT = (
    ("coerce_dtype", "cannot be read as {dtype}"),
    ("dtype(", "cannot be read as {dtype}"),
    ("not_nullable", "missing (required)"),
    ("greater_than_or_equal_to", "must be >= {arg}"),
    ("less_than_or_equal_to", "must be <= {arg}"),
    ("isin", "must be one of {arg}"),
    ("str_matches", "must match {arg}"),
    ("column_in_dataframe", "column missing"),
)


def _reason(check: Any, value: Any, column: Any = None) -> str:
    """A readable reason naming the rule and the offending value."""
    text = str(check)
    if column in ("date", "as_of") and text == "not_nullable":
        return "missing or not a date"
    arg = text[text.find("(") + 1 : text.rfind(")")] if "(" in text else ""
    dtype = arg.strip("'\"") or "the expected type"
    dtype = {"float64": "a number", "bool": "true/false", "boolean": "true/false"}.get(dtype, dtype)
    for key, template in _CHECK_TEXT:
        if text.startswith(key):
            reason = template.format(arg=arg, dtype=dtype)
            break
    else:
        reason = text
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
    errors: list[pd.DataFrame] = []
    current = df
    for _ in range(5):
        try:
            return schema.validate(current, lazy=True, inplace=True), _concat_errors(errors)
        except pandera.errors.SchemaErrors as exc:
            fc = exc.failure_cases
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


def _concat_errors(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ERROR_COLUMNS})
    return pd.concat(parts, ignore_index=True)[list(ERROR_COLUMNS)]


def _error_frame(ids: Sequence[str], table: str, field_: str, reason: str) -> pd.DataFrame:
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
    dates = _dates(patients["as_of"]).to_numpy()
    errs: list[pd.DataFrame] = []
    no_id = ids == ""
    if no_id.any():
        errs.append(_error_frame([""] * int(no_id.sum()), "patients", "patient_id", "missing"))
    no_date = pd.isna(dates) & ~no_id
    bad_ids = sorted(set(ids[no_date]))
    if bad_ids:
        errs.append(_error_frame(bad_ids, "patients", "as_of", "missing or not a date"))
    usable = ~no_id & ~pd.Series(ids).isin(set(bad_ids)).to_numpy()
    in_time = usable & (dates <= np.datetime64(pd.Timestamp(as_of)))
    future_only = sorted(set(ids[usable]) - set(ids[in_time]))
    if future_only:
        errs.append(
            _error_frame(future_only, "patients", "as_of", f"no snapshot on or before {as_of}")
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
    return p, _concat_errors(errs)


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


# --- the pure scoring function ------------------------------------------------------------------
def score_cohort(
    patients: pd.DataFrame,
    sessions: pd.DataFrame,
    as_of: dt.date,
    models: Any,
    cfg: Any,
    chunk_size: int = 5000,
    on_chunk: Callable[[int], None] | None = None,
) -> ScoreResult:
    """Validate, select snapshots and score whole patients; the one function both engines run.

    `on_chunk(n)` is called after each chunk of n patients (progress bar).
    """
    from serving.policy import recommend

    snaps, snap_errors = select_snapshots(patients, as_of)
    good_p, p_errors = validate_rows(snaps, BATCH_PATIENTS_SCHEMA, "patients")
    candidates = np.sort(snaps["patient_id"].to_numpy(dtype=object))

    # One filtered copy of the sessions: the candidates' rows before the scoring date.
    ids = patient_ids(sessions["patient_id"]) if "patient_id" in sessions else None
    if ids is None:
        ids = pd.Series("", index=sessions.index, dtype=object)
    mask = pd.Categorical(ids, categories=candidates).codes >= 0
    dates = _dates(sessions["date"]) if "date" in sessions else None
    if dates is not None:  # the future is not history (NaT kept: reported as invalid)
        mask &= ~(dates >= pd.Timestamp(as_of)).to_numpy()
    data = {c: sessions[c].to_numpy()[mask] for c in sessions.columns if c in SESSION_COLUMNS}
    data["patient_id"] = ids.to_numpy()[mask]
    if dates is not None:
        data["date"] = dates.to_numpy()[mask]
    row_no = sessions[ROW].to_numpy() if ROW in sessions else np.arange(len(sessions))
    data[ROW] = row_no[mask]
    s = pd.DataFrame(data)
    good_s, s_errors = validate_rows(s, SESSION_ROW_SCHEMA, "sessions")

    bad_ids = set(p_errors["patient_id"]) | set(s_errors["patient_id"])
    good_p = good_p[~good_p["patient_id"].isin(bad_ids)]
    good_p = good_p.sort_values("patient_id", kind="stable").reset_index(drop=True)
    # Sessions sorted by patient (in good_p's order), date and original row: a total order, so
    # ties on a date are broken the same way in both engines whatever order Spark delivers.
    codes = pd.Categorical(good_s["patient_id"], categories=good_p["patient_id"]).codes
    sel = np.flatnonzero(codes >= 0)
    order = sel[
        np.lexsort((good_s[ROW].to_numpy()[sel], good_s["date"].to_numpy()[sel], codes[sel]))
    ]
    codes = codes[order]
    cols = [good_s.columns.get_loc(c) for c in SESSION_COLUMNS]
    rest_s = good_s.iloc[order, cols].reset_index(drop=True)
    del good_s

    rest_p = good_p.reindex(
        columns=list(PATIENT_ROW_COLUMNS) + list(RX_COLUMNS) + list(REFERENCE_COLUMNS)
    )
    rows: list[dict[str, Any]] = []
    for start in range(0, len(rest_p), max(1, chunk_size)):
        stop = min(start + chunk_size, len(rest_p))
        lo = int(np.searchsorted(codes, start, side="left"))
        hi = int(np.searchsorted(codes, stop - 1, side="right"))
        responses = recommend(
            rest_p.iloc[start:stop].reset_index(drop=True),
            rest_s.iloc[lo:hi].reset_index(drop=True),
            as_of,
            models,
            cfg,
        )
        cancer = good_p["cancer_type"].iloc[start:stop].tolist()
        rows.extend(
            flatten_response(r) | {"cancer_type": c} for r, c in zip(responses, cancer, strict=True)
        )
        if on_chunk is not None:
            on_chunk(stop - start)

    scored = pd.DataFrame(rows, columns=list(OUTPUT_COLUMNS + EXTRA_COLUMNS))
    errors = _concat_errors([snap_errors, p_errors, s_errors])
    return ScoreResult(scored, errors)


def flatten_response(resp: dict[str, Any]) -> dict[str, Any]:
    """One contract response -> one flat output row (nested dose fields become columns)."""
    rx = resp.get("prescription")
    if rx is not None and not isinstance(rx, dict):
        rx = rx.model_dump()
    aer = (rx or {}).get("aerobic") or {}
    res = (rx or {}).get("resistance") or {}
    pred = resp.get("predictions") or {}
    ref = resp.get("progression_reference")
    if ref is not None and not isinstance(ref, dict):
        ref = ref.model_dump()
    as_of = resp["as_of"]
    return {
        "patient_id": str(resp["patient_id"]),
        "as_of": as_of.isoformat() if hasattr(as_of, "isoformat") else str(as_of),
        "decision": resp["decision"],
        "aerobic_sessions_per_week": aer.get("sessions_per_week"),
        "aerobic_minutes_per_session": aer.get("minutes_per_session"),
        "aerobic_pct_hrmax_low": (aer.get("intensity_pct_hrmax") or {}).get("low"),
        "aerobic_pct_hrmax_high": (aer.get("intensity_pct_hrmax") or {}).get("high"),
        "aerobic_rpe_low": (aer.get("rpe") or {}).get("low"),
        "aerobic_rpe_high": (aer.get("rpe") or {}).get("high"),
        "resistance_sessions_per_week": res.get("sessions_per_week"),
        "resistance_sets": res.get("sets"),
        "resistance_reps_low": (res.get("reps") or {}).get("low"),
        "resistance_reps_high": (res.get("reps") or {}).get("high"),
        "resistance_pct_1rm_low": (res.get("intensity_pct_1rm") or {}).get("low"),
        "resistance_pct_1rm_high": (res.get("intensity_pct_1rm") or {}).get("high"),
        "restrictions": LIST_SEPARATOR.join((rx or {}).get("restrictions") or []),
        "predicted_tolerance": pred.get("tolerance"),
        "predicted_adherence": pred.get("adherence"),
        "rules": json.dumps([r["id"] for r in resp.get("rules", [])]),
        "explanation": json.dumps(
            [
                {"feature": e["feature"], "contribution": float(e["contribution"])}
                for e in resp.get("explanation", [])
            ]
        ),
        "tolerance_model_version": str(resp["model"]["tolerance"]["version"]),
        "adherence_model_version": str(resp["model"]["adherence"]["version"]),
        "guideline_version": str(resp["guideline_version"]),
        "unknown_facts": LIST_SEPARATOR.join(resp.get("unknown_facts") or []),
    } | {c: (ref or {}).get(c[len("ref_") :]) for c in REFERENCE_COLUMNS}


def finalize_scored(df: pd.DataFrame, keep_extra: bool = False) -> pd.DataFrame:
    """Canonical dtypes and order: the one place that decides what both engines write."""
    cols = list(OUTPUT_COLUMNS + (EXTRA_COLUMNS if keep_extra else ()))
    out = df.reindex(columns=cols).copy()
    for c in INT_COLUMNS:
        out[c] = pd.to_numeric(out[c], errors="coerce").round().astype("Int64")
    for c in FLOAT_COLUMNS:
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    for c in STR_COLUMNS + (EXTRA_COLUMNS if keep_extra else ()):
        out[c] = out[c].map(lambda v: None if v is None or v is pd.NA or v != v else str(v))
        out[c] = out[c].astype(object)
    return out.sort_values("patient_id", kind="stable").reset_index(drop=True)


def finalize_errors(df: pd.DataFrame) -> pd.DataFrame:
    out = df.reindex(columns=list(ERROR_COLUMNS)).fillna("").astype(str).drop_duplicates()
    return out.sort_values(list(ERROR_COLUMNS), kind="stable").reset_index(drop=True)


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
    rule_counts: Counter[str] = Counter()
    for text in scored["rules"]:
        rule_counts.update(json.loads(text))
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


# --- the command --------------------------------------------------------------------------------
def policy_config(settings: Settings) -> Any:
    """The PolicyConfig REST uses: thresholds from the settings, everything else default."""
    from serving.policy import PolicyConfig

    return PolicyConfig(
        tolerance_threshold=settings.tolerance_threshold,
        adherence_threshold=settings.adherence_threshold,
    )


def score_pandas(
    patients: pd.DataFrame,
    sessions: pd.DataFrame,
    as_of: dt.date,
    models: Any,
    cfg: Any,
    chunk_size: int,
    console: Console,
) -> ScoreResult:
    """The pandas engine: one process, chunks of `chunk_size` patients, a progress bar."""
    n = int(patient_ids(patients["patient_id"]).nunique()) if "patient_id" in patients else 0
    with Progress(
        TextColumn("[bold]scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("patients"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("score", total=max(n, 1))
        result = score_cohort(
            patients,
            sessions,
            as_of,
            models,
            cfg,
            chunk_size,
            on_chunk=lambda k: progress.advance(task, k),
        )
        progress.update(task, completed=max(n, 1))
    return result


def fail_cleanly(out: Path, exc: BatchError | None) -> None:
    """After a failed run: FILE.errors holds this run's table/row errors (when there are any),
    and no FILE from an earlier run is left to be mistaken for this run's output."""
    with contextlib.suppress(OSError):
        if exc is not None and exc.errors is not None:
            errors = finalize_errors(exc.errors)
            write_atomic(errors_path(out), lambda tmp: errors.to_csv(tmp, index=False))
        if out.suffix.lower() in OUTPUT_SUFFIXES:
            out.unlink(missing_ok=True)


def run_score(
    settings: Settings,
    cohort: Path,
    out: Path,
    engine: str = "pandas",
    as_of: str | dt.date | None = None,
    chunk_size: int = 5000,
    spark_master: str | None = None,
    report: Path | None = None,
    console: Console | None = None,
    models: Any = None,
    cfg: Any = None,
) -> int:
    """`dosewise score`: 0 = written (maybe with row errors), 1 = nothing scorable (every patient
    invalid, a required column missing, a table unreadable or ending mid-record; FILE.errors names
    the table), 2 = job error (arguments, no champion, output folder not writable: checked before
    scoring, Spark). After 1 or 2 no FILE is left behind, not even one from an earlier run.

    `models` injects ready models (tests, benchmarks); by default the `@champion` models are loaded
    from the registry and a missing champion is exit code 2, never a guess.
    """
    console = console or Console(stderr=True)
    out = Path(out)
    t0 = time.perf_counter()
    try:
        if engine not in ENGINES:
            raise BatchError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        if out.suffix.lower() not in OUTPUT_SUFFIXES:
            raise BatchError(f"--out must end in .parquet or .csv, not {out.name!r}")
        if chunk_size < 1:
            raise BatchError("--chunk-size must be at least 1")
        check_output_writable(out)
        cfg = cfg if cfg is not None else policy_config(settings)
        if models is None:
            from serving.models import ModelUnavailableError, load_champions

            try:
                models = load_champions(settings)
            except ModelUnavailableError as exc:
                raise BatchError(
                    f"No champion model in the registry ({exc}). Train and promote first "
                    "(`dosewise train`); batch scoring never guesses without a model."
                ) from exc
        try:
            patients, sessions = read_cohort(Path(cohort))
        except FileNotFoundError as exc:
            raise BatchError(str(exc)) from exc
        except TableReadError as exc:
            raise BatchError(
                str(exc), exit_code=1, errors=table_error(exc.table, "", exc.reason)
            ) from None
        check_columns(patients, sessions)
        day = parse_as_of(as_of, sessions)
        if engine == "pandas":
            result = score_pandas(patients, sessions, day, models, cfg, chunk_size, console)
        else:
            from serving.batch_spark import score_spark

            result = score_spark(
                patients,
                sessions,
                day,
                settings,
                models,
                cfg,
                chunk_size,
                spark_master,
                console,
                staging_parent=out.parent,
            )
        scored = finalize_scored(result.scored, keep_extra=True)
        errors = finalize_errors(result.errors)
        write_atomic(errors_path(out), lambda tmp: errors.to_csv(tmp, index=False))
        if not scored.empty:
            write_table(scored[list(OUTPUT_COLUMNS)], out)
    except BatchError as exc:
        console.print(f"[red]error:[/] {exc}")
        fail_cleanly(out, exc)
        return exc.exit_code
    seconds = time.perf_counter() - t0
    summary = summarize(scored, errors)
    meta = {
        "as_of": day.isoformat(),
        "engine": engine,
        "seconds": seconds,
        "per_second": len(scored) / seconds if seconds > 0 else 0.0,
        "models": f"{models.tolerance.name} v{models.tolerance.version}, "
        f"{models.adherence.name} v{models.adherence.version}",
        "guideline_version": scored["guideline_version"].iloc[0] if len(scored) else "-",
        "errors_file": str(errors_path(out)),
        "out": str(out),
    }
    if scored.empty:
        console.print(
            f"[red]Nothing could be scored[/]: {len(errors):,} invalid rows, see "
            f"{errors_path(out)}; {out} not written."
        )
        fail_cleanly(out, None)
        return 1
    print_summary(summary, meta, console)
    console.print(f"[green]wrote[/] {out}")
    if report is not None:
        from serving.report import write_report

        write_report(Path(report), scored, errors, summary, meta)
        console.print(f"[green]wrote[/] {report}")
    return 0
