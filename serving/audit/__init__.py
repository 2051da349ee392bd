"""Append-only audit trail of every recommendation the service hands out.

Why it looks like this:

* SQLAlchemy 2 Core, one table (`audit_log`), any SQLAlchemy URL. SQLite is the default
  (``settings.audit_db_url``): WAL journal so readers never block the writer, a busy timeout so
  several server workers can share one file, ``synchronous=FULL`` (a committed row survives a
  crash and a power loss; measured at ~0.25 ms per sequential commit, ~0.07 ms with group commit).
* Append-only from the service's side: this module has an INSERT path and nothing else (no
  update, no delete). In the database, triggers refuse UPDATE and DELETE on both audit tables
  (SQLite and PostgreSQL; on PostgreSQL TRUNCATE too); on PostgreSQL also grant the service role
  INSERT and SELECT only.
* Schema by versioned Alembic migrations shipped in `serving/migrations` (`migrate`), run by the
  writer at start-up (service and CLI), for the audit database only, never the MLflow registry.
  Concurrent workers serialise on a lock (PostgreSQL: an advisory lock; SQLite: an flock on the
  file), so the version table gets one row; the migrations are also idempotent.
* Monitoring (issue #15): a record may carry its `monitoring_log` row (serving/monitoring.py);
  it is inserted in the same transaction as the audit row, linked by (writer_id, seq).
* Group commit: request handlers hand records to one writer thread per process and wait for the
  commit of the batch their record is in. Under load many requests share one transaction (cheap);
  a request is answered only after its row is committed (nothing is lost, even on a crash after
  the answer). `close()` drains the queue before stopping.
* Tamper-evident (issue #17): every row carries `row_hash` = SHA-256 of the previous row's hash
  and the row's own canonical JSON, chained per writer (`writer_id`, one per process, `seq` 1, 2,
  ...). Each commit also appends the writer's chain head (seq, hash) to `audit_chain_head`, and
  `close()` logs it. `verify()` (`dosewise audit verify`) recomputes every chain and reports gaps,
  edited and forged rows, a cut tail and missing triggers. Not tamper-proof: whoever can write the
  file can recompute a chain; keep the logged heads (or a copy) elsewhere to anchor it.
* Health: a failed commit marks the writer unhealthy (the service's /readyz turns 503); a
  heartbeat (a chain-head row, written only when no commit succeeded recently) marks it healthy
  again once the database takes writes.
* Files: a SQLite audit file is created 0600 (its WAL and SHM files inherit the mode).
* No PHI leaves this module through logs: errors are logged by exception type only.

| module | concern |
|---|---|
| `tables` | `audit_log`, `audit_chain_head`, the names the chain and the verifier share |
| `records` | one row from a response; canonical JSON and the request hash |
| `schema` | the Alembic migrations, run under a lock (`create_schema`, `migrate`) |
| `chain` | the hash chain and the only write path (`insert_records`) |
| `writer` | `AuditWriter`, the group-commit thread |

The engine (`make_engine`) is `serving/db.py`'s, shared with the other stores of the database;
`dosewise audit verify` is `serving/audit_verify.py`.
"""

from serving.audit.chain import (
    chain_records,
    genesis_hash,
    insert_records,
    row_digest,
    split_monitoring,
)
from serving.audit.records import canonical_json, make_record, request_hash
from serving.audit.schema import (
    MIGRATIONS,
    alembic_config,
    create_schema,
    current_revision,
    head_revision,
    migrate,
)
from serving.audit.tables import (
    CHAIN_COLUMNS,
    HASHED_WHEN_SET,
    SIDE_KEYS,
    TRIGGER_NAMES,
    audit_chain_head,
    audit_log,
    metadata,
)
from serving.audit.writer import AuditUnavailableError, AuditWriter
from serving.db import make_engine

__all__ = [
    "CHAIN_COLUMNS",
    "HASHED_WHEN_SET",
    "MIGRATIONS",
    "SIDE_KEYS",
    "TRIGGER_NAMES",
    "AuditUnavailableError",
    "AuditWriter",
    "alembic_config",
    "audit_chain_head",
    "audit_log",
    "canonical_json",
    "chain_records",
    "create_schema",
    "current_revision",
    "genesis_hash",
    "head_revision",
    "insert_records",
    "make_engine",
    "make_record",
    "metadata",
    "migrate",
    "request_hash",
    "row_digest",
    "split_monitoring",
]
