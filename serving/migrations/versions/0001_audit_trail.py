"""The audit trail: `audit_log` (hash-chained) and `audit_chain_head`, append-only on both backends.

Idempotent on purpose: a database made by the pre-migration `create_all` (with or without the chain
columns) is brought to this revision instead of failing on "table exists".

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = ("audit_log", "audit_chain_head")
CHAIN_COLUMNS = {
    "writer_id": sa.String(36),
    "seq": sa.Integer(),
    "prev_hash": sa.String(64),
    "row_hash": sa.String(64),
}

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION dosewise_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$
"""


def _create_audit_log() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=False, index=True),
        sa.Column("as_of", sa.String(10), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False, index=True),
        sa.Column("endpoint", sa.String(32), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("prescription", sa.JSON, nullable=True),
        sa.Column("predictions", sa.JSON, nullable=True),
        sa.Column("rules", sa.JSON, nullable=False),
        sa.Column("tolerance_model", sa.String(128), nullable=False),
        sa.Column("tolerance_version", sa.String(32), nullable=False),
        sa.Column("adherence_model", sa.String(128), nullable=False),
        sa.Column("adherence_version", sa.String(32), nullable=False),
        sa.Column("guideline_version", sa.String(32), nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        *(sa.Column(name, kind, nullable=True) for name, kind in CHAIN_COLUMNS.items()),
    )
    op.create_index("ix_audit_log_writer_id", "audit_log", ["writer_id"])


def _create_chain_head() -> None:
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("writer_id", sa.String(36), nullable=False, index=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
    )


def _append_only_sqlite() -> None:
    for table in TABLES:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def _append_only_postgresql() -> None:
    op.execute(PG_FUNCTION)
    for table in TABLES:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE OR REPLACE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION dosewise_append_only()"
            )
        op.execute(
            f"CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION dosewise_append_only()"
        )


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    existing = set(inspector.get_table_names())
    if "audit_log" not in existing:
        _create_audit_log()
    else:
        have = {c["name"] for c in inspector.get_columns("audit_log")}
        for name, kind in CHAIN_COLUMNS.items():
            if name not in have:
                op.add_column("audit_log", sa.Column(name, kind, nullable=True))
    if "audit_chain_head" not in existing:
        _create_chain_head()
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _append_only_sqlite()
    elif dialect == "postgresql":
        _append_only_postgresql()
