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
  session of one modality. Training's held-out evaluation scores each session against the
  prediction of its own modality at the dose delivered, so the monitor needs the same numbers:
  the models are asked once more, at write time, for one aerobic and one resistance session of
  the prescribed dose (the middle of each band, what the patient does), from the same input row.
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


def modality_predictions(
    rows: Sequence[Any], prescriptions: Sequence[Any], models: Any
) -> list[dict[str, float | None] | None]:
    """Per recommendation, P(tolerate) and P(attend) of one session of each prescribed modality
    at the prescribed dose (the middle of each band: `delivered_plan`): `plan_predictions` of
    the prescriptions. None for hold and refer."""
    from features.contract.convert import delivered_plan

    plans = [None if rx is None else delivered_plan(rx) for rx in prescriptions]
    return plan_predictions(rows, plans, models)


def plan_predictions(
    rows: Sequence[Any], plans: Sequence[Mapping[str, float] | None], models: Any
) -> list[dict[str, float | None] | None]:
    """Per row, P(tolerate) and P(attend) of one session of each modality the week's plan
    (`PLAN_COLUMNS` -> number; None: no plan) has sessions of (`MODALITY_KEYS`, None for a
    modality without sessions) and the sessions of each (`SESSION_KEYS`), scored by the models
    from the feature row the policy scored, the way `ModelScorer` scores a plan (the candidate
    columns from `features.pipeline.candidate_matrix`)."""
    from features.contract.dose import PLAN_COLUMNS
    from features.pipeline import candidate_matrix
    from features.table import Table

    owner: list[int] = []
    which: list[int] = []
    cand: list[list[float]] = []
    out: list[dict[str, float | None] | None] = [
        dict.fromkeys(MODALITY_KEYS + SESSION_KEYS) if plan is not None else None for plan in plans
    ]
    for i, plan in enumerate(plans):
        if plan is None:
            continue
        for m, modality in enumerate(MODALITIES):
            if plan[f"{modality}_sessions"] >= 1:
                row = out[i]
                assert row is not None
                row[f"sessions_{modality}"] = plan[f"{modality}_sessions"]
                owner.append(i)
                which.append(m)
                cand.append([plan[c] for c in PLAN_COLUMNS])
    if not owner:
        return out
    points = np.asarray(np.vstack(rows), dtype=float)
    points = np.where(np.isinf(points), np.nan, points)  # as stored: not a number -> missing
    cols = np.array(cand, dtype=float)
    cands: dict[str, Any] = {c: cols[:, j] for j, c in enumerate(PLAN_COLUMNS)}
    cands["modality"] = np.array([MODALITIES[m] for m in which], dtype=object)
    feats = candidate_matrix(points, np.array(owner), Table(cands))
    tol = np.asarray(models.tolerance.predict(feats), dtype=float)
    att = np.asarray(models.adherence.predict(feats), dtype=float)
    for k, (i, m) in enumerate(zip(owner, which, strict=True)):
        row = out[i]
        assert row is not None
        row[f"tolerance_{MODALITIES[m]}"] = _number(round(float(tol[k]), 6))
        row[f"adherence_{MODALITIES[m]}"] = _number(round(float(att[k]), 6))
    return out


def served_inputs(
    rows: Sequence[Any],
    prescriptions: Sequence[Any],
    models: Any,
    delivered: Sequence[Mapping[str, float] | None] | None = None,
) -> list[ServedInputs]:
    """The monitoring inputs of recommendations, in order: the feature rows the policy scored
    (`PatientInputs.row`, as `model_inputs`) and the per-modality predictions of each prescribed
    dose (`Recommendation.prescription`, None for hold and refer: `modality_predictions`), or,
    in a shadow deployment, of the plans the clinic `delivered` instead (`USUAL_CARE`)."""
    if delivered is None:
        per = modality_predictions(rows, prescriptions, models)
        scored = RECOMMENDED
    else:
        per = plan_predictions(rows, delivered, models)
        scored = USUAL_CARE
    return [ServedInputs(x, p, scored) for x, p in zip(model_inputs(rows), per, strict=True)]


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
