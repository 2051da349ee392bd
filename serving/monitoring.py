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
* The schema is made by the versioned migrations in `serving/migrations` (revision 0002).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

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
    Column("tolerance_model", String(128), nullable=False),
    Column("tolerance_version", String(32), nullable=False),
    Column("adherence_model", String(128), nullable=False),
    Column("adherence_version", String(32), nullable=False),
)

# Key under which an audit record carries its monitoring row to the writer (not hashed, not a
# column of audit_log).
MONITORING_KEY = "_monitoring"


def model_inputs(rows: Sequence[Any]) -> list[dict[str, float | None]]:
    """Each feature row the policy scored (`PatientInputs.row`, FEATURE_SET order) as the
    monitoring row's `inputs`: JSON-safe numbers (NaN -> None). Taken from what the policy
    already built for the request (`recommend_many(inputs=...)`), never built a second time."""
    from features import FEATURE_SET

    names = list(FEATURE_SET.columns)
    return [{n: _number(v) for n, v in zip(names, row.tolist(), strict=True)} for row in rows]


def _number(value: Any) -> float | None:
    v = float(value)
    return None if math.isnan(v) or math.isinf(v) else v


def make_monitoring_row(
    audit_record: Mapping[str, Any], inputs: Mapping[str, float | None]
) -> dict[str, Any]:
    """The monitoring row of an audit record (its link columns are filled in at commit)."""
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
    return {**{k: audit_record[k] for k in keys}, "inputs": dict(inputs)}


def attach(
    records: Sequence[dict[str, Any]], inputs: Sequence[Mapping[str, float | None]]
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
