"""Recording gate events durably, in order, chained by hash.

One event is one SQLite transaction taken with BEGIN IMMEDIATE (so two processes on the same
file never hand out the same sequence number) and committed with synchronous=FULL in WAL
mode: when ``record_event`` returns, the event survives a power cut. Only then may the app
show the green or red screen.
"""

from __future__ import annotations

import logging
import operator
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk.core.clock import ClockSample, ClockState, assess_clock
from kiosk.core.event import (
    EVENT_FIELDS,
    NOT_HASHED,
    PERSONAL_FIELDS,
    READING_FIELDS,
    EventInvalid,
    EventReading,
    GateEvent,
    IdentifiedBy,
    Movement,
    Visitor,
    as_stored,
    canonical,
    check,
    check_values_but,
    event_hash,
    field_specs,
    is_anonymised,
    personal_digest,
    refusal,
    row_of,
)
from kiosk.core.model import PassKind
from kiosk.store import lite
from kiosk.store.db import file_watch
from kiosk.store.devicekey import KEY_FILE, DeviceKey, load_key

if TYPE_CHECKING:  # the tools' functions below take SQLAlchemy's engine; the app never does
    from sqlalchemy import Engine

    from kiosk.store.lite import Source

log = logging.getLogger(__name__)

#: the tables the event's fields make (kiosk.store.models builds them from the same fields)
EVENTS_TABLE = "gate_events"
READINGS_TABLE = "readings"


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    id: str
    seq: int
    wall_utc: datetime
    local_date: date
    clock_state: ClockState
    hash: str


class _SeqTaken(Exception):
    """The seq after the remembered last event is taken: another writer appended since."""


@dataclass(frozen=True, slots=True)
class _Last:
    """A device's newest event as the next one needs it: its seq and hash (the chain) and
    its clock sample (kiosk.core.clock.assess_clock)."""

    device_id: str
    seq: int
    hash: str
    clock: ClockSample


#: the hash chain's functions live with the record's codec (kiosk.core.event); named here too
#: because the store is where the chain is kept
__all__ = ["NOT_HASHED", "PERSONAL_FIELDS", "EventInvalid", "Movement", "Visitor",
           "canonical", "event_hash", "is_anonymised", "personal_digest"]
_canonical = canonical  # the name tests/sync/test_sync_canonical.py pins


def make_event(values: dict[str, Any], readings: Sequence[dict[str, Any]]) -> GateEvent:
    """The typed event, checked against every limit of the type; raises EventInvalid with a
    message for people, before anything is written."""
    try:
        event = GateEvent(**values, readings=tuple(EventReading(**r) for r in readings))
    except TypeError as exc:  # a field the type does not have, or one missing
        raise refusal("event", str(exc)) from None
    # kiosk.core.event.check: the limits the central store's pydantic validator checks,
    # without loading pydantic on the kiosk (tests/test_core_event.py proves them equal)
    return check(event)


def _insert_sql(table: str, names: Sequence[str]) -> tuple[list[str], str]:
    """INSERT of ``names`` (the codec's field order; the table's columns are made from the
    same fields, and tests/test_store_sql.py checks them against the migrated table)."""
    cols = list(names)
    marks = ",".join("?" * len(cols))
    return cols, f"INSERT INTO {table} ({','.join(cols)}) VALUES ({marks})"


_EVENT_COLS, _INSERT_EVENT = _insert_sql(EVENTS_TABLE, EVENT_FIELDS)
_READING_COLS, _INSERT_READING = _insert_sql(READINGS_TABLE, READING_FIELDS)
#: the event's fields ``append`` takes as they are from the Movement field of the same name:
#: every field it does not compute itself (a field added to the event, docs/ARCHITECTURE.md
#: recipe e); a field neither computed nor on Movement fails here, at import
_COMPUTED = frozenset({
    "id", "device_id", "seq", "wall_utc", "utc_offset_min", "local_date", "monotonic_s",
    "boot_id", "clock_state", "checkpoint", "volunteer_id", "direction", "identified_by",
    "pass_number", "pass_id", "pass_kind", "resident_id", "household", "visitor_name",
    "visitor_phone", "visitor_reason", "host_building", "outcome", "reason",
    "counts_against_quota", "escalated", "fever_threshold_c", "forehead_offset_c",
    "corrects_event_id", "note", "prev_hash", "personal_digest", "hash", "signature",
    "rules_version"})
