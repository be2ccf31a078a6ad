"""Alembic migrations are the only source of the schema, and they agree with the models."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from kiosk.store.db import alembic_config, current_revision, head_revision, make_engine, upgrade
from kiosk.store.models import metadata


def test_there_is_a_single_head():
    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1


def test_upgrade_from_empty_reaches_head_and_matches_the_models(tmp_path: Path):
    engine = make_engine(tmp_path / "k.sqlite3")
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), metadata
        )
    assert diff == [], f"models and migrations disagree: {diff}"


def test_every_step_downgrades_and_upgrades_again(tmp_path: Path):
    engine = make_engine(tmp_path / "k.sqlite3")
    cfg = alembic_config()
    revisions = list(ScriptDirectory.from_config(cfg).walk_revisions())
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        for _ in revisions:
            command.downgrade(cfg, "-1")
        tables = conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type='table' AND name != 'alembic_version'"
        ).all()
        assert tables == []
        command.upgrade(cfg, "head")
        conn.commit()
    assert current_revision(engine) == head_revision()


def test_upgrade_is_idempotent(tmp_path: Path):
    engine = make_engine(tmp_path / "k.sqlite3")
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
