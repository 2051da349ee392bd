"""What a review page shows, stored per recommendation (`review_page`), never the raw request.

Why it looks like this:

* One row per recommendation, keyed by a random uuid (hex; the page id in its URL), written by
  the audit writer in the same transaction as its audit row and linked to it by (`writer_id`,
  `seq`), like `monitoring_log`: a recommendation has both rows or neither.
* `data` holds only what the page renders (decision, doses, rules, drivers grouped, weekly
  aggregates of the history, the names and dates of the data used), already reduced: no session
  rows, no free text, a pseudonymous patient id. The "doses considered" table is stored as its
  compact inputs (`considered_inputs`: the chosen week, each higher step's scores and flags, the
  envelope's bounds and the policy settings named; numbers only) and made when the page is
  opened, so /recommend does not format a table that is rarely read, and the page still shows
  what was decided then after a model promotion or a policy change.
* Not append-only: rows older than `DOSEWISE_REVIEW_RETENTION_DAYS` are treated as gone (404)
  and purged (at most hourly, from the recommend path). The audit trail is never purged.
* Schema by migration 0004 (serving/migrations/versions/0004_review_pages.py).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Engine,
    String,
    Table,
    delete,
    select,
)

from serving.db import audit_row_columns, metadata, patient_id_column, ts_column

review_page = Table(
    "review_page",
    metadata,
    Column("id", String(32), primary_key=True),  # uuid4 hex, the page id
    ts_column(index=True),
    *audit_row_columns(),
    patient_id_column(),
    Column("data", JSON, nullable=False),
)

# Key under which an audit record carries its review row to the writer (not hashed, not a
# column of audit_log; serving/audit/chain.py strips it like the monitoring row).
REVIEW_KEY = "_review"


def new_page_id() -> str:
    return uuid.uuid4().hex


def attach(records: list[dict[str, Any]], pages: list[tuple[str, dict[str, Any]]]) -> None:
    """Give each audit record its review row (id, data); link columns are filled at commit."""
    for record, (page_id, data) in zip(records, pages, strict=True):
        record[REVIEW_KEY] = {
            "id": page_id,
            "ts": record["ts"],
            "patient_id": record["patient_id"],
            "data": data,
        }


def load_page(
    engine: Engine, page_id: str, retention_days: int, now: dt.datetime | None = None
) -> dict[str, Any] | None:
    """The page's data with its audit link, or None (unknown, or past the retention period)."""
    cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=retention_days)
    with engine.connect() as conn:
        row = conn.execute(select(review_page).where(review_page.c.id == page_id)).first()
    if row is None:
        return None
    ts = row.ts if row.ts.tzinfo else row.ts.replace(tzinfo=dt.UTC)
    if ts < cutoff:
        return None
    return {**row.data, "page_id": row.id, "audit": {"writer_id": row.writer_id, "seq": row.seq}}


def purge(engine: Engine, retention_days: int, now: dt.datetime | None = None) -> int:
    """Delete review rows older than the retention period; the count deleted."""
    cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=retention_days)
    with engine.begin() as conn:
        return int(conn.execute(delete(review_page).where(review_page.c.ts < cutoff)).rowcount)


_last_purge = [-float("inf")]


def purge_hourly(engine: Engine, retention_days: int) -> int:
    """`purge` at most once an hour per process (cheap enough to call on every request)."""
    if time.monotonic() - _last_purge[0] < 3600:
        return 0
    _last_purge[0] = time.monotonic()
    return purge(engine, retention_days)


def review_rows(chained: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The review rows carried by chained audit rows, with their link columns."""
    out = []
    for row in chained:
        page = row.get(REVIEW_KEY)
        if page is not None:
            out.append({**page, "writer_id": row["writer_id"], "seq": row["seq"]})
    return out
