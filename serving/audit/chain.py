"""The tamper-evident hash chain (one per writer) and the only write path: chained rows, their
monitoring and review side rows and the chain head, inserted in one transaction."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Engine,
    insert,
)

from serving.audit.records import canonical_json
from serving.audit.tables import HASHED_WHEN_SET, SIDE_KEYS, audit_chain_head, audit_log
from serving.monitoring import MONITORING_KEY, monitoring_log
from serving.ui.store import review_page


def genesis_hash(writer_id: str) -> str:
    """The `prev_hash` of a writer's first row."""
    return hashlib.sha256(f"dosewise-audit-genesis:{writer_id}".encode()).hexdigest()


def row_digest(prev_hash: str, row: Mapping[str, Any]) -> str:
    """SHA-256 over the previous hash and the row's canonical JSON (all columns but id/row_hash;
    `ts` as ISO text in UTC, so a value read back from the database hashes the same)."""
    fields = {k: v for k, v in row.items() if k not in ("id", "row_hash", "prev_hash")}
    for name in HASHED_WHEN_SET:
        if fields.get(name) is None:
            fields.pop(name, None)
    ts = fields.get("ts")
    if isinstance(ts, dt.datetime):
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=dt.UTC)
        fields["ts"] = ts.astimezone(dt.UTC).isoformat()
    if fields.get("latency_ms") is not None:
        fields["latency_ms"] = float(fields["latency_ms"])
    return hashlib.sha256((prev_hash + canonical_json(fields)).encode("utf-8")).hexdigest()


def chain_records(
    records: Sequence[Mapping[str, Any]], writer_id: str, seq: int, head: str
) -> tuple[list[dict[str, Any]], int, str]:
    """Records with their chain columns, continuing after (`seq`, `head`); the new (seq, head)."""
    out = []
    for record in records:
        seq += 1
        row = {**record, "writer_id": writer_id, "seq": seq, "prev_hash": head}
        head = row_digest(head, {k: v for k, v in row.items() if k not in SIDE_KEYS})
        row["row_hash"] = head
        out.append(row)
    return out, seq, head


def insert_records(
    engine: Engine,
    records: Sequence[Mapping[str, Any]],
    head: Mapping[str, Any] | None = None,
    monitoring: Sequence[Mapping[str, Any]] = (),
    reviews: Sequence[Mapping[str, Any]] = (),
) -> None:
    """The only write path: one INSERT (executemany), the monitoring rows and the chain head,
    in one transaction."""
    if not records and head is None:
        return
    with engine.begin() as conn:
        if records:
            conn.execute(insert(audit_log), [dict(r) for r in records])
        if monitoring:
            conn.execute(insert(monitoring_log), [dict(m) for m in monitoring])
        if reviews:
            conn.execute(insert(review_page), [dict(r) for r in reviews])
        if head is not None:
            conn.execute(insert(audit_chain_head), [dict(head)])


def split_monitoring(
    rows: Sequence[Mapping[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Audit rows without their monitoring rows, and the monitoring rows linked to them."""
    audit_rows, monitoring = [], []
    for row in rows:
        clean = {k: v for k, v in row.items() if k not in SIDE_KEYS}
        audit_rows.append(clean)
        if row.get(MONITORING_KEY) is not None:
            link = {"writer_id": clean["writer_id"], "seq": clean["seq"]}
            monitoring.append({**row[MONITORING_KEY], **link})
    return audit_rows, monitoring
