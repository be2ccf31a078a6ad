"""One sync: push the outbox in batches, then pull the changes, under a lock.

Crash-safe at every point: an outbox row is deleted only in the transaction that takes the
server's acknowledgement, so a crash before that re-sends the batch (the server answers
"duplicate" and nothing is stored twice); the download cursor is stored in the transaction
that applies the page it stands for.
"""

from __future__ import annotations

import fcntl
import gc
import json
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from kiosk import settings as settings_mod
from kiosk.core.event import (
    EVENT_FIELDS,
    READING_FIELDS,
    EventJson,
    ReadingJson,
    json_from_row,
    reading_json_from_row,
)
from kiosk.core.model import PassKind
from kiosk.core.rules import SignedRules
from kiosk.store import lite
from kiosk.store.devicekey import ensure_key
from kiosk.store.events import first_signed_seq
from kiosk.store.importer import ImportReport, RosterRow, upsert_roster
from kiosk.store.lite import reading, writing
from kiosk.store.passkeys import retire_key, revoke, trust_key
from kiosk.store.rules import active as active_rules
from kiosk.store.rules import keep as keep_rules
from kiosk.sync import state
from kiosk.sync.client import BatchRefused, SyncClient, SyncError

if TYPE_CHECKING:
    from kiosk.store.lite import AnyConnection, Source


BATCH = 2000
#: batches in flight at once (the server stores one while the kiosk reads the next)
DEPTH = 2
LOCK_FILE = "sync.lock"
#: downloaded movements older than this are dropped (quota windows are days, not weeks)
KEEP_REMOTE_DAYS = 30


class SyncBusy(SyncError):
    """Another sync (thread or process) holds the lock; this one did nothing."""


@dataclass
class SyncReport:
    sent: int = 0
    duplicates: int = 0
    quarantined: int = 0
    batches: int = 0
    pulled: dict[str, int] = field(default_factory=dict)
    missing: list[list[int]] = field(default_factory=list)


@contextmanager
def sync_lock(data_dir: Path) -> Iterator[None]:
    """One sync at a time per data directory, across threads and processes (flock on a file
    of its own; released by the kernel if the process dies)."""
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SyncBusy("another sync is running") from None
        yield
    finally:
        os.close(fd)


#: young objects between two collections while the outbox is pushed (Python's default: 700)
PUSH_GC_THRESHOLD = 10_000
_gc_lock = threading.Lock()
_gc_pushes = 0
_gc_before: tuple[int, ...] = ()


@contextmanager
def _rarer_collections() -> Iterator[None]:
    """Python's cycle collector runs less often while pushing: a batch makes some 10^5
    short-lived dicts and tuples (freed by reference counting; they make no cycles), and at
    every 700 the collector walked them, and often everything the process holds: a quarter
    of the kiosk's CPU during a push (docs/BENCHMARKS_sync.md, session 6). The thresholds
    come back when the last push running ends."""
    global _gc_pushes, _gc_before
    with _gc_lock:
        if _gc_pushes == 0:
            _gc_before = gc.get_threshold()
            gc.set_threshold(max(PUSH_GC_THRESHOLD, _gc_before[0]), *_gc_before[1:])
        _gc_pushes += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pushes -= 1
            if _gc_pushes == 0:
                gc.set_threshold(*_gc_before)


def _columns(names: tuple[str, ...], alias: str) -> str:
    return ", ".join(f"{alias}.{n}" for n in names)


#: raw rows in the codec's field order become the event's JSON form (kiosk.core.event): the
#: bulk path of a week's backlog, without ORM result processing
_EVENT_COLS = _columns(EVENT_FIELDS, "e")
_READING_COLS = _columns(READING_FIELDS, "r")
_event_dict = json_from_row
_reading_dict = reading_json_from_row
#: the next queued (not quarantined) outbox rows
_QUEUE_SQL = ("SELECT seq, event_id FROM outbox WHERE quarantined = 0 AND seq > ? "
              "ORDER BY seq LIMIT ?")
#: a device's events of a seq range, through the (device_id, seq) index
_RANGE_EVENTS_SQL = (f"SELECT {_EVENT_COLS} FROM gate_events e WHERE e.device_id = ? AND "
                     "e.seq BETWEEN ? AND ? ORDER BY e.seq")
