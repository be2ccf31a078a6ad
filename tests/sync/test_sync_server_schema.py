"""The central store's schema comes from its own Alembic migrations, which agree with its
models; on PostgreSQL the events table is partitioned by day."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sync_testkit import shared_cluster

from kiosk.server.db import (
    Partitions,
    alembic_config,
    make_server_engine,
    open_server_store,
    partition_name,
)
from kiosk.server.models import ServerBase


def test_one_head_and_the_models_match_the_migrations(tmp_path: Path):
    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1
    engine = open_server_store(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                ServerBase.metadata)
    assert diff == [], diff
    cfg = alembic_config()
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
        command.upgrade(cfg, "head")
        conn.commit()
    engine.dispose()


def test_on_postgresql_events_are_partitioned_by_day():
    url = shared_cluster().new_database("schema")
    engine = open_server_store(url)
    open_server_store(url).dispose()  # a second start (another worker) changes nothing
    day = date.today() + timedelta(days=30)
    Partitions(engine).ensure([day, day])
    with engine.connect() as conn:
        kind = conn.execute(text("SELECT relkind FROM pg_class WHERE relname = 'events'"))
        assert kind.scalar_one() == "p"
        parts = conn.execute(text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events'")).scalars()
        names = set(parts)
    assert partition_name(day) in names and partition_name(date.today()) in names
    engine.dispose()
    make_server_engine(url).dispose()
