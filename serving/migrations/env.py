"""Alembic environment for the audit database: always run on a connection handed in by
`serving.audit.migrate` (never from a URL in a config file, never against the MLflow registry)."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
