"""Opening the local store safely: integrity check, daily backup, migrations, pragmas.

SQLite runs in WAL mode with ``synchronous=FULL`` so that a committed gate event survives a
power cut, and with foreign keys on. A damaged file is never "repaired" silently: the kiosk
refuses to start and names the last good backup.
"""

from __future__ import annotations

import hashlib
import sqlite3
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event

from kiosk.resources import package_dir

if TYPE_CHECKING:  # Alembic (about 11 MB) is imported only when a migration must run
    from alembic.config import Config

#: keep this many daily backups
BACKUPS_KEPT = 7
#: make a new backup when the newest one is older than this (seconds)
BACKUP_EVERY_S = 24 * 3600


class StoreError(Exception):
    """A problem with the local store that the volunteer or admin must be told about."""


class StoreCorrupt(StoreError):
    def __init__(self, path: Path, detail: str, backup: Path | None) -> None:
        self.path = path
        self.detail = detail
        self.backup = backup
        if backup is not None:
            hint = f"The last good backup is {backup}: copy it over {path} to go on."
        else:
            hint = "No backup was found; keep the file for the command's technicians."
        super().__init__(
            f"The kiosk database {path} is damaged ({detail}). The kiosk will not start on it. "
            f"{hint}"
        )


def migrations_dir() -> Path:
    """Where the Alembic scripts are: the data package ``kiosk.migrations``."""
    return package_dir("migrations")


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    return cfg


def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # autocommit at the driver level; transactions are begun explicitly in _on_begin so that
    # writers can take the write lock up front (BEGIN IMMEDIATE) and never deadlock on upgrade
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _on_begin(conn: Any) -> None:
    if conn.get_execution_options().get("sqlite_immediate"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def make_engine(path: Path) -> Engine:
    # connections may be used from the app's worker threads (each user takes a lock)
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


def integrity_problem(path: Path) -> str | None:
    """None when the file is a sound SQLite database, else what SQLite said."""
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = con.execute("PRAGMA quick_check").fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    if rows != [("ok",)]:
        return "; ".join(str(r[0]) for r in rows[:3])
    return None


def latest_backup(backup_dir: Path) -> Path | None:
    backups = sorted(backup_dir.glob("kiosk-*.sqlite3"))
    return backups[-1] if backups else None


def make_backup(path: Path, backup_dir: Path, *, force: bool = False) -> Path | None:
    """Copy the database with SQLite's online backup API, at most once a day unless forced.
    Only called after an integrity check passed, so every backup is a good one."""
    backup_dir.mkdir(parents=True, exist_ok=True)
    newest = latest_backup(backup_dir)
    if newest is not None and not force and time.time() - newest.stat().st_mtime < BACKUP_EVERY_S:
        return None
    target = backup_dir / f"kiosk-{datetime.now():%Y%m%d-%H%M%S}.sqlite3"
    src = sqlite3.connect(path)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    for old in sorted(backup_dir.glob("kiosk-*.sqlite3"))[:-BACKUPS_KEPT]:
        old.unlink()
    return target


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _migrated_stamp(conn: Any) -> int:
    """A stamp of the packaged migration scripts and the revision the file is at, kept in
    ``PRAGMA user_version`` after each upgrade: when it still matches, no migration can be
    pending and Alembic is not even imported. Any change to the scripts, a downgrade or a
    file from another version changes it, and Alembic decides."""
    try:
        rev = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    except Exception:  # noqa: BLE001 - no alembic_version table: a new file
        return -1
    digest = hashlib.sha256(str(rev).encode())
    for script in sorted((migrations_dir() / "versions").glob("*.py")):
        digest.update(script.name.encode() + b"\0" + script.read_bytes())
    return int.from_bytes(digest.digest()[:4], "big") & 0x7FFFFFFF


def upgrade(engine: Engine, *, only_if_needed: bool = False) -> None:
    """Apply all pending migrations (the only way the schema is made or changed);
    ``only_if_needed`` skips Alembic when the stamp says the file is at this head."""
    with engine.connect().execution_options(sqlite_immediate=True) as conn:
        stamp = conn.exec_driver_sql("PRAGMA user_version").scalar()
        if only_if_needed and stamp == _migrated_stamp(conn) != -1:
            conn.rollback()
            return
        from alembic import command

        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        conn.exec_driver_sql(f"PRAGMA user_version = {_migrated_stamp(conn)}")
        conn.commit()


@dataclass
class Store:
    path: Path
    engine: Engine

    def close(self) -> None:
        self.engine.dispose()


def open_store(path: Path, backup_dir: Path | None = None, *, migrate: bool = True) -> Store:
    """Check, back up and migrate the store at ``path``, creating it when absent.

    Raises StoreCorrupt (with the last good backup) when the file fails the integrity check.
    """
    backups = backup_dir if backup_dir is not None else path.parent / "backups"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.stat().st_size > 0:
        problem = integrity_problem(path)
        if problem is not None:
            raise StoreCorrupt(path, problem, latest_backup(backups))
    engine = make_engine(path)
    if migrate:
        upgrade(engine, only_if_needed=True)
    make_backup(path, backups)
    return Store(path=path, engine=engine)


if __name__ == "__main__":  # developer helper: python -m kiosk.store.db revision "message"
    import tempfile

    if len(sys.argv) == 3 and sys.argv[1] == "revision":
        with tempfile.TemporaryDirectory() as tmp:
            eng = make_engine(Path(tmp) / "dev.sqlite3")
            upgrade(eng)
            from alembic import command

            cfg = alembic_config()
            with eng.connect() as c:
                cfg.attributes["connection"] = c
                command.revision(cfg, message=sys.argv[2], autogenerate=True)
    else:
        print('usage: python -m kiosk.store.db revision "message"')
