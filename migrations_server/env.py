"""Alembic environment of the central store: run from code (kiosk.server.db.upgrade) with a
passed connection. Batch mode for SQLite, as for the kiosk's own migrations."""

from __future__ import annotations

from alembic import context

from kiosk.server.models import ServerBase

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=ServerBase.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
