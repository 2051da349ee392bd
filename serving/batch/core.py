"""The scoring core: output schema, scoring whole patients with `recommend`, flat output rows.

Why it looks the way it does: `prepare_cohort` (validation + point-in-time selection, vectorised)
and `score_range` (one call to `serving.policy.recommend` per chunk of patients) are the only
scoring steps; the pandas engine runs the ranges in worker processes, Spark runs `score_cohort`
per bucket. Scoring is `recommend` on exactly the columns a REST request produces, so extra
columns in a cohort (e.g. simulator truth) can never influence a recommendation, and every
prescription goes through the guideline kernel inside `recommend`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.contract.dose import REFERENCE_COLUMNS
from features.contract.tables import PATIENT_ROW_COLUMNS, RX_COLUMNS, SESSION_COLUMNS
from features.contract.vocab import LIST_SEPARATOR
from features.settings import Settings
from serving.batch.validation import (
    BATCH_PATIENTS_SCHEMA,
    ERROR_COLUMNS,
    ROW,
    SESSION_ROW_SCHEMA,
    concat_errors,
    dates_of,
    patient_ids,
    select_snapshots,
    validate_rows,
)

if TYPE_CHECKING:
    from serving.policy.result import Recommendation

ENGINES = ("pandas", "spark")
OUTPUT_SUFFIXES = (".parquet", ".csv")

# --- output shape -------------------------------------------------------------------------------
# The prescription's columns in output order, with their type.
_DOSE_COLUMNS: tuple[tuple[str, type], ...] = (
    ("aerobic_sessions_per_week", int),
    ("aerobic_minutes_per_session", float),
    ("aerobic_pct_hrmax_low", float),
    ("aerobic_pct_hrmax_high", float),
    ("aerobic_rpe_low", int),
    ("aerobic_rpe_high", int),
    ("resistance_sessions_per_week", int),
    ("resistance_sets", int),
    ("resistance_reps_low", int),
    ("resistance_reps_high", int),
    ("resistance_pct_1rm_low", float),
    ("resistance_pct_1rm_high", float),
)
INT_COLUMNS = tuple(c for c, kind in _DOSE_COLUMNS if kind is int)
FLOAT_COLUMNS = (
    *(c for c, kind in _DOSE_COLUMNS if kind is float),
    "predicted_tolerance",
    "predicted_adherence",
    *REFERENCE_COLUMNS,
)
OUTPUT_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "as_of",
    "decision",
    *(c for c, _ in _DOSE_COLUMNS),
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


@dataclass
class ScoreResult:
    """Output rows (OUTPUT_COLUMNS + EXTRA_COLUMNS) and error rows (ERROR_COLUMNS)."""

    scored: pd.DataFrame
    errors: pd.DataFrame


# --- the pure scoring function ------------------------------------------------------------------
@dataclass
class PreparedCohort:
    """Valid whole patients ready for `recommend`: request columns sorted by patient, their
    sessions in a total order, and `codes` (the patient index of each session row)."""

    patients: pd.DataFrame
    sessions: pd.DataFrame
    codes: np.ndarray
    cancer: np.ndarray
    errors: pd.DataFrame

    def __len__(self) -> int:
        return len(self.patients)

    def chunks(self, chunk_size: int) -> list[tuple[int, int]]:
        """(start, stop) patient ranges of `chunk_size`: the unit of work and of checkpoints."""
        size = max(1, chunk_size)
        return [(a, min(a + size, len(self))) for a in range(0, len(self), size)]


def prepare_cohort(
    patients: pd.DataFrame, sessions: pd.DataFrame, as_of: dt.date
) -> PreparedCohort:
    """Validate, select snapshots and order whole patients (vectorised; no model involved)."""
    snaps, snap_errors = select_snapshots(patients, as_of)
    good_p, p_errors = validate_rows(snaps, BATCH_PATIENTS_SCHEMA, "patients")
    candidates = np.sort(snaps["patient_id"].to_numpy(dtype=object))

    # One filtered copy of the sessions: the candidates' rows before the scoring date.
    ids = patient_ids(sessions["patient_id"]) if "patient_id" in sessions else None
    if ids is None:
        ids = pd.Series("", index=sessions.index, dtype=object)
    mask = pd.Categorical(ids, categories=candidates).codes >= 0
    dates = dates_of(sessions["date"]) if "date" in sessions else None
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
    return PreparedCohort(
        patients=rest_p,
        sessions=rest_s,
        codes=np.asarray(codes),
        cancer=good_p["cancer_type"].to_numpy(dtype=object),
        errors=concat_errors([snap_errors, p_errors, s_errors]),
    )


def score_range(
    prep: PreparedCohort, start: int, stop: int, as_of: dt.date, models: Any, cfg: Any
) -> pd.DataFrame:
    """Patients [start, stop) of a prepared cohort through `recommend` (one call), as output rows
    (OUTPUT_COLUMNS + EXTRA_COLUMNS, canonical dtypes)."""
    from serving.policy import recommend

    lo = int(np.searchsorted(prep.codes, start, side="left"))
    hi = int(np.searchsorted(prep.codes, stop - 1, side="right"))
    responses = recommend(
        prep.patients.iloc[start:stop].reset_index(drop=True),
        prep.sessions.iloc[lo:hi].reset_index(drop=True),
        as_of,
        models,
        cfg,
    )
    columns = flatten_responses(responses) | {"cancer_type": prep.cancer[start:stop].tolist()}
    return finalize_scored(pd.DataFrame(columns), keep_extra=True)


def score_cohort(
    patients: pd.DataFrame,
    sessions: pd.DataFrame,
    as_of: dt.date,
    models: Any,
    cfg: Any,
    chunk_size: int = 5000,
    on_chunk: Callable[[int], None] | None = None,
) -> ScoreResult:
    """Validate, select snapshots and score whole patients in one process (Spark runs this per
    bucket). `on_chunk(n)` is called after each chunk of n patients (progress bar)."""
    prep = prepare_cohort(patients, sessions, as_of)
    parts = []
    for start, stop in prep.chunks(chunk_size):
        parts.append(score_range(prep, start, stop, as_of, models, cfg))
        if on_chunk is not None:
            on_chunk(stop - start)
    return ScoreResult(concat_scored(parts), prep.errors)


def empty_scored() -> pd.DataFrame:
    """No output rows, with the columns and canonical dtypes (a chunk with no valid patient)."""
    return finalize_scored(
        pd.DataFrame(columns=list(OUTPUT_COLUMNS + EXTRA_COLUMNS)), keep_extra=True
    )


def concat_scored(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Chunks of output rows as one frame (an empty frame with the columns when none)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=list(OUTPUT_COLUMNS + EXTRA_COLUMNS))
    return pd.concat(parts, ignore_index=True)


def flatten_response(rec: Recommendation) -> dict[str, Any]:
    """One recommendation -> one flat output row (nested dose fields become columns)."""
    rx = rec.prescription
    a = rx.aerobic if rx is not None else None
    r = rx.resistance if rx is not None else None
    pred = rec.predictions
    ref = rec.progression_reference
    return {
        "patient_id": rec.patient_id,
        "as_of": rec.as_of.isoformat(),
        "decision": rec.decision,
        "aerobic_sessions_per_week": a.sessions_per_week if a else None,
        "aerobic_minutes_per_session": a.minutes_per_session if a else None,
        "aerobic_pct_hrmax_low": a.intensity_pct_hrmax.low if a else None,
        "aerobic_pct_hrmax_high": a.intensity_pct_hrmax.high if a else None,
        "aerobic_rpe_low": a.rpe.low if a and a.rpe else None,
        "aerobic_rpe_high": a.rpe.high if a and a.rpe else None,
        "resistance_sessions_per_week": r.sessions_per_week if r else None,
        "resistance_sets": r.sets if r else None,
        "resistance_reps_low": r.reps.low if r else None,
        "resistance_reps_high": r.reps.high if r else None,
        "resistance_pct_1rm_low": r.intensity_pct_1rm.low if r else None,
        "resistance_pct_1rm_high": r.intensity_pct_1rm.high if r else None,
        "restrictions": LIST_SEPARATOR.join(rx.restrictions if rx is not None else []),
        "predicted_tolerance": pred.tolerance if pred else None,
        "predicted_adherence": pred.adherence if pred else None,
        "rules": json.dumps([x.id for x in rec.rules]),
        "explanation": json.dumps(
            [{"feature": e.feature, "contribution": float(e.contribution)} for e in rec.explanation]
        ),
        "tolerance_model_version": rec.tolerance_model.version,
        "adherence_model_version": rec.adherence_model.version,
        "guideline_version": str(rec.guideline_version),
        "unknown_facts": LIST_SEPARATOR.join(rec.unknown_facts),
    } | {c: getattr(ref, c[len("ref_") :]) if ref is not None else None for c in REFERENCE_COLUMNS}


def flatten_responses(recs: list[Recommendation]) -> dict[str, list[Any]]:
    """Recommendations -> output columns (OUTPUT_COLUMNS): the values of `flatten_response`
    for each, built column by column, with the JSON of rule lists shared by the patients whose
    rules are the same (most of a cohort) and each explanation written once."""
    rxs = [r.prescription for r in recs]
    aer = [rx.aerobic if rx is not None else None for rx in rxs]
    res = [rx.resistance if rx is not None else None for rx in rxs]
    preds = [r.predictions for r in recs]
    refs = [r.progression_reference for r in recs]
    rules_json: dict[tuple[str, ...], str] = {}
    cols: dict[str, list[Any]] = {
        "patient_id": [r.patient_id for r in recs],
        "as_of": [r.as_of.isoformat() for r in recs],
        "decision": [r.decision for r in recs],
        "aerobic_sessions_per_week": [a.sessions_per_week if a else None for a in aer],
        "aerobic_minutes_per_session": [a.minutes_per_session if a else None for a in aer],
        "aerobic_pct_hrmax_low": [a.intensity_pct_hrmax.low if a else None for a in aer],
        "aerobic_pct_hrmax_high": [a.intensity_pct_hrmax.high if a else None for a in aer],
        "aerobic_rpe_low": [a.rpe.low if a and a.rpe else None for a in aer],
        "aerobic_rpe_high": [a.rpe.high if a and a.rpe else None for a in aer],
        "resistance_sessions_per_week": [r.sessions_per_week if r else None for r in res],
        "resistance_sets": [r.sets if r else None for r in res],
        "resistance_reps_low": [r.reps.low if r else None for r in res],
        "resistance_reps_high": [r.reps.high if r else None for r in res],
        "resistance_pct_1rm_low": [r.intensity_pct_1rm.low if r else None for r in res],
        "resistance_pct_1rm_high": [r.intensity_pct_1rm.high if r else None for r in res],
        "restrictions": [
            LIST_SEPARATOR.join(rx.restrictions if rx is not None else []) for rx in rxs
        ],
        "predicted_tolerance": [p.tolerance if p else None for p in preds],
        "predicted_adherence": [p.adherence if p else None for p in preds],
        "rules": [_rules_json(r.rules, rules_json) for r in recs],
        "explanation": [_explanation_json(r.explanation) for r in recs],
        "tolerance_model_version": [r.tolerance_model.version for r in recs],
        "adherence_model_version": [r.adherence_model.version for r in recs],
        "guideline_version": [str(r.guideline_version) for r in recs],
        "unknown_facts": [LIST_SEPARATOR.join(r.unknown_facts) for r in recs],
    }
    for c in REFERENCE_COLUMNS:
        name = c[len("ref_") :]
        cols[c] = [getattr(ref, name) if ref is not None else None for ref in refs]
    return cols


def _rules_json(rules: tuple[Any, ...], seen: dict[tuple[str, ...], str]) -> str:
    ids = tuple(x.id for x in rules)
    text = seen.get(ids)
    if text is None:
        text = seen[ids] = json.dumps(list(ids))
    return text


def _explanation_json(explanation: tuple[Any, ...]) -> str:
    return json.dumps(
        [{"feature": e.feature, "contribution": float(e.contribution)} for e in explanation]
    )


def finalize_scored(df: pd.DataFrame, keep_extra: bool = False) -> pd.DataFrame:
    """Canonical dtypes and order: the one place that decides what both engines write."""
    cols = list(OUTPUT_COLUMNS + (EXTRA_COLUMNS if keep_extra else ()))
    out = df.reindex(columns=cols).copy()
    for c in INT_COLUMNS:
        out[c] = pd.to_numeric(out[c], errors="coerce").round().astype("Int64")
    for c in FLOAT_COLUMNS:
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    for c in STR_COLUMNS + (EXTRA_COLUMNS if keep_extra else ()):
        out[c] = _text_or_none(out[c])
    return out.sort_values("patient_id", kind="stable").reset_index(drop=True)


def _text_or_none(col: pd.Series) -> pd.Series:
    """Each value as text, missing ones (None, NaN, NA, NaT) as None: an object column (str()
    per value in pandas' C loop instead of a Python lambda per cell)."""
    missing = col.isna().to_numpy()
    values = col.to_numpy(dtype=object, copy=True)
    if (~missing).any():
        values[~missing] = pd.Series(values[~missing], dtype=object).astype(str).to_numpy()
    values[missing] = None
    return pd.Series(values, index=col.index, dtype=object)


def finalize_errors(df: pd.DataFrame) -> pd.DataFrame:
    out = df.reindex(columns=list(ERROR_COLUMNS)).fillna("").astype(str).drop_duplicates()
    return out.sort_values(list(ERROR_COLUMNS), kind="stable").reset_index(drop=True)


# --- the command --------------------------------------------------------------------------------
def policy_config(settings: Settings) -> Any:
    """The PolicyConfig REST uses: thresholds from the settings, everything else default."""
    from serving.policy import PolicyConfig

    return PolicyConfig.from_settings(settings)