_FROM_MOVEMENT = tuple(n for n in EVENT_FIELDS if n not in _COMPUTED)
assert set(_FROM_MOVEMENT) <= set(Movement.__dataclass_fields__), \
    f"give Movement a field for each of {_FROM_MOVEMENT}"
#: a reading's fields besides its key, as the core's Reading has them (same names)
_FROM_READING = tuple(n for n in READING_FIELDS if n not in ("event_id", "ordinal"))
_reading_values = operator.attrgetter(*_FROM_READING)
#: the fields ``append`` makes itself, valid by construction: a UUID, the next seq, the
#: clock's state, SHA-256 hex digests, this kiosk's previous hash and its own signature;
#: every other field (what the caller, the settings, the clock and the readings give) is
#: checked against the type's limits on every event
_BY_CONSTRUCTION = ("id", "seq", "clock_state", "prev_hash", "personal_digest", "hash",
                    "signature")
_check_given = check_values_but(_BY_CONSTRUCTION)
_reading_row = operator.attrgetter(*READING_FIELDS)
# the event's enum values are bound as their text, as sqlite3 binds any str subclass, but
# by an adapter found at once: without one, sqlite3 first looks for an adaptation protocol
# on the value (a quarter of a microsecond for each of a movement's seven)
for _spec in (*field_specs(GateEvent), *field_specs(EventReading)):
    if issubclass(_spec.kind, Enum):
        sqlite3.register_adapter(_spec.kind, str.__str__)
_INSERT_OUTBOX = "INSERT INTO outbox (event_id, seq, attempts, last_error, quarantined) " \
    "VALUES (?, ?, 0, '', 0)"
_LAST_SQL = ("SELECT seq, hash, wall_utc, monotonic_s, boot_id FROM gate_events "
             "WHERE device_id = ? ORDER BY seq DESC LIMIT 1")


class Checkpointer:
    """Folds the WAL into the database file from a thread of its own, so a gate commit never
    pays for a checkpoint (SQLite would otherwise run one inside every ~1000th commit,
    fsyncing the main file: the p99 of a movement).

    It checkpoints once ``commits`` commits have been made since the last checkpoint (about
    SQLite's own 1000 pages), and at most once per ``interval_s``. Not after every commit:
    a WAL checkpointed whole is started over by the next commit, which then syncs the WAL's
    new header before its frames, so at a gate (a person every few seconds) every movement
    paid two fsyncs and the checkpoint a third (docs/BENCHMARKS.md, session 8).

    A passive checkpoint never blocks the writer, but while writes go on it never finishes
    either: the writer adds frames while it copies, so the WAL is never started over and
    grows, every commit extending the file (133 MB in 6,000 writes in a row, each commit
    twice as slow). So when the WAL is long (``restart_frames``) after a passive
    checkpoint, the few frames written meanwhile are copied holding ``hold`` (the writer's
    lock): the WAL is then wholly in the database file, and the next commit writes it from
    its start again. At a gate the writer is idle at each checkpoint, and ``hold`` is
    never waited for."""

    def __init__(self, path: Path, hold: AbstractContextManager[object], *,
                 commits: int = 100, interval_s: float = 0.1,
                 restart_frames: int = 1000) -> None:
        self._path = path
        self._hold = hold
        self._commits = commits
        self._interval_s = interval_s
        self._restart_frames = restart_frames
        #: commits since the last checkpoint began (only the writer adds, under its lock)
        self._pending = 0
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        """One commit made: a checkpoint is due after ``commits`` of them."""
        self._pending += 1
        if self._pending >= self._commits and not self._wake.is_set():
            self._wake.set()

    def stop(self) -> None:
        """Ends the thread (not while holding the writer's lock: the thread may wait for it)."""
        self._stopping = True
        self._wake.set()
        self._thread.join(5.0)

    def _checkpoint(self, raw: sqlite3.Connection) -> None:
        try:
            _, frames, _ = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            # ``frames``: the WAL's length when that checkpoint began; frames written while
            # it copied are not in it, so that it copied them all does not say it finished
            if frames >= self._restart_frames and not self._stopping:
                with self._hold:
                    raw.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:  # a full disk: the writes report it themselves
            log.warning("WAL checkpoint failed: %s", exc)

    def _run(self) -> None:
        raw = lite.connect(self._path)
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                self._pending = 0
                self._checkpoint(raw)
                if self._stopping:
                    return
                time.sleep(self._interval_s)
        finally:
            raw.close()


