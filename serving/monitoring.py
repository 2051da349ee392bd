"""What monitoring needs, recorded with each recommendation (issue #15 item 1).

Why it looks like this:

* One row per recommendation in `monitoring_log`, beside the audit trail and in the same database:
  the model input row (the point-in-time features `features.pipeline.build_rows` computes for the
  request's `as_of`, numbers only: no names, no free text; the id is the pseudonymous patient id)
  and the predictions with the model versions that made them. `monitor` (a later session) reads
  it back to measure drift against the champion's reference distributions.
* Written by the audit writer in the same transaction as the audit row, linked to it by
  (`writer_id`, `seq`): a recommendation is either in both tables or in neither.
* Not append-only, unlike the audit trail: rows older than `DOSEWISE_MONITORING_RETENTION_DAYS`
  are purged at start-up and periodically. The purge never touches `audit_log`.
* The schema is made by the versioned migrations in `serving/migrations` (revision 0002;
  0005 adds `modality_predictions`, 0006 `scored_plan`).
* Per-modality predictions (`modality_predictions`): the answer's `predictions` are the lower of
  the two modalities' P(tolerate) and the session-weighted P(attend), while a label is one
  session of one modality, so the monitor needs each modality's own number. They are the
  numbers the search computed for the week it chose (`Recommendation.scored`, one scoring path:
  `serving.policy.scoring.ModelScorer`), never a second prediction: the prediction that was made
  for the plan that was sent, from which the answer's `predictions` follow exactly. (That week is
  the policy's point dose: reps 12 and the intensity the search scored. The dose a simulated
  patient does, `delivered_plan`, is the middle of each prescribed band after integer rounding,
  e.g. reps 11 for a 10-12 band; the monitor judges the prediction the service acted on.)
  Rows written before 0005 have none (NULL); the monitor then falls back to `predictions`.
* Which plan the per-modality predictions are of (`scored_plan`): `recommended` (the service's
  prescription: what an active deployment delivers) or `usual_care` (a silent/shadow deployment,
  where the service answers but the clinic delivers its own prescription: the predictions are
  then of that delivered plan, so every label is the outcome of the plan its row predicted).
  NULL in rows written before 0006 (and by any writer that leaves it out) means `recommended`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    delete,
)

metadata = MetaData()

monitoring_log = Table(
    "monitoring_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("writer_id", String(36), nullable=False),  # the audit row: (writer_id, seq)
    Column("seq", Integer, nullable=False),
    Column("patient_id", String(64), nullable=False),  # pseudonymous
    Column("as_of", String(10), nullable=False),
    Column("endpoint", String(32), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("inputs", JSON, nullable=False),  # feature name -> number (None when missing)
    Column("predictions", JSON, nullable=True),
    Column("modality_predictions", JSON, nullable=True),  # MODALITY_KEYS -> number or None
    Column("scored_plan", String(16), nullable=True),  # SCORED_PLANS; NULL = recommended
    Column("tolerance_model", String(128), nullable=False),
    Column("tolerance_version", String(32), nullable=False),
    Column("adherence_model", String(128), nullable=False),
    Column("adherence_version", String(32), nullable=False),
)

# Key under which an audit record carries its monitoring row to the writer (not hashed, not a
# column of audit_log).
MONITORING_KEY = "_monitoring"

# Per-modality predictions of the prescribed dose: P(tolerate) and P(attend) of one session.
MODALITY_KEYS = (
    "tolerance_aerobic",
    "tolerance_resistance",
    "adherence_aerobic",
    "adherence_resistance",
)
MODALITIES = ("aerobic", "resistance")
# ... and the sessions prescribed per modality (the weight of each prediction before labels).
SESSION_KEYS = ("sessions_aerobic", "sessions_resistance")
# The plan `modality_predictions` are of: the service's own (active) or the clinic's (shadow).
RECOMMENDED, USUAL_CARE = "recommended", "usual_care"
SCORED_PLANS = (RECOMMENDED, USUAL_CARE)


@dataclass(frozen=True)
class ServedInputs:
    """What a recommendation's monitoring row needs beyond its audit record: the model input
    row and the per-modality predictions of the prescribed dose (None without a dose)."""

    features: Mapping[str, float | None]
    modality: Mapping[str, float | None] | None
    scored_plan: str = RECOMMENDED


def model_inputs(rows: Sequence[Any]) -> list[dict[str, float | None]]:
    """Each feature row the policy scored (`PatientInputs.row`, FEATURE_SET order) as the
    monitoring row's `inputs`: JSON-safe numbers (NaN -> None). Taken from what the policy
    already built for the request (`recommend_many(inputs=...)`), never built a second time."""
    from features import FEATURE_SET

    names = list(FEATURE_SET.columns)
    out = []
    for row in rows:
        values = np.asarray(row, dtype=float)
        finite = np.isfinite(values).tolist()  # NaN and infinities -> None, as `_number`
        out.append(
            {n: v if ok else None for n, v, ok in zip(names, values.tolist(), finite, strict=True)}
        )
    return out


def scored_predictions(recs: Sequence[Any]) -> list[dict[str, float | None] | None]:
    """Per recommendation, the search's own P(tolerate) and P(attend) of one session of each
    modality of the week it chose (`Recommendation.scored`: the prediction made for the plan
    that was sent, the numbers behind the answer's `predictions`) and the sessions of each
    (`SESSION_KEYS`); None for hold and refer. No model is asked again."""
    out: list[dict[str, float | None] | None] = []
    for rec in recs:
        scored = rec.scored if rec.prescription is not None else None
        if scored is None:
            out.append(None)
            continue
        row: dict[str, float | None] = dict.fromkeys(MODALITY_KEYS + SESSION_KEYS)
        sessions = (scored.plan.aerobic_sessions, scored.plan.resistance_sessions)
        for m, modality in enumerate(MODALITIES):
            if sessions[m] >= 1:
                row[f"sessions_{modality}"] = sessions[m]
                row[f"tolerance_{modality}"] = _rounded(scored.tolerance[m])
                row[f"adherence_{modality}"] = _rounded(scored.attendance[m])
        out.append(row)
    return out


def plan_predictions(
    rows: Sequence[Any], plans: Sequence[Mapping[str, float] | None], models: Any
) -> list[dict[str, float | None] | None]:
    """Per row, P(tolerate) and P(attend) of one session of each modality the week's plan
    (`PLAN_COLUMNS` -> number; None: no plan) has sessions of (`MODALITY_KEYS`, None for a
    modality without sessions) and the sessions of each (`SESSION_KEYS`), scored from the
    feature row the policy scored by the policy's own scorer (`ModelScorer`, as the search and
    POST /predict score a week): the plans a clinic delivered instead (shadow mode)."""
    import pandas as pd

    from features.contract.dose import PLAN_COLUMNS
    from serving.policy.scoring import A, ModelScorer, Points, R

    out: list[dict[str, float | None] | None] = [
        dict.fromkeys(MODALITY_KEYS + SESSION_KEYS) if plan is not None else None for plan in plans
    ]
    owner = [i for i, plan in enumerate(plans) if plan is not None]
    if not owner:
        return out
    matrix = np.asarray(np.vstack(rows), dtype=float)
    week = np.array([[plans[i][c] for c in PLAN_COLUMNS] for i in owner], dtype=float)  # type: ignore[index]
    has = np.column_stack([week[:, 0] >= 1, week[:, 3] >= 1])
    points = Points(matrix, np.arange(len(matrix)).astype(str).astype(object), pd.Timestamp(0))
    scores = ModelScorer(models).score(points, np.array(owner), week, need=has)
    for k, i in enumerate(owner):
        row = out[i]
        assert row is not None
        for m, modality in ((A, "aerobic"), (R, "resistance")):
            if has[k, m]:
                row[f"sessions_{modality}"] = float(week[k, 0 if m == A else 3])
                row[f"tolerance_{modality}"] = _rounded(scores.tolerance[k, m])
                row[f"adherence_{modality}"] = _rounded(scores.attendance[k, m])
    return out


def served_inputs(
    rows: Sequence[Any],
    recs: Sequence[Any],
    models: Any,
    delivered: Sequence[Mapping[str, float] | None] | None = None,
) -> list[ServedInputs]:
    """The monitoring inputs of recommendations (`Recommendation`s), in order: the feature rows
    the policy scored (`PatientInputs.row`, as `model_inputs`) and the per-modality predictions
    the search made for each chosen week (`scored_predictions`; None for hold and refer), or, in
    a shadow deployment, those of the plans the clinic `delivered` instead (`USUAL_CARE`, scored
    by `plan_predictions`)."""
    if delivered is None:
        per = scored_predictions(recs)
        scored = RECOMMENDED
    else:
        per = plan_predictions(rows, delivered, models)
        scored = USUAL_CARE
    return [ServedInputs(x, p, scored) for x, p in zip(model_inputs(rows), per, strict=True)]


def _rounded(value: float | None) -> float | None:
    """A stored prediction: 6 decimals; None for no number."""
    return None if value is None else _number(round(float(value), 6))


def _number(value: Any) -> float | None:
    v = float(value)
    return None if math.isnan(v) or math.isinf(v) else v


def make_monitoring_row(
    audit_record: Mapping[str, Any], inputs: Mapping[str, float | None] | ServedInputs
) -> dict[str, Any]:
    """The monitoring row of an audit record (its link columns are filled in at commit).
    `inputs` is the model input row alone (no per-modality predictions) or `ServedInputs`."""
    keys = (
        "ts",
        "patient_id",
        "as_of",
        "endpoint",
        "decision",
        "predictions",
        "tolerance_model",
        "tolerance_version",
        "adherence_model",
        "adherence_version",
    )
    served = inputs if isinstance(inputs, ServedInputs) else ServedInputs(inputs, None)
    modality = None if served.modality is None else dict(served.modality)
    return {
        **{k: audit_record[k] for k in keys},
        "inputs": dict(served.features),
        "modality_predictions": modality,
        "scored_plan": served.scored_plan,
    }


def attach(
    records: Sequence[dict[str, Any]],
    inputs: Sequence[Mapping[str, float | None] | ServedInputs],
) -> list[dict[str, Any]]:
    """Audit records carrying their monitoring rows to the writer."""
    return [
        {**r, MONITORING_KEY: make_monitoring_row(r, x)}
        for r, x in zip(records, inputs, strict=True)
    ]


def purge(engine: Engine, retention_days: int, now: dt.datetime | None = None) -> int:
    """Delete monitoring rows older than the retention period; the count deleted."""
    cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=retention_days)
    with engine.begin() as conn:
        return int(
            conn.execute(delete(monitoring_log).where(monitoring_log.c.ts < cutoff)).rowcount
        )
