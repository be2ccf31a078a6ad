"""Alembic environment: run from code (kiosk.store.db.upgrade) with a passed connection,
or from the alembic CLI with ``-x db=PATH``. Batch mode because SQLite cannot ALTER much."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from kiosk.store.models import metadata

config = context.config
target_metadata = metadata


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    db_path = context.get_x_argument(as_dictionary=True).get("db", "kiosk.sqlite3")
    engine = create_engine(f"sqlite:///{db_path}")
    with engine.begin() as conn:
        _run(conn)