#: the queued (not quarantined) events of an outbox seq range, in order; one join each for
#: events and readings instead of IN lists of ids
_QUEUED_EVENTS_SQL = (f"SELECT {_EVENT_COLS} FROM outbox o JOIN gate_events e ON e.id = "
                      "o.event_id WHERE o.quarantined = 0 AND o.seq BETWEEN ? AND ? "
                      "ORDER BY o.seq")
_QUEUED_READINGS_SQL = (f"SELECT {_READING_COLS} FROM outbox o JOIN readings r ON "
                        "r.event_id = o.event_id WHERE o.quarantined = 0 AND o.seq BETWEEN "
                        "? AND ? ORDER BY o.seq, r.ordinal")


def _with_readings(events: list[EventJson], raw_readings: Any) -> list[EventJson]:
    readings: dict[str, list[ReadingJson]] = {}
    for raw in raw_readings:
        r = _reading_dict(raw)
        readings.setdefault(r["event_id"], []).append(r)
    for event in events:
        event["readings"] = readings.get(event["id"], [])
    return events


def load_events(conn: AnyConnection, ids: list[str]) -> list[EventJson]:
    """The events with these ids, as the server re-hashes them: every column as SQLAlchemy
    reads it back (what ``verify_chain`` checks), dates as ISO text, readings in order."""
    db = lite.driver(conn)
    out: list[EventJson] = []
    raw_readings: list[tuple[Any, ...]] = []
    for start in range(0, len(ids), 500):  # well under SQLite's limit of bound variables
        chunk = tuple(ids[start:start + 500])
        marks = ",".join("?" * len(chunk))
        raw_readings += db.execute(
            f"SELECT {_READING_COLS} FROM readings r WHERE r.event_id IN ({marks}) "
            "ORDER BY r.event_id, r.ordinal", chunk).fetchall()
        out += map(_event_dict, db.execute(
            f"SELECT {_EVENT_COLS} FROM gate_events e WHERE e.id IN ({marks})", chunk))
    out.sort(key=lambda e: e["seq"])
    return _with_readings(out, raw_readings)


class Queued(NamedTuple):
    """An outbox row: the event's seq and id."""

    seq: int
    event_id: str


def next_queued(conn: AnyConnection, after: int, size: int) -> list[Queued]:
    """The next ``size`` queued, not quarantined outbox rows after seq ``after``."""
    return list(map(Queued._make, lite.driver(conn).execute(_QUEUE_SQL, (after, size))))


_ID = EVENT_FIELDS.index("id")


def load_queued(conn: AnyConnection, rows: list[Queued], device_id: str) -> list[EventJson]:
    """The events of ``rows`` (consecutive queued outbox rows, as ``next_queued`` gives
    them), in order, as ``load_events`` gives them.

    Read as one range of this device's seqs through its (device_id, seq) index; when that
    range is not exactly these events (an event queued under another device id), through a
    join with the outbox instead. Readings: one join with the outbox."""
    db = lite.driver(conn)
    first, last = rows[0].seq, rows[-1].seq
    wanted = {r.event_id for r in rows}
    raw_events = [e for e in db.execute(_RANGE_EVENTS_SQL, (device_id, first, last))
                  if e[_ID] in wanted]
    if len(raw_events) != len(wanted):
        raw_events = db.execute(_QUEUED_EVENTS_SQL, (first, last)).fetchall()
    events = list(map(_event_dict, raw_events))
    return _with_readings(events, db.execute(_QUEUED_READINGS_SQL, (first, last)))


