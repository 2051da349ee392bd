"""`dosewise audit verify`: recompute the audit trail's hash chains and report every break.

What each finding means (the `serving.audit` package docstring explains the chain):
* `edited`: a row's content no longer gives its `row_hash` (a column was changed);
* `forged`: a row whose `prev_hash` is not its predecessor's hash, or a writer with rows but no
  recorded chain head (a row inserted by hand, e.g. after dropping the triggers);
* `gap`: a `seq` missing in a writer's chain (a row deleted), or a duplicate `seq`;
* `truncated`: the last recorded chain head is beyond the last row (the tail was cut);
* `triggers`: an append-only trigger is missing (SQLite and PostgreSQL);
* rows written before the chain existed are counted as `unchained`, not as a problem.
Reads only; never writes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, func, select, text

from serving.audit import TRIGGER_NAMES, audit_chain_head, audit_log, genesis_hash, row_digest


@dataclass
class VerifyReport:
    rows: int = 0
    writers: int = 0
    unchained: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _heads(engine: Engine) -> dict[str, tuple[int, str]]:
    """The last recorded (seq, head hash) of each writer."""
    with engine.connect() as conn:
        last = (
            select(audit_chain_head.c.writer_id, func.max(audit_chain_head.c.id).label("id"))
            .group_by(audit_chain_head.c.writer_id)
            .subquery()
        )
        rows = conn.execute(
            select(
                audit_chain_head.c.writer_id, audit_chain_head.c.seq, audit_chain_head.c.head_hash
            ).join(last, audit_chain_head.c.id == last.c.id)
        ).all()
    return {w: (int(s), h) for w, s, h in rows}


def _check_chain(
    writer: str, rows: list[dict[str, Any]], head: tuple[int, str] | None
) -> list[str]:
    problems = []
    prev, expected_seq = genesis_hash(writer), 1
    for row in rows:
        where = f"writer {writer[:8]} seq {row['seq']} (id {row['id']})"
        if row["seq"] != expected_seq:
            kind = "gap" if row["seq"] > expected_seq else "gap (duplicate seq)"
            problems.append(f"{kind}: {where}, expected seq {expected_seq}")
        if row["prev_hash"] != prev:
            problems.append(f"forged: {where} does not follow the previous row")
        if row_digest(row["prev_hash"] or "", row) != row["row_hash"]:
            problems.append(f"edited: {where} does not match its hash")
        prev, expected_seq = row["row_hash"], row["seq"] + 1
    if head is None:
        problems.append(f"forged: writer {writer[:8]} has rows but no recorded chain head")
    elif head[0] > expected_seq - 1 or (head[0] == expected_seq - 1 and head[1] != prev):
        problems.append(
            f"truncated: writer {writer[:8]} recorded head seq {head[0]}, last row seq "
            f"{expected_seq - 1}"
        )
    return problems


def _trigger_names(conn: Connection) -> set[str] | None:
    """The triggers defined in the database (None on a backend we do not know how to ask)."""
    if conn.dialect.name == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    elif conn.dialect.name == "postgresql":
        query = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgenabled <> 'D'"
    else:
        return None
    return set(conn.execute(text(query)).scalars().all())


def verify(engine: Engine) -> VerifyReport:
    """Check every writer's chain, the recorded heads and the append-only triggers."""
    report = VerifyReport()
    heads = _heads(engine)
    chains: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with engine.connect() as conn:
        result = conn.execute(select(audit_log).order_by(audit_log.c.writer_id, audit_log.c.seq))
        for row in result.mappings():
            report.rows += 1
            if row["writer_id"] is None:
                report.unchained += 1
            else:
                chains[row["writer_id"]].append(dict(row))
        names = _trigger_names(conn)
        if names is not None:
            missing = [t for t in TRIGGER_NAMES if t not in names]
            if missing:
                report.problems.append(f"triggers: missing {', '.join(missing)}")
    report.writers = len(chains)
    for writer, (seq, _) in heads.items():
        if seq > 0 and writer not in chains:
            report.problems.append(f"truncated: writer {writer[:8]} recorded seq {seq}, no rows")
    for writer, rows in chains.items():
        report.problems.extend(_check_chain(writer, rows, heads.get(writer)))
    return report
