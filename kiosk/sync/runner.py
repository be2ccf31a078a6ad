"""One sync: push the outbox in batches, then pull the changes, under a lock.

Crash-safe at every point: an outbox row is deleted only in the transaction that takes the
server's acknowledgement, so a crash before that re-sends the batch (the server answers
"duplicate" and nothing is stored twice); the download cursor is stored in the transaction
that applies the page it stands for.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, delete, insert, select, update

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
from kiosk.store.devicekey import ensure_key
from kiosk.store.events import first_signed_seq
from kiosk.store.importer import ImportReport, RosterRow, upsert_roster
from kiosk.store.models import (
    FeverCaseRow,
    GateEventRow,
    OutboxRow,
    ReadingRow,
    RemoteMovementRow,
    VolunteerRow,
    table_of,
)
from kiosk.store.passkeys import retire_key, revoke, trust_key
from kiosk.store.rules import active as active_rules
from kiosk.store.rules import keep as keep_rules
from kiosk.sync import state
from kiosk.sync.client import BatchRefused, SyncClient, SyncError

E = table_of(GateEventRow)
RD = table_of(ReadingRow)
OB = table_of(OutboxRow)
RM = table_of(RemoteMovementRow)
VOL = table_of(VolunteerRow)
FC = table_of(FeverCaseRow)

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


def _raw(conn: Connection) -> Any:
    """The sqlite3 connection under ``conn``: rows as plain tuples, fetched in C."""
    return conn.connection.dbapi_connection


def _with_readings(events: list[EventJson], raw_readings: Any) -> list[EventJson]:
    readings: dict[str, list[ReadingJson]] = {}
    for raw in raw_readings:
        r = _reading_dict(raw)
        readings.setdefault(r["event_id"], []).append(r)
    for event in events:
        event["readings"] = readings.get(event["id"], [])
    return events


def load_events(conn: Connection, ids: list[str]) -> list[EventJson]:
    """The events with these ids, as the server re-hashes them: every column as SQLAlchemy
    reads it back (what ``verify_chain`` checks), dates as ISO text, readings in order."""
    db = _raw(conn)
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


def next_queued(conn: Connection, after: int, size: int) -> list[Queued]:
    """The next ``size`` queued, not quarantined outbox rows after seq ``after``."""
    return list(map(Queued._make, _raw(conn).execute(_QUEUE_SQL, (after, size))))


_ID = EVENT_FIELDS.index("id")


def load_queued(conn: Connection, rows: list[Queued], device_id: str) -> list[EventJson]:
    """The events of ``rows`` (consecutive queued outbox rows, as ``next_queued`` gives
    them), in order, as ``load_events`` gives them.

    Read as one range of this device's seqs through its (device_id, seq) index; when that
    range is not exactly these events (an event queued under another device id), through a
    join with the outbox instead. Readings: one join with the outbox."""
    db = _raw(conn)
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


def _upsert_volunteer(conn: Connection, v: dict[str, Any]) -> None:
    """A volunteer from the command: same name, new PIN hash, role and status; a kiosk's
    own lockout counters are left alone."""
    values = {"role": v["role"], "pin_hash": v["pin_hash"], "active": bool(v["active"])}
    done = conn.execute(update(VOL).where(VOL.c.name == v["name"]).values(**values))
    if not done.rowcount:
        conn.execute(insert(VOL).values(name=v["name"], failed_attempts=0, **values))


class Syncer:
    """Pushes and pulls for one kiosk (its store, data directory and device id)."""

    def __init__(self, engine: Engine, data_dir: Path, device_id: str, client: SyncClient,
                 batch: int = BATCH, depth: int = DEPTH, cursor_key: str = state.CURSOR
                 ) -> None:
        """``cursor_key``: the meta key of this server's download cursor (a hub's change
        ids are not the district's)."""
        self.cursor_key = cursor_key
        self.engine = engine
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
            state.record(self.engine, **{state.LAST_ATTEMPT: state.now_text()})
            try:
                self.register_key()
                self.push(report)
                self.pull(report)
            except SyncError as exc:
                state.record(self.engine, **{state.LAST_ERROR: str(exc),
                                             state.LAST_ERROR_AT: state.now_text()})
                raise
            state.record(self.engine, **{state.LAST_SUCCESS: state.now_text(),
                                         state.LAST_ERROR: ""}, **state.clock_offset(
                                             self.client.clock_offset_s))
            return report

    # --- the signing key --------------------------------------------------------------
    def register_key(self) -> None:
        """A kiosk enrolled before keys makes its key now and registers it once over its
        own connection (trust on first use at the central store); its events from then on
        are signed. Nothing to do once the central store has this kiosk's key."""
        key = ensure_key(self.data_dir)
        with self.engine.connect() as conn:
            if state.get(conn, state.DEVICE_KEY) == key.public_hex:
                return
        answer = self.client.register_key(key.public_hex,
                                          first_signed_seq(self.engine, self.device_id))
        if not answer.get("pending"):  # a hub: the district has not got it yet (route)
            state.record(self.engine, **{state.DEVICE_KEY: str(answer["public_key"])})

    # --- push -------------------------------------------------------------------------
    def push(self, report: SyncReport) -> None:
        """Send the outbox; then ask the server which sequence numbers it still lacks."""
        with self.engine.connect() as conn:
            age = state.age_s(state.get(conn, state.DATA_AS_OF))
            rules = active_rules(conn, datetime.now(UTC).replace(tzinfo=None))
        self.client.data_age = "never" if age is None else str(round(age))
        self.client.rules_version = rules.version if rules is not None else 0
        try:
            self._push_pipelined(report)
        except BatchRefused:
            self._push_halving(report)
        with self.engine.connect() as conn:  # what still waits, now the batches are in
            pending, quarantined = state.outbox_counts(conn)
        missing = self.client.device(pending=pending, quarantined=quarantined
                                     ).get("missing", [])
        state.record(self.engine, **{state.MISSING: json.dumps(missing)})
        report.missing = missing

    def _batch(self, after: int, size: int) -> tuple[list[Any], list[EventJson], int, int]:
        """The next ``size`` queued events after seq ``after``, and the outbox counts."""
        with self.engine.connect() as conn, conn.begin():  # one snapshot for all reads
            rows = next_queued(conn, after, size)
            if not rows:
                return [], [], 0, 0
            events = load_queued(conn, rows, self.device_id)
            pending, quarantined = state.outbox_counts(conn)
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
        with self.engine.connect() as conn:
            return {r.id: r.name for r in conn.execute(
                select(VOL.c.id, VOL.c.name).where(VOL.c.id.in_(sorted(ids))))}

    def _take_ack(self, rows: list[Any], ack: dict[str, Any], report: SyncReport) -> None:
        """In one transaction: quarantine what the server rejected, delete the rest of the
        batch from the outbox (acknowledged: stored now or before)."""
        rejected = {r.get("id"): str(r.get("reason", ""))[:500] for r in ack.get("rejected", [])}
        seqs = [r.seq for r in rows if r.event_id not in rejected]
        with self.engine.connect().execution_options(sqlite_immediate=True) as conn, \
                conn.begin():
            for event_id, reason in rejected.items():
                conn.execute(update(OB).where(OB.c.event_id == event_id).values(
                    quarantined=True, last_error=reason, attempts=OB.c.attempts + 1))
            if seqs:
                conn.exec_driver_sql("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])
        report.batches += 1
        report.sent += len(seqs)
        report.duplicates += int(ack.get("duplicates", 0))
        report.quarantined += len(rejected)

    # --- pull -------------------------------------------------------------------------
    def pull(self, report: SyncReport) -> None:
        """Every page since the cursor; when the last one is in, the gate's data is the
        command's as of when the pull began (what was published later comes next time)."""
        began = state.now_text()
        with self.engine.connect() as conn:
            cursor = state.get(conn, self.cursor_key)
        while True:
            page = self.client.changes(cursor)
            self._apply(page, report)
            cursor = str(page["cursor"])
            if not page.get("more"):
                break
        cutoff = date.today() - timedelta(days=KEEP_REMOTE_DAYS)
        with self.engine.connect().execution_options(sqlite_immediate=True) as conn, \
                conn.begin():
            conn.execute(delete(RM).where(RM.c.local_date < cutoff))
            state.put(conn, **{state.DATA_AS_OF: began})

    def _apply(self, page: dict[str, Any], report: SyncReport) -> None:
        """Apply one page. Revocations, keys and policy are idempotent and go first through
        the kiosk's own functions; roster, movements and the cursor then commit together."""
        for r in page.get("revocations", []):
            revoke(self.engine, r["pass_number"], r.get("reason", ""), source="sync")
        for k in page.get("pass_keys", []):
            if k.get("active", True):
                trust_key(self.engine, k["key_id"], k["public_key_hex"])
            else:
                retire_key(self.engine, k["key_id"])
        if page.get("policy"):
            self._apply_policy(page["policy"])
        if page.get("rules"):  # after the keys: a rule set signed with a new key verifies
            kept, refused = keep_rules(self.engine, [
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
        moves = [{
            "event_id": m["event_id"], "device_id": m["device_id"],
            "checkpoint": m["checkpoint"], "seq": m["seq"], "pass_number": m["pass_number"],
            "household": m["household"], "direction": m["direction"],
            "local_date": date.fromisoformat(m["local_date"]),
            "wall_utc": datetime.fromisoformat(m["wall_utc"]),
            "counts_against_quota": bool(m["counts_against_quota"]),
        } for m in page.get("movements", [])]
        with self.engine.connect().execution_options(sqlite_immediate=True) as conn, \
                conn.begin():
            if roster:
                upsert_roster(conn, roster, ImportReport())
            if moves:
                conn.execute(insert(RM).prefix_with("OR IGNORE"), moves)
            undone = [str(i) for i in page.get("undone", [])]
            if undone:  # undone at their gate: they did not happen (issue 11)
                conn.execute(delete(RM).where(RM.c.event_id.in_(undone)))
            for v in page.get("volunteers", []):
                _upsert_volunteer(conn, v)
            cases = cases_from(page)
            if cases is not None:  # sent whole: what the command did about our fevers
                conn.execute(delete(FC))
                if cases:
                    conn.execute(insert(FC), cases)
            state.put(conn, **{self.cursor_key: str(page["cursor"])})
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
        state.record(self.engine, **{state.POLICY: json.dumps(policy)})


def sync_once(engine: Engine, data_dir: Path, device_id: str, client: SyncClient) -> SyncReport:
    return Syncer(engine, data_dir, device_id, client).run()