#: a directory changed this recently (ns) may change again within the same tick of its
#: coarse timestamp: its absence of a key is not cached until then
_SETTLED_NS = 1_000_000_000


class EventWriter:
    """Appends events on one long-lived sqlite3 connection with pre-built SQL.

    This is the kiosk's hot path (every person at the gate): one BEGIN IMMEDIATE transaction
    per movement, in which the caller may also read what the decision needs (roster, quota),
    so two processes on one file can never both spend a household's last outing. Everything
    goes to the sqlite3 connection with ready SQL (kiosk.store.lite), so the cost is close to
    SQLite's durable commit itself. Thread-safe: the app records from worker threads.
    """

    def __init__(self, path: Path, *, background_checkpoints: bool = True) -> None:
        self._con = lite.connect(path)
        self._lock = threading.RLock()
        self._watch = file_watch(path)
        self._checkpointer: Checkpointer | None = None
        if background_checkpoints:
            self._con.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpointer = Checkpointer(path, self._lock)
        # the kiosk's signing key lives beside its database (kiosk.store.devicekey); looked
        # for at every event until it exists, so a key made by `kiosk sync enrol` in another
        # process signs this process's next event
        self._key_dir = str(path.parent)
        self._key_path = path.parent / KEY_FILE
        self._key: DeviceKey | None = None
        #: what said the directory was as it is when the key was last found absent (the
        #: count of its names changed, or its mtime in ns): until the directory changes
        #: (the key is linked into it at enrolment), it is still absent
        self._absent_as_of: tuple[str, int] | None = None
        self._key_problem_logged = False
        #: the newest event this writer committed, so the next append need not read it back
        #: (``_LAST_SQL``). Checked by that append's own insert: a writer in another process
        #: (or another EventWriter) that appended since has taken seq + 1, the insert breaks
        #: UNIQUE(device_id, seq), and the append starts again from the row read back. Kept
        #: only once committed (``_appended`` until then), forgotten at any failure.
        self._last: _Last | None = None
        self._appended: _Last | None = None

    def _signing_key(self) -> DeviceKey | None:
        """The device key, once it exists; a damaged key file is logged and the event is
        recorded unsigned (the gate never stops for it; the district then refuses it
        and the command sees why). An unenrolled kiosk does not try to open the file at
        every event: it looks again only once the directory's names changed, as the
        kernel's notices tell (kiosk.store.db.FileWatch.names_changed), or without them
        once the directory's mtime moved (one ``stat``)."""
        if self._key is not None:
            return self._key
        # what says the directory is as it was: the kernel's count, else its mtime
        changes = self._watch.names_changed()
        mtime: int | None = None
        seen: tuple[str, int] | None = None
        if changes is not None:
            seen = ("notices", changes)
        else:
            try:
                mtime = os.stat(self._key_dir).st_mtime_ns
                seen = ("mtime", mtime)
            except OSError:
                pass
        if seen is not None and seen == self._absent_as_of:
            return None
        try:
            self._key = load_key(self._key_path)
        except (OSError, ValueError, TypeError) as exc:
            if not self._key_problem_logged:
                log.error("cannot use the device key %s: %s", self._key_path, exc)
                self._key_problem_logged = True
            return None
        # an mtime is remembered only once settled: the same coarse tick may hold the link
        if self._key is None and seen is not None \
                and (mtime is None or time.time_ns() - mtime > _SETTLED_NS):
            self._absent_as_of = seen
        return self._key

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        with self._lock:
            self._con.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT (durable) around the block; ROLLBACK on error.
        Before the commit, the database files are checked to be the ones on disk
        (kiosk.store.db.FileWatch: StoreReplaced stops recording)."""
        with self._lock:
            # lite.transaction written out: this is every movement's path (one generator
            # and its context manager less)
            con = self._con
            self._appended = None
            try:
                con.execute("BEGIN IMMEDIATE")
                try:
                    yield con
                    self._watch.check()
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")
            except BaseException:
                self._last = self._appended = None  # read the newest event back next time
                raise
            if self._appended is not None:
                self._last, self._appended = self._appended, None
            if self._checkpointer is not None:
                self._checkpointer.poke()

    def record(
        self,
        device_id: str,
        movement: Movement,
        clock: ClockSample,
        os_synced: bool | None,
    ) -> RecordedEvent:
        """Append one event and its readings; returns after the durable commit."""
        with self.transaction() as conn:
            return self.append(conn, device_id, movement, clock, os_synced)

    def append(
        self,
        raw: sqlite3.Connection,
        device_id: str,
        movement: Movement,
        clock: ClockSample,
        os_synced: bool | None,
    ) -> RecordedEvent:
        """Append inside ``transaction()``; durable once that block has committed."""
        last = self._last
        if last is None or last.device_id != device_id:
            return self._append(raw, device_id, movement, clock, os_synced,
                                self._read_last(raw, device_id))
        try:
            return self._append(raw, device_id, movement, clock, os_synced, last, cached=True)
        except _SeqTaken:
            # another writer appended since this one's last event: go on from the newest
            # event in the file (a failure then is a real one, raised as it is)
            self._last = None
            return self._append(raw, device_id, movement, clock, os_synced,
                                self._read_last(raw, device_id))

    @staticmethod
    def _read_last(raw: sqlite3.Connection, device_id: str) -> _Last | None:
        row = raw.execute(_LAST_SQL, (device_id,)).fetchone()
        if row is None:
            return None
        seq, hash_, wall_utc, monotonic_s, boot_id = row
        wall_s = datetime.fromisoformat(wall_utc).replace(tzinfo=UTC).timestamp()
        return _Last(device_id, seq, hash_, ClockSample(wall_s, monotonic_s, boot_id))

    def _append(
        self,
        raw: sqlite3.Connection,
        device_id: str,
        movement: Movement,
        clock: ClockSample,
        os_synced: bool | None,
        last: _Last | None,
        *,
        cached: bool = False,
    ) -> RecordedEvent:
        wall = datetime.fromtimestamp(clock.wall_s, UTC)
        local = wall.astimezone()
        offset = local.utcoffset()
        d = movement.decision
        visitor = movement.visitor
        state = assess_clock(last.clock if last is not None else None, clock, os_synced)
        event_id = str(uuid.uuid4())
        try:
            identified_by = IdentifiedBy(movement.identified_by)
            pass_kind = PassKind(movement.pass_kind) if movement.pass_kind else None
        except ValueError as exc:
            raise refusal("identified_by", str(exc)) from None
        values: dict[str, Any] = {
            "id": event_id,
            "device_id": device_id,
            "seq": (last.seq + 1) if last is not None else 1,
            "wall_utc": wall.replace(tzinfo=None),
            "utc_offset_min": int(offset.total_seconds() // 60) if offset else 0,
            "local_date": local.date(),
            "monotonic_s": clock.monotonic_s,
            "boot_id": clock.boot_id,
            "clock_state": state,
            "checkpoint": movement.checkpoint,
            "volunteer_id": movement.volunteer_id,
            "direction": movement.direction,
            "identified_by": identified_by,
            "pass_number": movement.pass_number,
            "pass_id": movement.pass_id,
            "pass_kind": pass_kind,
            "resident_id": movement.resident_id,
            "household": movement.household,
            "visitor_name": visitor.name if visitor else None,
            "visitor_phone": visitor.phone if visitor else None,
            "visitor_reason": visitor.reason if visitor else None,
            "host_building": visitor.host_building if visitor else None,
            "outcome": d.outcome,
            "reason": d.reason,
            "counts_against_quota": d.counts_against_quota,
            "escalated": d.escalate,
            "fever_threshold_c": movement.policy.fever_threshold_c,
            "forehead_offset_c": movement.policy.forehead_offset_c,
            "corrects_event_id": movement.corrects_event_id,
            "note": movement.note,
            # the command's rule set in force (kiosk.core.rules); None: the settings'
            "rules_version": movement.policy.rules_version,
            "prev_hash": last.hash if last is not None else "",
        }
        for name in _FROM_MOVEMENT:  # fields added to the event after the codec (recipe e)
            values[name] = getattr(movement, name)
        readings = [{"event_id": event_id, "ordinal": i,
                     **dict(zip(_FROM_READING, _reading_values(r), strict=True))}
                    for i, r in enumerate(movement.readings, start=1)]
        as_stored(values)
        for r in readings:
            as_stored(r)
        values["personal_digest"] = personal_digest(values)
        values["hash"] = event_hash(values, readings)
        # signed inside the transaction that hands out the seq: every event recorded after
        # the key file exists is signed (kiosk.sync.runner registers the key on that basis)
        key = self._signing_key()
        values["signature"] = key.sign(values["hash"]) if key is not None else None
        # the type checks every limit the central store checks: what the gate records, the
        # district accepts (raises EventInvalid before anything is written); what this
        # method made itself is valid by construction (_BY_CONSTRUCTION). Checked and
        # written as values by name (kiosk.core.event.check_values_but, row_of): the
        # frozen GateEvent is not made only to be taken apart again. A name missing from
        # ``values`` fails there (KeyError); one too many is hashed but not stored, which
        # verify_chain reports (tests/test_store.py)
        try:
            values["readings"] = tuple(EventReading(**r) for r in readings)
        except TypeError as exc:  # a field the type does not have, or one missing
            raise refusal("event", str(exc)) from None
        _check_given(values)
        try:
            raw.execute(_INSERT_EVENT, row_of(values))
        except sqlite3.IntegrityError:
            if cached:  # UNIQUE(device_id, seq): the remembered last event is not the newest
                raise _SeqTaken from None
            raise
        for r in values["readings"]:  # one or two: execute costs less than executemany
            raw.execute(_INSERT_READING, _reading_row(r))
        # queued for the central store in the same transaction: never recorded without
        # being queued, never queued without being recorded
        raw.execute(_INSERT_OUTBOX, (event_id, values["seq"]))
        # what the next append goes on from (as _read_last would read it back), once committed
        self._appended = _Last(device_id, values["seq"], values["hash"], ClockSample(
            wall.timestamp(), values["monotonic_s"], values["boot_id"]))
        return RecordedEvent(
            id=values["id"],
            seq=values["seq"],
            wall_utc=wall,
            local_date=values["local_date"],
            clock_state=state,
            hash=values["hash"],
        )


def record_event(
    engine: Engine,
    device_id: str,
    movement: Movement,
    clock: ClockSample,
    os_synced: bool | None,
) -> RecordedEvent:
    """Append one event on a connection of its own (for one-off records by the tools; the
    gate keeps an EventWriter open)."""
    writer = EventWriter(Path(str(engine.url.database)), background_checkpoints=False)
    try:
        return writer.record(device_id, movement, clock, os_synced)
    finally:
        writer.close()


def verify_chain(engine: Engine, device_id: str) -> list[str]:
    """Re-compute every hash of a device's events; returns the problems found (empty: intact).

    Finds gaps in the sequence, altered rows and rows whose predecessor was removed. An
    anonymised row (personal fields wiped by retention) is checked through its kept digest."""
    from sqlalchemy import select

    from kiosk.store.models import GateEventRow as E
    from kiosk.store.models import ReadingRow as RD

    problems: list[str] = []
    with engine.connect() as conn:
        reading_rows: dict[str, list[dict[str, Any]]] = {}
        for r in conn.execute(select(RD).order_by(RD.c.event_id, RD.c.ordinal)):
            reading_rows.setdefault(r.event_id, []).append(dict(r._mapping))
        prev_hash, prev_seq = "", 0
        for row in conn.execute(select(E).where(E.c.device_id == device_id).order_by(E.c.seq)):
            values = dict(row._mapping)
            seq = values["seq"]
            if seq != prev_seq + 1:
                problems.append(f"gap before seq {seq} (previous {prev_seq})")
            if values["prev_hash"] != prev_hash:
                problems.append(f"seq {seq}: previous record missing or altered")
            if not is_anonymised(values) and personal_digest(values) != values["personal_digest"]:
                problems.append(f"seq {seq}: record altered (personal fields)")
            elif event_hash(values, reading_rows.get(values["id"], [])) != values["hash"]:
                problems.append(f"seq {seq}: record altered")
            prev_hash, prev_seq = values["hash"], seq
    return problems


def first_signed_seq(db: Source, device_id: str) -> int:
    """The sequence number from which every event of this device is signed: its first
    signed event, or the next one to be recorded. Call it once the key file exists: read
    under the write lock, so an event being recorded by a process that had not seen the key
    yet is counted before, and every later one is signed (EventWriter looks for the key
    inside the transaction that hands out its seq)."""
    with lite.writing(db) as con:
        first, last = con.execute(
            "SELECT min(CASE WHEN signature IS NOT NULL THEN seq END), max(seq) "
            "FROM gate_events WHERE device_id = ?", (device_id,)).fetchone()
    return int(first) if first is not None else int(last or 0) + 1
