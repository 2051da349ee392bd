"""The CDS tables beside the audit trail (migration 0003): used JWT ids and card feedback.

Same database as the audit trail (`settings.audit_db_url`), its own small engine: the audit
writer's group commit is for audit rows; these writes are one row each and rare (a feedback
click, a token id). The schema is made by the audit writer's migrations at start-up.

* `claim_jti`: INSERT (iss, jti, exp) without waiting for the disk (`make_fast_engine`); a
  unique-key clash is a replay. Expired ids are purged now
  and then (they can no longer be replayed: the token itself is expired).
* `add_feedback`: append-only rows (triggers refuse UPDATE/DELETE), codes only, no comment text.
* `cards`: the audit rows (decision, rules) of card uuids, for the acceptance-rate metrics.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Engine,
    Integer,
    String,
    Table,
    delete,
    event,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError

from serving.audit import audit_log
from serving.db import id_column, make_engine, metadata, ts_column

cds_feedback = Table(
    "cds_feedback",
    metadata,
    id_column(),
    ts_column(),
    Column("card_uuid", String(64), nullable=False),
    Column("service_id", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("override_system", String(256), nullable=True),
    Column("override_code", String(64), nullable=True),
    Column("accepted_suggestions", JSON, nullable=False),
    Column("outcome_ts", DateTime(timezone=True), nullable=False),
    Column("iss", String(512), nullable=False),
)

cds_jti = Table(
    "cds_jti",
    metadata,
    Column("iss", String(512), primary_key=True),
    Column("jti", String(255), primary_key=True),
    Column("exp", Integer, nullable=False),
)

PURGE_EVERY_S = 300.0


def make_fast_engine(url: str) -> Engine:
    """An engine for the used-JWT table, whose commits need not wait for the disk: a crash can
    only forget ids of tokens that expire within 5 minutes anyway. SQLite: `synchronous=NORMAL`
    (WAL: no fsync per commit; FULL cost ~11 ms a call on a busy disk); PostgreSQL:
    `synchronous_commit` off per transaction (in `claim_jti`)."""
    engine = make_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _relaxed(dbapi_conn: Any, _record: Any) -> None:  # runs after make_engine's pragmas
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

    return engine


class CdsStore:
    """Reads and writes of the CDS tables (thread-safe; call from worker threads)."""

    def __init__(self, url: str, engine: Engine | None = None) -> None:
        self.engine = engine or make_engine(url)
        self.jti_engine = make_fast_engine(url)
        self._last_purge = 0.0
        self._lock = threading.Lock()

    def close(self) -> None:
        self.engine.dispose()
        self.jti_engine.dispose()

    def claim_jti(self, iss: str, jti: str, exp: int) -> bool:
        """True when (iss, jti) was not used before; False for a replay."""
        now = time.time()
        with self._lock:
            purge = now - self._last_purge > PURGE_EVERY_S
            if purge:
                self._last_purge = now
        try:
            with self.jti_engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SET LOCAL synchronous_commit TO OFF"))
                if purge:
                    conn.execute(delete(cds_jti).where(cds_jti.c.exp < int(now) - 120))
                conn.execute(insert(cds_jti), [{"iss": iss, "jti": jti, "exp": int(exp)}])
        except IntegrityError:
            return False
        return True

    def add_feedback(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append feedback rows in one transaction."""
        if rows:
            with self.engine.begin() as conn:
                conn.execute(insert(cds_feedback), [dict(r) for r in rows])

    def cards(self, uuids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """uuid -> {decision, rules, tenant} of the audit rows behind these cards."""
        wanted = sorted(set(uuids))
        if not wanted:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    audit_log.c.uuid, audit_log.c.decision, audit_log.c.rules, audit_log.c.tenant
                ).where(audit_log.c.uuid.in_(wanted))
            ).all()
        return {u: {"decision": d, "rules": list(r or []), "tenant": t} for u, d, r, t in rows}

    def acceptance(self) -> dict[str, dict[str, dict[str, int]]]:
        """Feedback counts joined to the audit trail: {"decision"|"rule": {key: {outcome: n}}}."""
        out: dict[str, dict[str, dict[str, int]]] = {"decision": {}, "rule": {}}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    cds_feedback.c.outcome,
                    audit_log.c.decision,
                    audit_log.c.rules,
                    func.count(),
                )
                .join(audit_log, audit_log.c.uuid == cds_feedback.c.card_uuid)
                .group_by(cds_feedback.c.outcome, audit_log.c.decision, audit_log.c.rules)
            ).all()
        for outcome, decision, rules, n in rows:
            per = out["decision"].setdefault(decision, {})
            per[outcome] = per.get(outcome, 0) + int(n)
            for rule in rules or []:
                per_r = out["rule"].setdefault(rule, {})
                per_r[outcome] = per_r.get(outcome, 0) + int(n)
        return out


def feedback_row(
    item: Any, service_id: str, iss: str, now: dt.datetime | None = None
) -> dict[str, Any]:
    """One `cds_feedback` row from a validated feedback item (no `userComment`)."""
    reason = item.overrideReason.reason if item.overrideReason is not None else None
    ts = item.outcomeTimestamp
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=dt.UTC)
    return {
        "ts": now or dt.datetime.now(dt.UTC),
        "card_uuid": item.card,
        "service_id": service_id,
        "outcome": item.outcome,
        "override_system": reason.system if reason is not None else None,
        "override_code": reason.code if reason is not None else None,
        "accepted_suggestions": [
            str(s.get("id"))[:64] for s in item.acceptedSuggestions if isinstance(s, dict)
        ],
        "outcome_ts": ts,
        "iss": iss,
    }