def cases_from(page: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The page's fever cases as rows (None: a server that sends none, keep ours); a row
    that is not a case (a wrong type, too long) is left out, the rest are kept."""
    raw = page.get("cases")
    if not isinstance(raw, list):
        return None
    rows = []
    for c in raw:
        try:
            event_id, case_state = str(c["event_id"]), str(c["state"])
            updated = datetime.fromisoformat(c["updated_at"]).replace(tzinfo=None)
        except (KeyError, TypeError, ValueError):
            continue
        if len(event_id) <= 36 and 0 < len(case_state) <= 20:
            rows.append({"event_id": event_id, "state": case_state, "updated_at": updated})
    return list({r["event_id"]: r for r in rows}.values())


_UPDATE_VOLUNTEER = "UPDATE volunteers SET role = ?, pin_hash = ?, active = ? WHERE name = ?"
_INSERT_VOLUNTEER = ("INSERT INTO volunteers (role, pin_hash, active, name, failed_attempts) "
                     "VALUES (?, ?, ?, ?, 0)")
_NAMES = "SELECT id, name FROM volunteers WHERE id IN (SELECT value FROM json_each(?))"
_QUARANTINE = ("UPDATE outbox SET quarantined = 1, last_error = ?, attempts = attempts + 1 "
               "WHERE event_id = ?")
_ACKED = "DELETE FROM outbox WHERE seq = ?"
_OLD_REMOTE = "DELETE FROM remote_movements WHERE local_date < ?"
_INSERT_REMOTE = ("INSERT OR IGNORE INTO remote_movements (event_id, device_id, checkpoint, seq, "
                  "pass_number, household, direction, local_date, wall_utc, "
                  "counts_against_quota) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_UNDONE_REMOTE = "DELETE FROM remote_movements WHERE event_id = ?"
_INSERT_CASE = "INSERT INTO fever_cases (event_id, state, updated_at) VALUES (?, ?, ?)"


def _upsert_volunteer(con: sqlite3.Connection, v: dict[str, Any]) -> None:
    """A volunteer from the command: same name, new PIN hash, role and status; a kiosk's
    own lockout counters are left alone."""
    values = (v["role"], v["pin_hash"], bool(v["active"]), v["name"])
    if not con.execute(_UPDATE_VOLUNTEER, values).rowcount:
        con.execute(_INSERT_VOLUNTEER, values)


class Syncer:
    """Pushes and pulls for one kiosk (its store, data directory and device id)."""

    def __init__(self, db: Source, data_dir: Path, device_id: str, client: SyncClient,
                 batch: int = BATCH, depth: int = DEPTH, cursor_key: str = state.CURSOR
                 ) -> None:
        """``cursor_key``: the meta key of this server's download cursor (a hub's change
        ids are not the district's)."""
        self.cursor_key = cursor_key
        self.db = db
        self.data_dir = data_dir
        self.device_id = device_id
        self.client = client
        self.batch = batch
        self.depth = depth

    def run(self) -> SyncReport:
        """Push everything pending, then pull everything new; records success or the error
        in ``meta`` either way."""
        with sync_lock(self.data_dir):
            report = SyncReport()
            state.record(self.db, **{state.LAST_ATTEMPT: state.now_text()})
            try:
                self.register_key()
                self.push(report)
                self.pull(report)
            except SyncError as exc:
                state.record(self.db, **{state.LAST_ERROR: str(exc),
                                             state.LAST_ERROR_AT: state.now_text()})
                raise
            state.record(self.db, **{state.LAST_SUCCESS: state.now_text(),
                                         state.LAST_ERROR: ""}, **state.clock_offset(
                                             self.client.clock_offset_s))
            return report

    # --- the signing key --------------------------------------------------------------
    def register_key(self) -> None:
        """A kiosk enrolled before keys makes its key now and registers it once over its
        own connection (trust on first use at the central store); its events from then on
        are signed. Nothing to do once the central store has this kiosk's key."""
        key = ensure_key(self.data_dir)
        with reading(self.db) as con:
            if state.get(con, state.DEVICE_KEY) == key.public_hex:
                return
        answer = self.client.register_key(key.public_hex,
                                          first_signed_seq(self.db, self.device_id))
        if not answer.get("pending"):  # a hub: the district has not got it yet (route)
            state.record(self.db, **{state.DEVICE_KEY: str(answer["public_key"])})

    # --- push -------------------------------------------------------------------------
    def push(self, report: SyncReport) -> None:
        """Send the outbox; then ask the server which sequence numbers it still lacks."""
        with reading(self.db) as con:
            age = state.age_s(state.get(con, state.DATA_AS_OF))
            rules = active_rules(con, datetime.now(UTC).replace(tzinfo=None))
        self.client.data_age = "never" if age is None else str(round(age))
        self.client.rules_version = rules.version if rules is not None else 0
        with _rarer_collections():
            try:
                self._push_pipelined(report)
            except BatchRefused:
                self._push_halving(report)
        with reading(self.db) as con:  # what still waits, now the batches are in
            pending, quarantined = state.outbox_counts(con)
        missing = self.client.device(pending=pending, quarantined=quarantined
                                     ).get("missing", [])
        state.record(self.db, **{state.MISSING: json.dumps(missing)})
        report.missing = missing

    def _batch(self, after: int, size: int) -> tuple[list[Any], list[EventJson], int, int]:
        """The next ``size`` queued events after seq ``after``, and the outbox counts."""
        with reading(self.db) as con:  # one snapshot for all reads
            rows = next_queued(con, after, size)
            if not rows:
                return [], [], 0, 0
            events = load_queued(con, rows, self.device_id)
            pending, quarantined = state.outbox_counts(con)
        return rows, events, pending, quarantined

    def _push_pipelined(self, report: SyncReport) -> None:
        """``depth`` batches in flight: the next one is read and sent while the server still
        stores the previous one; acknowledgements are taken in order. After a failure no new
        batch goes out, the ones in flight land (their acks count), then the error is raised."""
        inflight: deque[tuple[list[Any], Future[dict[str, Any]]]] = deque()
        after, error = 0, None
        with ThreadPoolExecutor(self.depth, thread_name_prefix="sync-push") as pool:
            while True:
                while error is None and len(inflight) < self.depth:
                    rows, events, pending, quarantined = self._batch(after, self.batch)
                    if not rows:
                        break
                    inflight.append((rows, pool.submit(
                        self.client.push, self.device_id, events, pending=pending,
                        quarantined=quarantined, volunteers=self._names(events))))
                    after = rows[-1].seq
                if not inflight:
                    break
                rows, future = inflight.popleft()
                try:
                    ack = future.result()
                except SyncError as exc:
                    error = error or exc
                    continue
                self._take_ack(rows, ack, report)
        if error is not None:
            raise error

    def _push_halving(self, report: SyncReport) -> None:
        """One batch at a time; a batch refused as a whole is halved until the one event the
        server refuses is found, and that event alone is quarantined."""
        size = self.batch
        while True:
            rows, events, pending, quarantined = self._batch(0, size)
            if not rows:
                return
            try:
                ack = self.client.push(self.device_id, events, pending=pending,
                                       quarantined=quarantined, volunteers=self._names(events))
            except BatchRefused as exc:
                if len(rows) > 1:
                    size = max(1, len(rows) // 2)
                    continue
                ack = {"rejected": [{"id": rows[0].event_id, "reason": str(exc)}],
                       "duplicates": 0}
            self._take_ack(rows, ack, report)
            size = self.batch

    def _names(self, events: list[EventJson]) -> dict[int, str]:
        """The names of the volunteers who recorded these events (a kiosk's volunteer ids
        mean nothing at the central store; the district export shows names)."""
        ids = {e["volunteer_id"] for e in events if e.get("volunteer_id") is not None}
        if not ids:
            return {}
        with reading(self.db) as con:
            return dict(con.execute(_NAMES, (json.dumps(sorted(ids)),)).fetchall())

    def _take_ack(self, rows: list[Any], ack: dict[str, Any], report: SyncReport) -> None:
        """In one transaction: quarantine what the server rejected, delete the rest of the
        batch from the outbox (acknowledged: stored now or before)."""
        rejected = {r.get("id"): str(r.get("reason", ""))[:500] for r in ack.get("rejected", [])}
        seqs = [r.seq for r in rows if r.event_id not in rejected]
        with writing(self.db) as con:
            con.executemany(_QUARANTINE, [(reason, event_id)
                                          for event_id, reason in rejected.items()])
            con.executemany(_ACKED, [(s,) for s in seqs])
        report.batches += 1
        report.sent += len(seqs)
        report.duplicates += int(ack.get("duplicates", 0))
        report.quarantined += len(rejected)

    # --- pull -------------------------------------------------------------------------
    def pull(self, report: SyncReport) -> None:
        """Every page since the cursor; when the last one is in, the gate's data is the
        command's as of when the pull began (what was published later comes next time)."""
        began = state.now_text()
        with reading(self.db) as con:
            cursor = state.get(con, self.cursor_key)
        while True:
            page = self.client.changes(cursor)
            self._apply(page, report)
            cursor = str(page["cursor"])
            if not page.get("more"):
                break
        cutoff = date.today() - timedelta(days=KEEP_REMOTE_DAYS)
        with writing(self.db) as con:
            con.execute(_OLD_REMOTE, (cutoff.isoformat(),))
            state.put(con, **{state.DATA_AS_OF: began})

    def _apply(self, page: dict[str, Any], report: SyncReport) -> None:
        """Apply one page. Revocations, keys and policy are idempotent and go first through
        the kiosk's own functions; roster, movements and the cursor then commit together."""
        for r in page.get("revocations", []):
            revoke(self.db, r["pass_number"], r.get("reason", ""), source="sync")
        for k in page.get("pass_keys", []):
            if k.get("active", True):
                trust_key(self.db, k["key_id"], k["public_key_hex"])
            else:
                retire_key(self.db, k["key_id"])
        if page.get("policy"):
            self._apply_policy(page["policy"])
        if page.get("rules"):  # after the keys: a rule set signed with a new key verifies
            kept, refused = keep_rules(self.db, [
                SignedRules(str(r.get("body", "")), str(r.get("key_id", "")),
                            str(r.get("signature", ""))) for r in page["rules"]])
            report.pulled["rules"] = report.pulled.get("rules", 0) + len(kept)
            if refused:
                report.pulled["rules_refused"] = report.pulled.get("rules_refused", 0) + refused
        roster = [RosterRow(
            line=i, name=r["name"], building=r["building"], unit=r["unit"], room=r["room"],
            household=r["household"], phone=r["phone"], pass_number=r["pass_number"],
            pass_kind=PassKind(r["kind"]), valid_from=date.fromisoformat(r["valid_from"]),
            valid_to=date.fromisoformat(r["valid_to"]),
        ) for i, r in enumerate(page.get("roster", []), start=1)]
        moves = [(
            m["event_id"], m["device_id"], m["checkpoint"], m["seq"], m["pass_number"],
            m["household"], m["direction"], date.fromisoformat(m["local_date"]).isoformat(),
            lite.sql_datetime(datetime.fromisoformat(m["wall_utc"])),
            bool(m["counts_against_quota"]),
        ) for m in page.get("movements", [])]
        with writing(self.db) as con:
            if roster:
                upsert_roster(con, roster, ImportReport())
            con.executemany(_INSERT_REMOTE, moves)
            # undone at their gate: they did not happen (issue 11)
            con.executemany(_UNDONE_REMOTE, [(str(i),) for i in page.get("undone", [])])
            for v in page.get("volunteers", []):
                _upsert_volunteer(con, v)
            cases = cases_from(page)
            if cases is not None:  # sent whole: what the command did about our fevers
                con.execute("DELETE FROM fever_cases")
                con.executemany(_INSERT_CASE, [
                    (c["event_id"], c["state"], lite.sql_datetime(c["updated_at"]))
                    for c in cases])
            state.put(con, **{self.cursor_key: str(page["cursor"])})
        for kind in ("revocations", "pass_keys", "roster", "movements", "undone",
                     "volunteers", "cases"):
            report.pulled[kind] = report.pulled.get(kind, 0) + len(page.get(kind, []))

    def _apply_policy(self, policy: dict[str, str]) -> None:
        """The command's rules overwrite the kiosk's settings, changed in the file under its
        lock (the running app applies them within seconds, kiosk.ui.settings_watch)."""
        def change(settings: settings_mod.Settings) -> None:
            for key, value in policy.items():
                try:
                    settings_mod.set_value(settings, key, value)
                except settings_mod.SettingsError:
                    continue  # a rule this kiosk version does not know, or out of its range

        settings_mod.update(self.data_dir, change)
        state.record(self.db, **{state.POLICY: json.dumps(policy)})


def sync_once(db: Source, data_dir: Path, device_id: str, client: SyncClient) -> SyncReport:
    return Syncer(db, data_dir, device_id, client).run()
