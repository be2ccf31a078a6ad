"""Recording gate events durably, in order, chained by hash.

One event is one SQLite transaction taken with BEGIN IMMEDIATE (so two processes on the same
file never hand out the same sequence number) and committed with synchronous=FULL in WAL
mode: when ``record_event`` returns, the event survives a power cut. Only then may the app
show the green or red screen.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Connection, Engine, select

from kiosk.core.clock import ClockSample, ClockState, assess_clock
from kiosk.core.decision import Decision
from kiosk.core.event import (
    EVENT_FIELDS,
    NOT_HASHED,
    PERSONAL_FIELDS,
    READING_FIELDS,
    EventInvalid,
    EventReading,
    GateEvent,
    IdentifiedBy,
    as_stored,
    canonical,
    describe,
    event_hash,
    is_anonymised,
    personal_digest,
    refusal,
)
from kiosk.core.model import Direction, PassKind
from kiosk.core.policy import Policy
from kiosk.core.screening import Reading
from kiosk.store.db import file_watch
from kiosk.store.models import GateEventRow, ReadingRow, table_of

log = logging.getLogger(__name__)

E = table_of(GateEventRow)
RD = table_of(ReadingRow)


@dataclass(frozen=True, slots=True)
class Visitor:
    name: str
    phone: str = ""
    reason: str = ""
    host_building: str = ""


@dataclass(frozen=True, slots=True)
class Movement:
    """Everything known about one passage at the gate, ready to be recorded."""

    checkpoint: str
    direction: Direction
    decision: Decision
    readings: Sequence[Reading]
    policy: Policy
    identified_by: str  # qr, scanner, search, visitor, cli
    pass_number: str | None = None
    pass_id: int | None = None
    pass_kind: str | None = None
    resident_id: int | None = None
    household: str | None = None
    volunteer_id: int | None = None
    visitor: Visitor | None = None
    corrects_event_id: str | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    id: str
    seq: int
    wall_utc: datetime
    local_date: date
    clock_state: ClockState
    hash: str


#: the hash chain's functions live with the record's codec (kiosk.core.event); named here too
#: because the store is where the chain is kept
__all__ = ["NOT_HASHED", "PERSONAL_FIELDS", "EventInvalid", "canonical", "event_hash",
           "is_anonymised", "personal_digest"]
_canonical = canonical  # the name tests/sync/test_sync_canonical.py pins


#: the validator of kiosk.core.event.GateEvent (every limit of the type, readings included)
EVENT_VALIDATOR: TypeAdapter[GateEvent] = TypeAdapter(GateEvent)


def make_event(values: dict[str, Any], readings: Sequence[dict[str, Any]]) -> GateEvent:
    """The typed event, checked against every limit of the type; raises EventInvalid with a
    message for people, before anything is written."""
    try:
        event = GateEvent(**values, readings=tuple(EventReading(**r) for r in readings))
        return EVENT_VALIDATOR.validate_python(event)
    except ValidationError as exc:
        raise describe(exc.errors(include_url=False)) from None
    except TypeError as exc:  # a field the type does not have, or one missing
        raise refusal("event", str(exc)) from None


def _insert_sql(table: Any, names: Sequence[str]) -> tuple[list[str], str]:
    """INSERT of ``names`` (the codec's field order) into ``table``."""
    cols = list(names)
    assert set(cols) == {c.name for c in table.columns}, "kiosk.core.event != the table"
    marks = ",".join("?" * len(cols))
    return cols, f"INSERT INTO {table.name} ({','.join(cols)}) VALUES ({marks})"


_EVENT_COLS, _INSERT_EVENT = _insert_sql(E, EVENT_FIELDS)
_READING_COLS, _INSERT_READING = _insert_sql(RD, READING_FIELDS)
_INSERT_OUTBOX = "INSERT INTO outbox (event_id, seq, attempts, last_error, quarantined) " \
    "VALUES (?, ?, 0, '', 0)"
_LAST_SQL = ("SELECT seq, hash, wall_utc, monotonic_s, boot_id FROM gate_events "
             "WHERE device_id = ? ORDER BY seq DESC LIMIT 1")


class Checkpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` on its own connection after writes, at most
    once per ``interval_s``; a passive checkpoint never blocks the writer."""

    def __init__(self, engine: Engine, interval_s: float = 1.0) -> None:
        self._engine = engine
        self._interval_s = interval_s
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join(5.0)

    def _run(self) -> None:
        raw = self._engine.raw_connection()
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                try:
                    raw.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # a full disk: the writes report it themselves
                    log.warning("WAL checkpoint failed: %s", exc)
                if self._stopping:
                    return
                time.sleep(self._interval_s)
        finally:
            raw.close()


class EventWriter:
    """Appends events on one long-lived connection with pre-built SQL.

    This is the kiosk's hot path (every person at the gate): one BEGIN IMMEDIATE transaction
    per movement, in which the caller may also read what the decision needs (roster, quota),
    so two processes on one file can never both spend a household's last outing. The inserts
    go through ``exec_driver_sql`` with ready SQL, so the cost is close to SQLite's durable
    commit itself. Thread-safe: the app records from worker threads.
    """

    def __init__(self, engine: Engine, *, background_checkpoints: bool = True) -> None:
        self._conn = engine.connect().execution_options(sqlite_immediate=True)
        self._lock = threading.RLock()
        self._watch = file_watch(engine)
        self._checkpointer: Checkpointer | None = None
        if background_checkpoints:
            # the WAL is folded into the database file by a background thread, so a gate
            # commit never pays for a checkpoint (SQLite would otherwise run one inside
            # every ~1000th commit, fsyncing the main file: the p99 of a movement)
            self._conn.connection.dbapi_connection.execute(  # type: ignore[union-attr]
                "PRAGMA wal_autocheckpoint=0"
            )
            self._checkpointer = Checkpointer(engine)

    def close(self) -> None:
        with self._lock:
            if self._checkpointer is not None:
                self._checkpointer.stop()
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """BEGIN IMMEDIATE ... COMMIT (durable) around the block; ROLLBACK on error.
        Before the commit, the database files are checked to be the ones on disk
        (kiosk.store.db.FileWatch: StoreReplaced stops recording)."""
        with self._lock:
            with self._conn.begin():
                yield self._conn
                if self._watch is not None:
                    self._watch.check()
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
        conn: Connection,
        device_id: str,
        movement: Movement,
        clock: ClockSample,
        os_synced: bool | None,
    ) -> RecordedEvent:
        """Append inside ``transaction()``; durable once that block has committed."""
        wall = datetime.fromtimestamp(clock.wall_s, UTC)
        local = datetime.fromtimestamp(clock.wall_s).astimezone()
        offset = local.utcoffset()
        d = movement.decision
        visitor = movement.visitor
        last = conn.exec_driver_sql(_LAST_SQL, (device_id,)).first()
        previous = None
        if last is not None:
            prev_wall = datetime.fromisoformat(last[2]).replace(tzinfo=UTC).timestamp()
            previous = ClockSample(prev_wall, last[3], last[4])
        state = assess_clock(previous, clock, os_synced)
        event_id = str(uuid.uuid4())
        try:
            identified_by = IdentifiedBy(movement.identified_by)
            pass_kind = PassKind(movement.pass_kind) if movement.pass_kind else None
        except ValueError as exc:
            raise refusal("identified_by", str(exc)) from None
        values: dict[str, Any] = {
            "id": event_id,
            "device_id": device_id,
            "seq": (last[0] + 1) if last is not None else 1,
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
            "prev_hash": last[1] if last is not None else "",
        }
        if movement.policy.rules_version is not None:  # a later field: absent while None
            values["rules_version"] = movement.policy.rules_version
        readings = [
            {
                "event_id": event_id,
                "ordinal": i,
                "state": r.state,
                "object_c": r.object_c,
                "ambient_c": r.ambient_c,
                "used_c": r.used_c,
                "source": r.source,
                "device": r.device,
                "protocol": r.protocol,
            }
            for i, r in enumerate(movement.readings, start=1)
        ]
        as_stored(values)
        for r in readings:
            as_stored(r)
        values["personal_digest"] = personal_digest(values)
        values["hash"] = event_hash(values, readings)
        # the type checks every limit the central store checks: what the gate records, the
        # district accepts (raises EventInvalid before anything is written)
        event = make_event(values, readings)
        conn.exec_driver_sql(_INSERT_EVENT, event.to_row())
        if readings:
            conn.exec_driver_sql(_INSERT_READING, event.reading_rows())
        # queued for the central store in the same transaction: never recorded without
        # being queued, never queued without being recorded
        conn.exec_driver_sql(_INSERT_OUTBOX, (event_id, values["seq"]))
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
    """Append one event on a connection of its own (for one-off records; the gate keeps an
    EventWriter open)."""
    writer = EventWriter(engine, background_checkpoints=False)
    try:
        return writer.record(device_id, movement, clock, os_synced)
    finally:
        writer.close()


def verify_chain(engine: Engine, device_id: str) -> list[str]:
    """Re-compute every hash of a device's events; returns the problems found (empty: intact).

    Finds gaps in the sequence, altered rows and rows whose predecessor was removed. An
    anonymised row (personal fields wiped by retention) is checked through its kept digest."""
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
