"""Opening the local store safely: integrity check, daily backup, migrations, pragmas.

SQLite runs in WAL mode with ``synchronous=FULL`` so that a committed gate event survives a
power cut, and with foreign keys on. A damaged file is never "repaired" silently: the kiosk
refuses to start and names the last good backup.

Opening a store that is at the packaged head imports neither Alembic nor SQLAlchemy: the
running app works through ``Store.db`` (kiosk.store.lite, the standard library's sqlite3);
``Store.engine`` (SQLAlchemy) is made on first use, by the migrations, the CLI tools and
the importer.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import sqlite3
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk.resources import package_dir
from kiosk.store import lite

if TYPE_CHECKING:  # Alembic (about 11 MB) is imported only when a migration must run, and
    # SQLAlchemy (16 MB) only by what uses Store.engine (never the running app)
    from alembic.config import Config
    from inotify_simple import INotify
    from sqlalchemy import Engine

log = logging.getLogger(__name__)

#: keep this many daily backups
BACKUPS_KEPT = 7
#: make a new backup when the newest one is older than this (seconds)
BACKUP_EVERY_S = 24 * 3600


class StoreError(Exception):
    """A problem with the local store that the volunteer or admin must be told about."""


class RecordingStopped(StoreError):
    """The kiosk must stop recording and the volunteer use the paper register: what was
    "recorded" now would not last. ``key`` names the screen text (kiosk.ui.i18n)."""

    key = "recording_stopped"


class DiskFull(RecordingStopped):
    key = "disk_full"

    def __init__(self, detail: str) -> None:
        super().__init__(f"the disk is full ({detail}): use the paper register and free space "
                         "(old exports, backups) before recording again")


class StoreReplaced(RecordingStopped):
    key = "store_replaced"

    def __init__(self, detail: str) -> None:
        super().__init__(f"{detail}: events recorded now would be lost. Use the paper "
                         "register and restart the kiosk")


def recording_stop(exc: BaseException) -> RecordingStopped | None:
    """The RecordingStopped an error amounts to, if any: itself, or a full disk as SQLite
    ("database or disk is full") or the OS (ENOSPC) reports it, however wrapped."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, RecordingStopped):
            return seen
        full_code = getattr(seen, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
        if (isinstance(seen, sqlite3.Error) and full_code) \
                or "database or disk is full" in str(seen):
            return DiskFull(str(seen).splitlines()[0])
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            return DiskFull(seen.strerror or "ENOSPC")
        seen = seen.__cause__ or seen.__context__
    return None


def _identity(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


class FileWatch:
    """Notices the database or its ``-wal`` file being removed or replaced under the running
    kiosk (a cleaning script, a careless ``rm``, a copy over the file): SQLite keeps writing
    into the unlinked file and reports success, and everything since is lost at the next
    restart.

    ``check`` is called inside every write transaction of the record path, before its
    commit. On Linux the kernel tells (inotify on the store's directory): a check reads
    whether anything was removed, renamed or created under either file's name since the
    last one, one ``ioctl`` on the watch, and looks at the files only then. Elsewhere, or
    when the watch cannot be had, every check ``stat``s both files; a ``stat`` of the WAL
    in the middle of a durable write costs 40-50 µs of the write here, a fifth of the
    gate's write rate (docs/BENCHMARKS.md, "Gate: the database-file watch").

    Looking at the files compares their identities with those seen before; only when they
    differ are this process's open files read (``/proc/self/fd``): an open descriptor on a
    deleted copy of either file means the files were swapped, and StoreReplaced is raised;
    otherwise SQLite itself re-created the WAL (every connection had closed) and the new
    identities are kept.
    """

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self.wal = self.path.with_name(self.path.name + "-wal")
        self._path, self._wal = str(self.path), str(self.wal)  # stat()ed per transaction
        self._names = {self.path.name, self.wal.name}
        self._known: tuple[tuple[int, int], tuple[int, int]] | None = None
        #: why recording stopped, once it has: every later check refuses too (a file put
        #: back at the path would not bring back what SQLite wrote into the removed one)
        self._gone: str | None = None
        self._lock = threading.Lock()  # one watch per file, shared by the process's writers
        self._notices = _directory_notices(self.path.parent)
        #: a notice about either file read (by ``names_changed``) and not yet looked into
        self._files_noticed = False
        #: notices of names changed in the directory so far (``names_changed``)
        self._changes = 0

    def check(self) -> None:
        """Raise StoreReplaced when the files this process writes are no longer the ones
        at their paths. Call inside a write transaction (the WAL exists then)."""
        with self._lock:
            if self._gone is not None:  # until the restart the message asks for
                raise StoreReplaced(self._gone)
            if self._known is not None and not self._noticed():
                return
            try:
                now = (_identity(self._path), _identity(self._wal))
            except FileNotFoundError as exc:
                self._gone = f"the database file {exc.filename} was removed"
                raise StoreReplaced(self._gone) from None
            if now == self._known:
                return
            deleted = self._deleted_open_files()
            if deleted:
                self._gone = f"the database file {deleted[0]} was removed or replaced"
                raise StoreReplaced(self._gone)
            self._known = now

    def names_changed(self) -> int | None:
        """How many names in the store's directory were created, removed or renamed since
        the watch began, as the kernel's notices tell; None without them (look at the
        directory then). The device key is linked into this directory at enrolment
        (kiosk.store.devicekey): a writer that found it absent need not look again until
        this count moves, and a ``stat`` of the directory in the middle of a durable write
        cost a few percent of the write rate (docs/BENCHMARKS.md, session 8)."""
        with self._lock:
            if self._notices is not None:
                self._drain()
            return None if self._notices is None else self._changes

    def _noticed(self) -> bool:
        """Whether either file may have changed since the last check (always, without the
        kernel's notices)."""
        if self._notices is not None:
            self._drain()
        if self._notices is None:
            return True
        noticed, self._files_noticed = self._files_noticed, False
        return noticed

    def _drain(self) -> None:
        """Reads every pending notice, so each is counted once (under ``_lock``)."""
        assert self._notices is not None
        try:
            events = self._notices.read(timeout=0)
        except OSError as exc:
            log.warning("the store's directory watch failed (%s): stat at every write", exc)
            self._stop_notices()
            return
        for event in events:
            if event.mask & _WATCH_GONE:  # the directory itself went: no more notices
                self._stop_notices()
                return
            self._changes += 1
            if event.mask & _OVERFLOW or event.name in self._names:
                self._files_noticed = True

    def _stop_notices(self) -> None:
        if self._notices is not None:
            self._notices.close()
            self._notices = None

    def _deleted_open_files(self) -> list[str]:
        names = {str(self.path), str(self.wal)}
        found = []
        try:
            fds = os.listdir("/proc/self/fd")
        except OSError:  # not Linux: only removals are seen
            return []
        for fd in fds:
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if target.endswith(" (deleted)") and target[:-len(" (deleted)")] in names:
                found.append(target[:-len(" (deleted)")])
        return found


#: inotify's masks (linux/inotify.h), as inotify_simple.flags has them: a name in the
#: directory removed, renamed away, renamed onto or created
_NAME_CHANGED = 0x200 | 0x40 | 0x80 | 0x100  # DELETE, MOVED_FROM, MOVED_TO, CREATE
#: the watched directory removed or renamed, its file system unmounted, the watch dropped
_WATCH_GONE = 0x400 | 0x800 | 0x2000 | 0x8000  # DELETE_SELF, MOVE_SELF, UNMOUNT, IGNORED
#: the kernel's queue overflowed: notices were lost
_OVERFLOW = 0x4000


def _directory_notices(directory: Path) -> INotify | None:
    """The kernel's notices of names changing in ``directory`` (Linux's inotify, through
    inotify_simple), or None where they cannot be had (another OS; the per-user limit of
    watches reached): the watch then looks at the files at every check."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        from inotify_simple import INotify

        notices = INotify(nonblocking=True)
    except (ImportError, OSError, AttributeError) as exc:  # no libc symbol (Android's?)
        log.warning("no directory watch for the store (%s): stat at every write", exc)
        return None
    try:
        notices.add_watch(directory, _NAME_CHANGED | 0x400 | 0x800)  # and DELETE/MOVE_SELF
    except OSError as exc:
        notices.close()
        log.warning("no directory watch for the store (%s): stat at every write", exc)
        return None
    return notices


_WATCHES: weakref.WeakValueDictionary[Path, FileWatch] = weakref.WeakValueDictionary()


def file_watch(path: Path) -> FileWatch:
    """The one FileWatch of a database file in this process (shared by its writers)."""
    path = path.resolve()
    watch = _WATCHES.get(path)
    if watch is None:
        watch = _WATCHES[path] = FileWatch(path)
    return watch


class BackupFailed(StoreError):
    """The daily backup could not be made (a full disk, most often); nothing was left."""


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
    # the same connection settings as the app's own (kiosk.store.lite); transactions are
    # begun explicitly in _on_begin
    lite.configure(dbapi_connection)


def _on_begin(conn: Any) -> None:
    if conn.get_execution_options().get("sqlite_immediate"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def create_private(path: Path) -> None:
    """Make ``path``'s directory (0700) and an empty ``path`` (0600) if absent, whatever the
    umask: SQLite gives its -wal and -shm files the database file's mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def make_engine(path: Path) -> Engine:
    from sqlalchemy import create_engine, event

    # connections may be used from the app's worker threads (each user takes a lock)
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


#: less free space than this (bytes) on the data directory's disk counts as a full disk
LOW_SPACE = 1 << 20


def disk_full(path: Path) -> bool:
    """Whether the disk holding ``path`` (a file or directory) has next to no free space."""
    probe = path if path.is_dir() else path.parent
    try:
        return shutil.disk_usage(probe).free < LOW_SPACE
    except OSError:
        return False


def integrity_problem(path: Path) -> str | None:
    """None when the file is a sound SQLite database, else what SQLite said.

    Only SQLite's "corrupt" and "not a database" mean damage: a file that cannot be read
    (a full disk cannot even hold the WAL index) raises DiskFull or StoreError instead, so
    nobody is told to restore a backup over a sound database."""
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = con.execute("PRAGMA quick_check").fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        code = getattr(exc, "sqlite_errorcode", sqlite3.SQLITE_CORRUPT) & 0xFF
        if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
            return str(exc)
        if code == sqlite3.SQLITE_FULL or disk_full(path):
            raise DiskFull(str(exc)) from exc
        raise StoreError(f"cannot read {path}: {exc}") from exc
    if rows != [("ok",)]:
        return "; ".join(str(r[0]) for r in rows[:3])
    return None


def _backups(backup_dir: Path) -> list[Path]:
    """Finished backups, oldest first (a backup under way has a ``.part`` name), by the
    time in their names: ``kiosk-YYYYMMDD-HHMMSSZ`` in UTC, or, made before the names were
    UTC, ``kiosk-YYYYMMDD-HHMMSS`` in the kiosk's local time (read in its present zone).
    Sorting the names as text would put a UTC name made soon after the upgrade before a
    local one of the same day on a kiosk east of Greenwich, and restore the older copy."""
    return sorted(backup_dir.glob("kiosk-*.sqlite3"), key=_backup_time)


def _backup_time(path: Path) -> tuple[datetime, str]:
    stamp = path.name.removeprefix("kiosk-").removesuffix(".sqlite3")
    try:
        if stamp.endswith("Z"):
            at = datetime.strptime(stamp, "%Y%m%d-%H%M%SZ").replace(tzinfo=UTC)
        else:
            at = datetime.strptime(stamp, "%Y%m%d-%H%M%S").astimezone(UTC)
    except ValueError:  # a name someone gave a copy: by its name, before the dated ones
        at = datetime.min.replace(tzinfo=UTC)
    return at, path.name


def latest_backup(backup_dir: Path) -> Path | None:
    """The newest backup that verifies (integrity check): the one to restore. An empty or
    damaged file (a backup the old code left on a full disk) is passed over."""
    for candidate in reversed(_backups(backup_dir)):
        try:
            if candidate.stat().st_size > 0 and integrity_problem(candidate) is None:
                return candidate
        except (OSError, StoreError):
            continue  # unreadable now: not one to name
    return None


def _event_count(con: sqlite3.Connection) -> int:
    try:
        return int(con.execute("SELECT count(*) FROM gate_events").fetchone()[0])
    except sqlite3.OperationalError:  # a store not migrated yet has no events
        return 0


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_backup(path: Path, backup_dir: Path, *, force: bool = False) -> Path | None:
    """Copy the database with SQLite's online backup API, at most once a day unless forced.

    The copy is written under a temporary name, fsynced, verified (integrity check, and as
    many events as the database had) and only then renamed into place, atomically: a full
    disk or a power cut never leaves a backup that is not a good one. A failed copy is
    removed and BackupFailed raised (the app shows it on the gate screen); the next start
    tries again at once, since only good backups count towards the daily one."""
    backup_dir.mkdir(parents=True, exist_ok=True)
    for stale in backup_dir.glob("kiosk-*.sqlite3.part*"):
        stale.unlink()  # a copy cut short by a crash
    newest = next((b for b in reversed(_backups(backup_dir)) if b.stat().st_size > 0), None)
    if newest is not None and not force and time.time() - newest.stat().st_mtime < BACKUP_EVERY_S:
        return None
    # named in UTC ("Z"): names sort as the backups were made (the newest is the one to
    # restore, the oldest are removed) even after the kiosk's zone was set back
    target = backup_dir / f"kiosk-{datetime.now(UTC):%Y%m%d-%H%M%S}Z.sqlite3"
    part = target.with_name(target.name + ".part")
    try:
        src = sqlite3.connect(path)
        try:
            before = _event_count(src)
            dst = sqlite3.connect(part)
            try:
                src.backup(dst)
                # one self-contained file: no -wal beside it, however it is opened later
                dst.execute("PRAGMA journal_mode=DELETE")
                copied = _event_count(dst)
            finally:
                dst.close()
            after = _event_count(src)
        finally:
            src.close()
        _fsync(part)
        problem = integrity_problem(part)
        if problem is None and not before <= copied <= after:
            problem = f"{copied} events copied, the database has {before}"
        if problem is not None:
            raise BackupFailed(f"the backup did not verify ({problem})")
        os.replace(part, target)
        _fsync(backup_dir)
    except (OSError, sqlite3.Error, StoreError) as exc:
        for leftover in (part, *backup_dir.glob(part.name + "-*")):
            leftover.unlink(missing_ok=True)
        if isinstance(exc, BackupFailed):
            raise
        raise BackupFailed(f"the backup to {backup_dir} failed: {exc}") from exc
    for old in _backups(backup_dir)[:-BACKUPS_KEPT]:
        old.unlink()
    return target


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _migrated_stamp(con: sqlite3.Connection) -> int:
    """A stamp of the packaged migration scripts and the revision the file is at, kept in
    ``PRAGMA user_version`` after each upgrade: when it still matches, no migration can be
    pending and neither Alembic nor SQLAlchemy is even imported. Any change to the scripts,
    a downgrade or a file from another version changes it, and Alembic decides."""
    try:
        rev = lite.one(con, "SELECT version_num FROM alembic_version")
    except sqlite3.OperationalError:  # no alembic_version table: a new file
        return -1
    digest = hashlib.sha256(str(rev).encode())
    for script in sorted((migrations_dir() / "versions").glob("*.py")):
        digest.update(script.name.encode() + b"\0" + script.read_bytes())
    return int.from_bytes(digest.digest()[:4], "big") & 0x7FFFFFFF


def at_head(path: Path) -> bool:
    """Whether the file is migrated to the packaged head (its stamp says so): read with
    sqlite3 alone, so a kiosk with nothing to migrate loads neither Alembic nor SQLAlchemy."""
    con = lite.connect(path)
    try:
        with lite.transaction(con):
            stamp = lite.one(con, "PRAGMA user_version")
            return bool(stamp == _migrated_stamp(con) != -1)
    finally:
        con.close()


def upgrade(engine: Engine, *, only_if_needed: bool = False) -> None:
    """Apply all pending migrations (the only way the schema is made or changed);
    ``only_if_needed`` skips Alembic when the stamp says the file is at this head."""
    with engine.connect().execution_options(sqlite_immediate=True) as conn:
        driver: Any = conn.connection.driver_connection
        stamp = lite.one(driver, "PRAGMA user_version")
        if only_if_needed and stamp == _migrated_stamp(driver) != -1:
            conn.rollback()
            return
        from alembic import command

        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        conn.exec_driver_sql(f"PRAGMA user_version = {_migrated_stamp(driver)}")
        conn.commit()


@dataclass
class Store:
    path: Path
    #: why today's backup failed (shown on the gate screen), None when it is fine
    backup_problem: str | None = None
    #: where the daily backups go (None: <directory of the database>/backups)
    backup_dir: Path | None = None
    #: the running app's connections (sqlite3, kiosk.store.lite)
    db: lite.Db = field(init=False)

    def __post_init__(self) -> None:
        self.db = lite.Db(self.path)

    @cached_property
    def engine(self) -> Engine:
        """SQLAlchemy's engine on the same file, made on first use: the migrations, the
        importer, the CLI tools (never the running app: kiosk.store.lite)."""
        return make_engine(self.path)

    def close(self) -> None:
        self.db.close()
        if "engine" in self.__dict__:
            self.engine.dispose()

    def daily_backup(self) -> Path | None:
        """Make the day's backup when one is due (make_backup keeps it to one a day), and
        say why in ``backup_problem`` when it fails: called at start and then by the
        running app's chores (kiosk.ui.services.Chores), so a kiosk that runs for days
        backs up every day, not only when it starts. The new backup, or None."""
        try:
            made = make_backup(self.path, self.backup_dir or self.path.parent / "backups")
        except BackupFailed as exc:
            log.error("%s", exc)
            self.backup_problem = str(exc)
            return None
        if made is not None:
            self.backup_problem = None
        return made


def open_store(path: Path, backup_dir: Path | None = None, *, migrate: bool = True) -> Store:
    """Check, back up and migrate the store at ``path``, creating it when absent.

    Raises StoreCorrupt (with the newest backup that verifies) when the file fails the
    integrity check. A failed backup does not stop the kiosk: ``Store.backup_problem`` says
    why, for the gate screen.
    """
    backups = backup_dir if backup_dir is not None else path.parent / "backups"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.exists() and path.stat().st_size > 0:
        problem = integrity_problem(path)
        if problem is not None:
            raise StoreCorrupt(path, problem, latest_backup(backups))
    create_private(path)
    store = Store(path=path, backup_dir=backups)
    if migrate and not at_head(path):
        upgrade(store.engine)
    store.daily_backup()
    return store


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
