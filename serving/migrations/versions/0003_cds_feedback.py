"""CDS Hooks (issue #13): who called and which card, on the audit row; card feedback; used JWT ids.

* `audit_log.uuid` (the CDS card's uuid, 128 random bits) and `audit_log.tenant` (the calling
  EHR's `iss`, and its `tenant` claim when sent): nullable, empty on rows from other endpoints.
  The hash chain covers them when set (`serving.audit.chain.row_digest` leaves them out when empty,
  so rows written before this revision verify as they did).
* `cds_feedback`: append-only (triggers as for the audit trail), one row per feedback outcome,
  joined to `audit_log` by the card uuid. Override reason codes only: free-text comments are
  never stored.
* `cds_jti`: the JWT ids already accepted, unique per issuer, so a replayed token is refused by
  every server worker; rows past their expiry are purged (not part of the audit trail).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

FEEDBACK = "cds_feedback"


def _append_only(dialect: str) -> None:
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER IF NOT EXISTS {FEEDBACK}_no_{verb.lower()} BEFORE {verb} ON "
                f"{FEEDBACK} BEGIN SELECT RAISE(ABORT, '{FEEDBACK} is append-only'); END"
            )
    elif dialect == "postgresql":  # dosewise_append_only() comes with revision 0001
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE OR REPLACE TRIGGER {FEEDBACK}_no_{verb.lower()} BEFORE {verb} ON "
                f"{FEEDBACK} FOR EACH ROW EXECUTE FUNCTION dosewise_append_only()"
            )
        op.execute(
            f"CREATE OR REPLACE TRIGGER {FEEDBACK}_no_truncate BEFORE TRUNCATE ON {FEEDBACK} "
            "FOR EACH STATEMENT EXECUTE FUNCTION dosewise_append_only()"
        )


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    have = {c["name"] for c in inspector.get_columns("audit_log")}
    if "uuid" not in have:
        op.add_column("audit_log", sa.Column("uuid", sa.String(36), nullable=True))
        op.create_index("ix_audit_log_uuid", "audit_log", ["uuid"], unique=True)
    if "tenant" not in have:
        op.add_column("audit_log", sa.Column("tenant", sa.String(512), nullable=True))
    tables = set(inspector.get_table_names())
    if FEEDBACK not in tables:
        op.create_table(
            FEEDBACK,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
            sa.Column("card_uuid", sa.String(64), nullable=False, index=True),
            sa.Column("service_id", sa.String(64), nullable=False),
            sa.Column("outcome", sa.String(16), nullable=False),
            sa.Column("override_system", sa.String(256), nullable=True),
            sa.Column("override_code", sa.String(64), nullable=True),
            sa.Column("accepted_suggestions", sa.JSON, nullable=False),
            sa.Column("outcome_ts", sa.DateTime(timezone=True), nullable=False),
            sa.Column("iss", sa.String(512), nullable=False),
        )
    if "cds_jti" not in tables:
        op.create_table(
            "cds_jti",
            sa.Column("iss", sa.String(512), primary_key=True),
            sa.Column("jti", sa.String(255), primary_key=True),
            sa.Column("exp", sa.Integer, nullable=False, index=True),
        )
    _append_only(op.get_bind().dialect.name)
