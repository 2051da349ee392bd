"""The two audit tables (`audit_log`, `audit_chain_head`) and the names the chain and the
verifier agree on (hashed-when-set columns, chain columns, side keys, the append-only triggers)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Float,
    Integer,
    String,
    Table,
)

from serving.db import id_column, metadata, model_columns, patient_id_column, ts_column
from serving.monitoring import MONITORING_KEY
from serving.ui.store import REVIEW_KEY

audit_log = Table(
    "audit_log",
    metadata,
    id_column(),
    ts_column(),
    patient_id_column(index=True),
    Column("as_of", String(10), nullable=False),
    Column("request_hash", String(64), nullable=False, index=True),
    Column("endpoint", String(32), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("prescription", JSON, nullable=True),
    Column("predictions", JSON, nullable=True),
    Column("rules", JSON, nullable=False),  # rule ids, in firing order
    *model_columns(),
    Column("guideline_version", String(32), nullable=False),
    Column("latency_ms", Float, nullable=False),
    # the hash chain (nullable only for rows written before it existed)
    Column("writer_id", String(36), nullable=True, index=True),
    Column("seq", Integer, nullable=True),
    Column("prev_hash", String(64), nullable=True),
    Column("row_hash", String(64), nullable=True),
    # CDS Hooks (issue #13, migration 0003): the card's uuid and the calling EHR; empty elsewhere
    Column("uuid", String(36), nullable=True, unique=True),
    Column("tenant", String(512), nullable=True),
)
# Columns hashed only when set: rows written before they existed verify as they did.
HASHED_WHEN_SET = ("uuid", "tenant")

# Append-only record of each writer's chain head after each commit (and heartbeat).
audit_chain_head = Table(
    "audit_chain_head",
    metadata,
    id_column(),
    Column("writer_id", String(36), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("head_hash", String(64), nullable=False),
    ts_column(),
)
CHAIN_COLUMNS = ("writer_id", "seq", "prev_hash", "row_hash")
SIDE_KEYS = (MONITORING_KEY, REVIEW_KEY)  # side rows a record carries (not hashed, own tables)

TRIGGER_NAMES = tuple(
    f"{table}_no_{op}" for table in ("audit_log", "audit_chain_head") for op in ("update", "delete")
)
