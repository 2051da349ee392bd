"""Read recommendations back from `monitoring_log` (what `serving.monitoring` wrote beside the
audit trail) as one frame: keys, decision, model versions, served predictions and the model
input row of each recommendation.

Why raw JSON text: at 100,000 rows the per-row JSON decoding dominates; selecting the columns as
text and decoding them in one pass is several times faster than SQLAlchemy's per-value hook.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
from sqlalchemy import Engine, Text, cast, func, inspect, literal, select

from serving.monitoring import MODALITY_KEYS, RECOMMENDED, SESSION_KEYS, monitoring_log

KEY_COLUMNS = (
    "patient_id",
    "as_of",
    "decision",
    "endpoint",
    "tolerance_model",
    "tolerance_version",
    "adherence_model",
    "adherence_version",
)


def iso_week(dates: pd.Series) -> pd.Series:
    """ISO week label of each date, e.g. `2026-W07` (weeks start on Monday); computed once per
    distinct date (a window has a few dozen dates and up to millions of rows)."""
    days = pd.to_datetime(dates)
    labels = {}
    for day in days.unique():
        iso = pd.Timestamp(day).isocalendar()
        labels[day] = f"{iso.year}-W{iso.week:02d}"
    return days.map(labels).astype(object)


def read_recommendations(
    engine: Engine, since: dt.date, until: dt.date, features: tuple[str, ...]
) -> tuple[pd.DataFrame, np.ndarray]:
    """Recommendations with `since <= as_of <= until`, oldest first: (frame, feature matrix).

    The frame has the key columns, `week` (ISO), `pred_tolerance` / `pred_adherence` (NaN
    without a dose), the per-modality predictions `pred_tolerance_aerobic` ... (NaN for a
    modality not prescribed, and for rows written before migration 0005), `scored_plan` (the plan
    those are of: `recommended`, or `usual_care` in a shadow deployment; `recommended` for rows
    written before migration 0006) and a row per recommendation; the matrix (rows x `features`)
    holds the model input rows (NaN when missing)."""
    t = monitoring_log.c
    with engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("monitoring_log")}
    modality = (
        cast(t.modality_predictions, Text)
        if "modality_predictions" in columns  # a database not yet at revision 0005
        else literal(None, Text)
    )
    scored = t.scored_plan if "scored_plan" in columns else literal(None, Text)  # before 0006
    query = (
        select(
            t.id,
            *[t[c] for c in KEY_COLUMNS],
            cast(t.predictions, Text).label("predictions"),
            cast(t.inputs, Text).label("inputs"),
            modality.label("modality_predictions"),
            scored.label("scored_plan"),
        )
        .where(t.as_of >= since.isoformat(), t.as_of <= until.isoformat())
        .order_by(t.as_of, t.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    frame = pd.DataFrame(
        [r[1 : 1 + len(KEY_COLUMNS)] for r in rows], columns=list(KEY_COLUMNS), dtype=object
    )
    frame["as_of"] = pd.to_datetime(frame["as_of"]) if len(frame) else pd.Series(dtype="M8[ns]")
    frame["week"] = iso_week(frame["as_of"]) if len(frame) else pd.Series(dtype=object)
    frame["scored_plan"] = pd.Series([r.scored_plan or RECOMMENDED for r in rows], dtype=object)
    preds = [json.loads(r.predictions) if r.predictions else None for r in rows]
    for kind in ("tolerance", "adherence"):
        frame[f"pred_{kind}"] = np.array(
            [np.nan if p is None or p.get(kind) is None else float(p[kind]) for p in preds],
            dtype=float,
        )
    per = [json.loads(r.modality_predictions) if r.modality_predictions else None for r in rows]
    for key in MODALITY_KEYS + SESSION_KEYS:
        frame[key if key in SESSION_KEYS else f"pred_{key}"] = np.array(
            [np.nan if p is None or p.get(key) is None else float(p[key]) for p in per],
            dtype=float,
        )
    return frame, input_matrix([r.inputs for r in rows], features)


def input_matrix(texts: list[str], features: tuple[str, ...]) -> np.ndarray:
    """The model input rows (JSON objects) as a float matrix in `features` order, NaN when
    missing. Rows written by `serving.monitoring` list every feature in this order, so their
    values are taken as they stand (numpy turns null into NaN); any other row (another feature
    set version) is matched by name."""
    matrix = np.full((len(texts), len(features)), np.nan)
    names = list(features)
    index = {f: j for j, f in enumerate(features)}
    same: list[int] = []
    values: list[list] = []
    for i, text in enumerate(texts):
        row = json.loads(text)
        if len(row) == len(names) and list(row) == names:
            same.append(i)
            values.append(list(row.values()))
            continue
        for name, value in row.items():
            j = index.get(name)
            if j is not None and value is not None:
                matrix[i, j] = value
    if same:
        matrix[same] = np.array(values, dtype=float)
    return matrix


def baseline_starts(engine: Engine) -> dict[str, dict[str, dt.date]]:
    """First `as_of` each model version served: {kind: {version: date}}."""
    t = monitoring_log.c
    starts: dict[str, dict[str, dt.date]] = {}
    with engine.connect() as conn:
        for kind in ("tolerance", "adherence"):
            col = t[f"{kind}_version"]
            rows = conn.execute(select(col, func.min(t.as_of)).group_by(col)).all()
            starts[kind] = {str(v): dt.date.fromisoformat(a) for v, a in rows}
    return starts


def flag_baseline(
    frame: pd.DataFrame, matrix: np.ndarray, starts: dict[str, dict[str, dt.date]], weeks: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows of `frame` in their versions' first `weeks` weeks, flagged per model."""
    if frame.empty:
        return frame.assign(baseline_tolerance=False, baseline_adherence=False), matrix
    as_of = frame["as_of"].dt.date
    out = frame.copy()
    for kind in ("tolerance", "adherence"):
        begin = frame[f"{kind}_version"].astype(str).map(starts[kind])
        end = begin.map(lambda d: d + dt.timedelta(weeks=weeks) if isinstance(d, dt.date) else d)
        out[f"baseline_{kind}"] = ((as_of >= begin) & (as_of < end)).to_numpy(bool)
    keep = (out["baseline_tolerance"] | out["baseline_adherence"]).to_numpy(bool)
    return out[keep].reset_index(drop=True), matrix[keep]


def read_baseline(
    engine: Engine,
    weeks: int,
    features: tuple[str, ...] | None = None,
    window: tuple[dt.date, dt.date, pd.DataFrame, np.ndarray] | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Each serving version's first `weeks` weeks in service (from its first `as_of`), flagged
    per model: `baseline_tolerance` / `baseline_adherence` say whether a row is in the baseline
    of its tolerance / adherence version. With `window` = (since, until, frame, matrix) already
    read, rows inside it are not read again."""
    from features import FEATURE_SET

    features = features or FEATURE_SET.columns
    starts = baseline_starts(engine)
    if not any(starts.values()):
        return pd.DataFrame(), np.empty((0, len(features)))
    first = min(d for s in starts.values() for d in s.values())
    last = max(d for s in starts.values() for d in s.values()) + dt.timedelta(weeks=weeks, days=-1)
    if window is not None and window[0] <= first and last <= window[1]:
        frame, matrix = window[2], window[3]
    else:
        frame, matrix = read_recommendations(engine, first, last, features)
    return flag_baseline(frame, matrix, starts, weeks)
