"""A compound hub: the central store run in the compound (a spare Pi), for its gates on the
LAN, relaying to the district (docs/SYNC.md, "Compound hub").

The gates push and pull to the hub with the same protocol, credentials and outbox as to the
district, every few seconds, so a household's outing at one gate is known at the others
without the internet. The hub is itself a device of the district, enrolled with the role
``hub`` (``kiosk serve enrol --hub``), and a background relay:

* **up**: every event the hub stores is queued in ``relay_outbox`` in the same transaction,
  as the JSON object the kiosk sent (every key kept, those this version does not know
  included), and posted to the district under the kiosk's device id. The district checks
  hash, chain and sequence as if the kiosk had sent it, and is idempotent by (device, seq,
  id, hash): a row leaves the relay outbox only in the transaction that takes the district's
  acknowledgement, so a hub killed at any point re-sends and nothing is stored twice.
* **down**: the district's changes for the hub (roster, revocations, pass keys, policy and
  volunteers of the compound, the compound's movements from gates that did not come through
  the hub, and the compound's gates' credentials, as SHA-256 hashes) are written into the
  hub's own tables, which its gates download from as from the district.

A gate's credential is the district's: a kiosk enrolled at the district syncs with the hub
and with the district alike, and the hub never holds a secret it could use upstream (only
the hashes; an enrolment sent through the hub is relayed to the district, and the hub sees
that answer once in transit).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, case, delete, func, insert, select, update

from kiosk.core import rules as core_rules
from kiosk.server import audit, conflicts, devicekeys, tallies
from kiosk.server.admin import (
    ADMIN_SCOPE,
    DEV,
    DEVICE_VOLUNTEERS,
    KEYS,
    POLICY,
    REV,
    ROSTER,
    VOLUNTEERS,
)
from kiosk.server.clock import command_today, command_zone, in_zone, utc_now
from kiosk.server.ingest import EV, FI, Ingest, IngestResult, compound_scope, next_change_ids
from kiosk.server.models import (
    HeldEventRow,
    HubMovementRow,
    HubStateRow,
    HubUndoneRow,
    RelayOutboxRow,
)
from kiosk.server.rules import RULES
from kiosk.store.models import table_of
from kiosk.sync import wire
from kiosk.sync.client import BatchRefused, Refused, SyncClient, SyncError

log = logging.getLogger(__name__)

RO = table_of(RelayOutboxRow)
#: a relay outbox row still to send (not acknowledged by the district, not refused)
QUEUED = RO.c.acked_at.is_(None) & RO.c.quarantined.is_(False)
HM = table_of(HubMovementRow)
HS = table_of(HubStateRow)
HU = table_of(HubUndoneRow)
HELD = table_of(HeldEventRow)


#: the hub's district credential, mode 0600 (not in the database, which is backed up)
KEY_FILE = "hub.key"
#: events per relayed batch (the district takes up to 5,000)
RELAY_BATCH = 2000
#: seconds between relay rounds while the district answers
RELAY_INTERVAL_S = 2.0
#: seconds an event the district acknowledged stays in the relay outbox (what was relayed
#: lately, and the district's answer, for ``kiosk serve hub status``), then it is trimmed
RELAY_KEEP_S = 600.0

URL, DEVICE, COMPOUND, CHECKPOINT = "uplink.url", "uplink.device", "uplink.compound", \
    "uplink.checkpoint"
CURSOR, LAST_SUCCESS, LAST_ATTEMPT = "uplink.cursor", "uplink.last_success", \
    "uplink.last_attempt"
LAST_ERROR, LAST_ERROR_AT = "uplink.last_error", "uplink.last_error_at"
#: the district's view of each gate of the compound: {device id: [last_seq, missing]}
DISTRICT_DEVICES = "uplink.devices"
#: the district's fever cases of the compound (its last page's ``cases``, JSON): passed
#: down to the gates beside the hub's own
DISTRICT_CASES = "uplink.cases"
#: the hub's clock minus the district's at its last successful round (seconds), and when
#: that was: its gates measure their clocks against the hub and add this
CLOCK_OFFSET, CLOCK_AT = "uplink.clock_offset_s", "uplink.clock_at"


class HubError(Exception):
    """The hub cannot be set up (the message says why)."""


def _now() -> str:
    """Now for ``hub_state`` (naive UTC, as every time the store keeps)."""
    return utc_now().isoformat(timespec="seconds")


def _shown(stored: str, zone: ZoneInfo) -> str | None:
    """A ``hub_state`` time (naive UTC) in the command's zone, with its offset; None when
    there is none (or it is not a time: the gates' status must not fail on it)."""
    try:
        at = datetime.fromisoformat(stored)
    except ValueError:
        return None
    shown = in_zone(at, zone) if at.tzinfo is None else at.astimezone(zone)
    return shown.isoformat(timespec="seconds")


def get_state(conn: Connection, *keys: str) -> dict[str, str]:
    rows = dict(conn.execute(select(HS.c.key, HS.c.value).where(HS.c.key.in_(keys))).all())
    return {k: str(rows.get(k, "")) for k in keys}


def put_state(conn: Connection, **values: str) -> None:
    for key, value in values.items():
        conn.execute(delete(HS).where(HS.c.key == key))
        conn.execute(insert(HS).values(key=key, value=value))


def _record(engine: Engine, **values: str) -> None:
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        put_state(conn, **values)


@dataclass(frozen=True, slots=True)
class Link:
    """The hub's enrolment at the district."""

    url: str
    device_id: str
    secret: str
    compound: str
    checkpoint: str


def read_link(engine: Engine, data_dir: Path) -> Link | None:
    """The hub's link to the district, None while it is not enrolled."""
    key = data_dir / KEY_FILE
    if not key.exists():
        return None
    with engine.connect() as conn:
        s = get_state(conn, URL, DEVICE, COMPOUND, CHECKPOINT)
    if not s[URL]:
        return None
    return Link(s[URL], s[DEVICE], key.read_text(encoding="ascii").strip(), s[COMPOUND],
                s[CHECKPOINT])


def enrol_hub(engine: Engine, data_dir: Path, code: str, url: str, device_id: str,
              client: SyncClient | None = None) -> Link:
    """Spend a hub enrolment code (``kiosk serve enrol --hub``) at the district ``url``;
    keeps the credential in ``<data dir>/hub.key`` (0600). Raises HubError for a code that
    enrols a gate, SyncError when the district refuses."""
    own = client is None
    client = client or SyncClient(url)
    try:
        answer = client.enrol(code, device_id)
    finally:
        if own:
            client.close()
    if answer.get("role") != "hub":
        raise HubError("this code enrols a gate, not a hub: ask the command for "
                       "kiosk serve enrol --hub --compound NAME")
    data_dir.mkdir(parents=True, exist_ok=True)
    key = data_dir / KEY_FILE
    tmp = key.with_suffix(".tmp")
    tmp.write_text(answer["secret"] + "\n", encoding="ascii")
    tmp.chmod(0o600)
    tmp.replace(key)
    _record(engine, **{URL: url.rstrip("/"), DEVICE: device_id, COMPOUND: answer["compound"],
                       CHECKPOINT: answer["checkpoint"], CURSOR: ""})
    link = read_link(engine, data_dir)
    assert link is not None
    return link


# --- on the hub's ingest path -------------------------------------------------------------
def queue_relay(conn: Connection, device_id: str, events: list[tuple[int, str, Any]],
                now: datetime) -> None:
    """Queue newly stored events (seq, id, the JSON object as the kiosk sent it) for the
    district, in the caller's transaction (the one that stores them)."""
    if events:
        conn.execute(insert(RO), [
            {"device_id": device_id, "seq": seq, "event_id": event_id,
             "record": wire.dumps(raw).decode(), "queued_at": now, "quarantined": False,
             "last_error": ""} for seq, event_id, raw in events])


def missing_at_both(hub: tuple[int, list[list[int]]],
                    district: tuple[int, list[list[int]]] | None) -> list[list[int]]:
    """The sequence ranges of a gate neither the hub nor the district holds: what is really
    lost (an event the hub has not relayed yet is at the hub; one the gate sent the district
    directly is there). ``(last_seq, gaps)`` of each; None: the district's view is unknown."""
    if district is None:
        return hub[1]
    top = max(hub[0], district[0])

    def absent(view: tuple[int, list[list[int]]]) -> list[tuple[int, int]]:
        out = [(a, b) for a, b in view[1]]
        if view[0] < top:
            out.append((view[0] + 1, top))
        return out

    both: list[list[int]] = []
    for a1, b1 in absent(hub):
        for a2, b2 in absent(district):
            lo, hi = max(a1, a2), min(b1, b2)
            if lo <= hi:
                both.append([lo, hi])
    return sorted(both)


def district_view(conn: Connection, device_id: str) -> tuple[int, list[list[int]]] | None:
    """(last_seq, gaps) of a gate at the district, as of the hub's last download."""
    raw = get_state(conn, DISTRICT_DEVICES)[DISTRICT_DEVICES]
    views = json.loads(raw) if raw else {}
    view = views.get(device_id)
    return None if view is None else (int(view[0]), view[1])


def trim(engine: Engine, now: datetime | None = None) -> int:
    """Delete the relay outbox rows the district acknowledged more than RELAY_KEEP_S
    seconds ago (never one it has not: ``acked_at`` is set only in the transaction that
    takes its acknowledgement); returns how many went."""
    cutoff = (now or utc_now()) - timedelta(seconds=RELAY_KEEP_S)
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        return int(conn.execute(delete(RO).where(RO.c.acked_at.is_not(None),
                                                 RO.c.acked_at < cutoff)).rowcount)


# --- the relay --------------------------------------------------------------------------
@dataclass
class RelayReport:
    sent: int = 0
    duplicates: int = 0
    quarantined: int = 0
    pulled: dict[str, int] = field(default_factory=dict)


class Relay:
    """One relay round: push the relay outbox to the district, then pull its changes."""

    def __init__(self, engine: Engine, link: Link, client: SyncClient,
                 batch: int = RELAY_BATCH) -> None:
        self.engine = engine
        self.link = link
        self.client = client
        self.batch = batch

    def run(self) -> RelayReport:
        report = RelayReport()
        _record(self.engine, **{LAST_ATTEMPT: _now()})
        try:
            self.push(report)
            self.pull(report)
        except SyncError as exc:
            _record(self.engine, **{LAST_ERROR: str(exc), LAST_ERROR_AT: _now()})
            raise
        clock = {} if self.client.clock_offset_s is None else {
            CLOCK_OFFSET: f"{self.client.clock_offset_s:.1f}", CLOCK_AT: _now()}
        _record(self.engine, **{LAST_SUCCESS: _now(), LAST_ERROR: ""}, **clock)
        return report

    def _next(self, size: int) -> tuple[list[Any], int]:
        """The oldest queued rows of one gate (at most ``size``), and how many are queued."""
        with self.engine.connect() as conn, conn.begin():
            first = conn.execute(select(RO.c.device_id).where(QUEUED)
                                 .order_by(RO.c.id).limit(1)).scalar_one_or_none()
            if first is None:
                return [], 0
            rows = list(conn.execute(
                select(RO.c.id, RO.c.event_id, RO.c.record)
                .where(QUEUED, RO.c.device_id == first)
                .order_by(RO.c.seq).limit(size)))
            pending = conn.execute(select(func.count()).select_from(RO)
                                   .where(QUEUED)).scalar_one()
        return [(first, r) for r in rows], int(pending)

    def push(self, report: RelayReport) -> None:
        """Everything queued, one gate's batch at a time, in the gate's sequence order; a
        batch the district refuses whole is halved until the one event it refuses is found,
        and that one is kept aside (quarantined) with the district's reason."""
        size = self.batch
        trim(self.engine)
        while True:
            rows, pending = self._next(size)
            if not rows:
                return
            device_id = rows[0][0]
            events = [json.loads(r.record) for _, r in rows]
            try:
                ack = self.client.push(device_id, events, pending=pending,
                                       volunteers=self._names(device_id, events))
            except BatchRefused as exc:
                if len(rows) > 1:
                    size = max(1, len(rows) // 2)
                    continue
                ack = {"rejected": [{"id": rows[0][1].event_id, "reason": str(exc)}]}
            except Refused as exc:
                if not str(exc).startswith("HTTP 403"):
                    raise  # 401: the hub's own credential is withdrawn; nothing goes up
                # this gate is not (or no longer) one of the compound's at the district:
                # its events wait aside, the other gates' go on
                ack = {"rejected": [{"id": r.event_id, "reason": str(exc)} for _, r in rows]}
            rejected = {r.get("id"): str(r.get("reason", ""))[:500]
                        for r in ack.get("rejected", [])}
            with self.engine.connect().execution_options(sqlite_immediate=True) as conn, \
                    conn.begin():
                for event_id, reason in rejected.items():
                    conn.execute(update(RO).where(RO.c.event_id == event_id)
                                 .values(quarantined=True, last_error=reason))
                done = [r.id for _, r in rows if r.event_id not in rejected]
                if done:
                    conn.execute(update(RO).where(RO.c.id.in_(done))
                                 .values(acked_at=utc_now()))
            report.sent += len(rows) - len(rejected)
            report.duplicates += int(ack.get("duplicates", 0))
            report.quarantined += len(rejected)
            size = self.batch

    def _names(self, device_id: str, events: list[Any]) -> dict[int, str]:
        ids = {e.get("volunteer_id") for e in events if isinstance(e, dict)} - {None}
        if not ids:
            return {}
        with self.engine.connect() as conn:
            return {r.volunteer_id: r.name for r in conn.execute(
                select(DEVICE_VOLUNTEERS.c.volunteer_id, DEVICE_VOLUNTEERS.c.name)
                .where(DEVICE_VOLUNTEERS.c.device_id == device_id,
                       DEVICE_VOLUNTEERS.c.volunteer_id.in_(sorted(ids))))}

    def pull(self, report: RelayReport) -> None:
        with self.engine.connect() as conn:
            cursor = get_state(conn, CURSOR)[CURSOR]
        while True:
            page = self.client.changes(cursor)
            apply_page(self.engine, self.link.compound, page)
            for kind in ("roster", "revocations", "pass_keys", "volunteers", "movements",
                         "undone", "rules"):
                report.pulled[kind] = report.pulled.get(kind, 0) + len(page.get(kind, []))
            cursor = str(page["cursor"])
            if not page.get("more"):
                return


def apply_page(engine: Engine, compound: str, page: dict[str, Any]) -> None:
    """One page of the district's changes, written into the hub's tables in one transaction
    with the new cursor; each change takes a new change id of the hub's own streams, so the
    hub's gates download it at their next sync."""
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        _apply_admin(conn, compound, page)
        _apply_movements(conn, compound, page.get("movements", []))
        _apply_undone(conn, compound, [u for u in page.get("undone", [])
                                       if isinstance(u, str) and len(u) <= 36])
        if isinstance(page.get("cases"), list):  # sent whole: the district's decisions
            put_state(conn, **{DISTRICT_CASES: json.dumps(page["cases"])})
        _apply_devices(conn, compound, page.get("devices", []))
        put_state(conn, **{CURSOR: str(page["cursor"])})


def _replace(conn: Connection, table: Any, where: Any, values: dict[str, Any]) -> None:
    change = next_change_ids(conn, ADMIN_SCOPE, 1)
    conn.execute(delete(table).where(where))
    conn.execute(insert(table).values(**values, change_id=change))


def _apply_admin(conn: Connection, compound: str, page: dict[str, Any]) -> None:
    for r in page.get("roster", []):
        _replace(conn, ROSTER, ROSTER.c.pass_number == r["pass_number"], {
            **{k: r[k] for k in ("pass_number", "name", "building", "unit", "room",
                                 "household", "phone", "kind")},
            "compound": compound, "valid_from": date.fromisoformat(r["valid_from"]),
            "valid_to": date.fromisoformat(r["valid_to"])})
    for r in page.get("revocations", []):
        _replace(conn, REV, REV.c.pass_number == r["pass_number"], {
            "pass_number": r["pass_number"], "reason": r["reason"],
            "revoked_at": datetime.fromisoformat(r["revoked_at"])})
    for k in page.get("pass_keys", []):
        _replace(conn, KEYS, KEYS.c.key_id == k["key_id"], {
            "key_id": k["key_id"], "public_key_hex": k["public_key_hex"],
            "active": bool(k["active"])})
    for key, value in page.get("policy", {}).items():
        _replace(conn, POLICY, POLICY.c.key == key, {"key": key, "value": value})
    for r in page.get("rules", []):  # passed down as signed: each gate verifies them
        parsed = core_rules.parse(r["body"])
        _replace(conn, RULES, RULES.c.version == parsed.version, {
            "version": parsed.version, "effective_utc": parsed.effective_utc,
            "body": r["body"], "key_id": r["key_id"], "signature": r["signature"],
            "published_at": utc_now(),
            "published_by": "district"})
    for v in page.get("volunteers", []):
        _replace(conn, VOLUNTEERS,
                 (VOLUNTEERS.c.name == v["name"]) & (VOLUNTEERS.c.compound == compound), {
                     "name": v["name"], "compound": compound, "role": v["role"],
                     "pin_hash": v["pin_hash"], "active": bool(v["active"])})


#: hub_state key: the day before which retention wiped the movements the district passed down
RETENTION_CUTOFF = "retention_cutoff"


def forget_before(conn: Connection, cutoff: date) -> int:
    """Retention at a hub: the district's movements of days before ``cutoff`` (pass numbers
    and households, personal data as the hub's own events) are deleted, and the cutoff is
    kept so that the district passing them down again (it sends the last
    ``MOVEMENT_DAYS``) does not bring them back; returns how many went."""
    kept = get_state(conn, RETENTION_CUTOFF)[RETENTION_CUTOFF]
    if not kept or date.fromisoformat(kept) < cutoff:
        put_state(conn, **{RETENTION_CUTOFF: cutoff.isoformat()})
    return int(conn.execute(delete(HM).where(HM.c.local_date < cutoff)).rowcount)


def _apply_movements(conn: Connection, compound: str, moves: list[dict[str, Any]]) -> None:
    """The district's movements of the compound the hub has not got itself (a gate that
    synced with the district directly, or a gate of another hub), each once; an outing among
    them that, with the outings known here, spends more than the quota is flagged here as
    a ``quota_conflict`` (kiosk.server.conflicts.find), as the hub's own gates' are."""
    cutoff = get_state(conn, RETENTION_CUTOFF)[RETENTION_CUTOFF]
    if cutoff:  # days retention already wiped here stay wiped
        moves = [m for m in moves if m["local_date"] >= cutoff]
    if not moves:
        return
    ids = [m["event_id"] for m in moves]
    # through the (device, seq) index: the events table has no index on the id alone
    known = set(conn.execute(select(EV.c.id).where(
        EV.c.device_id.in_({m["device_id"] for m in moves}),
        EV.c.seq.in_({m["seq"] for m in moves}), EV.c.id.in_(ids))).scalars())
    known |= set(conn.execute(select(HM.c.event_id).where(HM.c.event_id.in_(ids))).scalars())
    fresh = [m for m in moves if m["event_id"] not in known]
    if not fresh:
        return
    first = next_change_ids(conn, compound_scope(compound), len(fresh))
    rows = [{
        "event_id": m["event_id"], "device_id": m["device_id"],
        "checkpoint": m["checkpoint"], "compound": compound, "seq": m["seq"],
        "pass_number": m["pass_number"], "household": m["household"],
        "direction": m["direction"], "local_date": date.fromisoformat(m["local_date"]),
        "wall_utc": datetime.fromisoformat(m["wall_utc"]),
        "counts_against_quota": bool(m["counts_against_quota"]), "change_id": first + k,
    } for k, m in enumerate(fresh)]
    conn.execute(insert(HM), rows)
    findings = conflicts.find(conn, compound, [
        {**r, "id": r["event_id"]} for r in rows if r["counts_against_quota"]], utc_now())
    if findings:
        conn.execute(insert(FI), findings)


def _apply_undone(conn: Connection, compound: str, undone: list[str]) -> None:
    """Movements undone at their gate, as the district tells: no longer served from
    ``hub_movements``, and each passed down once in the compound's change stream (after
    the movement it undoes), so a gate that already holds the movement drops it and its
    quota view gives the household its outing back. Whether the movement came to the hub
    from the district or from its own gate does not matter: the gates drop it either way."""
    if not undone:
        return
    # a movement the hub stored itself (its gate pushed it here, the undo went to the
    # district): out of the hub's counts, "who is out" and quota conflicts, as if the
    # correction had come here (the same functions, one rule); one passed down: a quota
    # conflict it made here is withdrawn the same way, then it is served no more
    tallies.undo(conn, undone, command_today())
    conflicts.withdraw(conn, compound, {u: "(the district says so: the undo reached it "
                                        "directly)" for u in undone}, utc_now())
    conn.execute(delete(HM).where(HM.c.event_id.in_(undone)))
    known = set(conn.execute(select(HU.c.event_id).where(HU.c.event_id.in_(undone)))
                .scalars())
    fresh = sorted(set(undone) - known)
    if fresh:
        first = next_change_ids(conn, compound_scope(compound), len(fresh))
        conn.execute(insert(HU), [{"event_id": e, "compound": compound, "change_id": first + k}
                                  for k, e in enumerate(fresh)])


def district_cases(conn: Connection) -> list[dict[str, Any]]:
    """On a hub: the compound's fever cases as the district last sent them (empty at the
    district itself)."""
    raw = get_state(conn, DISTRICT_CASES)[DISTRICT_CASES]
    cases = json.loads(raw) if raw else []
    return [c for c in cases if isinstance(c, dict)]


def _apply_devices(conn: Connection, compound: str, devices: list[dict[str, Any]]) -> None:
    """The compound's gates as the district knows them: their credentials' hashes (so a gate
    enrolled at the district syncs here with the same secret), withdrawn ones, and how far
    the district holds each one's events (the gate's ``/device`` answer through the hub)."""
    if not devices:
        return
    views: dict[str, Any] = {}
    for d in devices:
        values = {"checkpoint": d["checkpoint"], "compound": compound,
                  "secret_hash": d["secret_hash"], "active": bool(d["active"]),
                  "role": "kiosk"}
        done = conn.execute(update(DEV).where(DEV.c.id == d["device_id"]).values(**values))
        if not done.rowcount:
            conn.execute(insert(DEV).values(id=d["device_id"], enrolled_at=utc_now(),
                                            pending=0, quarantined=0, last_seq=0, gaps="[]",
                                            **values))
        views[d["device_id"]] = [d["last_seq"], d["missing"]]
        # the gate's signing keys as the district holds them, and no other: the hub checks
        # signatures too, and never takes a key from a gate itself (known_key)
        passed = [(int(from_seq), str(public_hex).lower())
                  for from_seq, public_hex in d.get("keys", [])]
        _drop_keys(conn, (devicekeys.KEYS.c.device_id == d["device_id"]) & (
            devicekeys.KEYS.c.public_key_hex.not_in([h for _, h in passed])
            | (devicekeys.KEYS.c.how != DISTRICT)))
        for from_seq, public_hex in passed:
            devicekeys.add_key(conn, d["device_id"], public_hex, from_seq, DISTRICT)
    put_state(conn, **{DISTRICT_DEVICES: json.dumps(views)})


def district_devices(conn: Connection, compound: str) -> list[dict[str, Any]]:
    """At the district, for a hub: the compound's gates, their credentials' hashes and how
    far the district holds their events (sent whole each time: a compound has a few)."""
    keys: dict[str, list[list[Any]]] = {}
    for k in conn.execute(select(devicekeys.KEYS.c.device_id, devicekeys.KEYS.c.from_seq,
                                 devicekeys.KEYS.c.public_key_hex)
                          .join(DEV, DEV.c.id == devicekeys.KEYS.c.device_id)
                          .where(DEV.c.compound == compound)
                          .order_by(devicekeys.KEYS.c.from_seq)):
        keys.setdefault(k.device_id, []).append([k.from_seq, k.public_key_hex])
    return [{"device_id": r.id, "checkpoint": r.checkpoint, "secret_hash": r.secret_hash,
             "active": r.active, "last_seq": r.last_seq, "missing": json.loads(r.gaps),
             "keys": keys.get(r.id, [])}
            for r in conn.execute(select(DEV).where(DEV.c.compound == compound,
                                                    DEV.c.role == "kiosk").order_by(DEV.c.id))]


def uplink(engine: Engine, device_id: str, compound: str) -> dict[str, Any]:
    """What a gate shows of its hub: whether the district answers the hub, the relay's
    backlog, and since when the hub has heard from each other gate of the compound."""
    with engine.connect() as conn:
        s = get_state(conn, URL, LAST_SUCCESS, LAST_ATTEMPT, LAST_ERROR, LAST_ERROR_AT,
                      CLOCK_OFFSET, CLOCK_AT)
        pending, refused, relayed = conn.execute(select(
            func.coalesce(func.sum(case((QUEUED, 1), else_=0)), 0),
            func.coalesce(func.sum(case((RO.c.quarantined, 1), else_=0)), 0),
            func.count(RO.c.acked_at)).select_from(RO)).one()
        # stored in naive UTC: shown in the command's zone, with its offset, as the
        # district's last success beside it
        zone = command_zone()
        gates = [{"checkpoint": r.checkpoint, "last_contact": in_zone(
                      r.last_contact, zone).isoformat(timespec="seconds")
                  if r.last_contact else None}
                 for r in conn.execute(
                     select(DEV.c.checkpoint, DEV.c.last_contact)
                     .where(DEV.c.compound == compound, DEV.c.id != device_id,
                            DEV.c.role == "kiosk", DEV.c.active.is_(True))
                     .order_by(DEV.c.checkpoint))]
    return {"hub": True, "district_url": s[URL], "district_ok": bool(s[LAST_SUCCESS])
            and not s[LAST_ERROR], "district_last_success": _shown(s[LAST_SUCCESS], zone),
            "district_last_error": s[LAST_ERROR] or None, "relay_pending": int(pending),
            "relay_refused": int(refused), "relay_recent": int(relayed),
            # None: the hub never reached the district, its gates' clocks are only
            # measured against the hub's own
            "district_clock_offset_s": float(s[CLOCK_OFFSET]) if s[CLOCK_OFFSET] else None,
            "district_clock_at": _shown(s[CLOCK_AT], zone),
            "gates": gates}


def relay_enrol(engine: Engine, link: Link | None, code: str, device_id: str,
                client: SyncClient | None = None, public_key: str | None = None,
                key_from_seq: int = 1) -> dict[str, Any]:
    """A gate's enrolment sent to the hub, spent at the district (device identity is the
    district's); the hub keeps the new credential's hash so the gate syncs here at once.
    Raises SyncError: Refused with the district's reason, Unavailable while it is out of
    reach (or the hub is not enrolled itself)."""
    from kiosk.server.auth import sha256_hex
    from kiosk.sync.client import Unavailable

    if link is None:
        raise Unavailable("this hub is not enrolled with the district yet "
                          "(kiosk serve hub enrol CODE --url DISTRICT)")
    own = client is None
    client = client or SyncClient(link.url)
    try:
        # the gate's key goes with it: the district then checks the gate's events however
        # they come (a hub that swapped it here is seen at the gate's first direct sync:
        # 409, docs/SYNC.md)
        answer = client.enrol(code, device_id, public_key, key_from_seq)
    finally:
        if own:
            client.close()
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        values = {"checkpoint": answer["checkpoint"], "compound": answer["compound"],
                  "secret_hash": sha256_hex(answer["secret"]), "active": True,
                  "role": answer.get("role", "kiosk")}
        done = conn.execute(update(DEV).where(DEV.c.id == device_id).values(**values))
        if not done.rowcount:
            conn.execute(insert(DEV).values(id=device_id, enrolled_at=utc_now(),
                                            pending=0, quarantined=0, last_seq=0, gaps="[]",
                                            **values))
    return answer


class RelayRunner:
    """The hub's relay as the background loop runs it: reads the link each round (a hub
    enrolled while it serves starts relaying without a restart)."""

    def __init__(self, engine: Engine, data_dir: Path) -> None:
        self.engine = engine
        self.data_dir = data_dir
        self._client: tuple[Link, SyncClient] | None = None

    def __call__(self) -> RelayReport:
        from kiosk.sync.client import Unavailable

        link = read_link(self.engine, self.data_dir)
        if link is None:
            raise Unavailable("not enrolled with the district: serving the compound alone")
        if self._client is None or self._client[0] != link:
            self.close()
            self._client = (link, SyncClient(link.url, link.secret))
        return Relay(self.engine, link, self._client[1]).run()

    def close(self) -> None:
        if self._client is not None:
            self._client[1].close()
            self._client = None


def relay_quarantine(engine: Engine, requeue: bool = False) -> list[Any]:
    """The events the district refused through this hub (seq, device, reason); with
    ``requeue`` they are put back in the queue (after the cause is fixed at the district)."""
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        rows = list(conn.execute(select(RO.c.device_id, RO.c.seq, RO.c.event_id,
                                        RO.c.last_error).where(RO.c.quarantined.is_(True))
                                 .order_by(RO.c.device_id, RO.c.seq)))
        if requeue:
            conn.execute(update(RO).where(RO.c.quarantined.is_(True))
                         .values(quarantined=False))
    return rows


# --- keys of gates enrolled before keys, behind a hub (docs/SYNC.md, "held") --------------
#: how a key came to a hub (DeviceKeyRow.how): passed down by the district
DISTRICT = "district"


def _drop_keys(conn: Connection, where: Any) -> int:
    """Delete the gates' keys ``where`` says, each with its audit row; returns how many."""
    rows = conn.execute(select(devicekeys.KEYS).where(where)).all()
    for r in rows:
        audit.record_in(conn, r.device_id, devicekeys.DEVICE_KEY, {
            "public_key": r.public_key_hex, "from_seq": r.from_seq, "how": r.how,
            "dropped": "not passed down by the district"})
    if rows:
        conn.execute(delete(devicekeys.KEYS).where(where))
    return len(rows)


def drop_keys_not_passed_down(engine: Engine) -> int:
    """On a hub, at start: drop every gate key the district did not pass down. A hub before
    session 5 registered the keys its gates presented by trust on first use (anyone on the
    LAN with a gate's secret could give it one); now only the district registers keys, so
    only keys it passed down (``how`` ``district``) may judge a gate's events here. A gate
    without one is checked by its hash chain until the district passes its key down, as
    any gate whose key the district does not hold yet. Returns how many went (audited)."""
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        return _drop_keys(conn, devicekeys.KEYS.c.how != DISTRICT)


def known_key(engine: Engine, device_id: str, public_hex: str) -> int | None:
    """On a hub: the first seq ``public_hex`` signs for this gate when the district passed
    that key down, else None. A hub never registers a gate's key itself: the gate
    registers it with the district over its own connection (kiosk.sync.route)."""
    with engine.connect() as conn:
        keys = devicekeys.load_keys(conn, device_id)
    public_hex = public_hex.lower()
    return keys.from_seqs[keys.hexes.index(public_hex)] if public_hex in keys.hexes else None


def hold_if_keyless(engine: Engine, device_id: str, records: list[Any], via: str
                    ) -> int | None:
    """At the district, for a batch a hub relays: while the gate has no key here, the
    events are held (neither stored nor refused, each once) until the gate registers its
    key over its own connection; returns how many were held, None when the gate has a key
    (ingest as usual). A hub that re-signed them with a key of its own gains nothing: they
    are checked against the gate's key when it comes (``release_held``)."""
    now = utc_now()
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        if devicekeys.load_keys(conn, device_id).hexes:
            return None
        texts = [(int(r["seq"]), wire.dumps(r).decode()) for r in records]
        have = set(conn.execute(select(HELD.c.record).where(
            HELD.c.device_id == device_id,
            HELD.c.seq.in_({seq for seq, _ in texts}))).scalars())
        fresh = {text: seq for seq, text in texts if text not in have}
        if fresh:
            conn.execute(insert(HELD), [
                {"device_id": device_id, "seq": seq, "record": text, "via": via,
                 "received_at": now} for text, seq in fresh.items()])
    return len(records)


def release_held(engine: Engine, ingest: Ingest, device_id: str) -> IngestResult | None:
    """At the district, once the gate has a key: its held events go through ingest, each
    checked against that key (a forged one is refused and becomes a ``bad_signature``
    finding, the genuine one is stored); None when nothing is held or still no key. Rows
    leave the holding table after their batch is ingested: a crash in between ingests them
    again, which stores nothing twice."""
    with engine.connect() as conn:
        if not devicekeys.load_keys(conn, device_id).hexes:
            return None
        rows = list(conn.execute(select(HELD.c.id, HELD.c.record, HELD.c.via)
                                 .where(HELD.c.device_id == device_id)
                                 .order_by(HELD.c.seq, HELD.c.id)))
    if not rows:
        return None
    # rounds of distinct event ids: two versions of one event (the gate's and a forgery)
    # in one batch would count the second as a duplicate of the first, unchecked
    rounds: list[dict[str, list[Any]]] = []
    seen: dict[str, int] = {}
    for r in rows:
        record = json.loads(r.record)
        n = seen.get(str(record.get("id")), 0)
        seen[str(record.get("id"))] = n + 1
        if n == len(rounds):
            rounds.append({})
        rounds[n].setdefault(r.via, []).append((r.id, record))
    total = IngestResult()
    for by_via in rounds:
        for via, batch in by_via.items():
            for start in range(0, len(batch), RELAY_BATCH):
                part = batch[start:start + RELAY_BATCH]
                result = ingest.ingest(device_id, [rec for _, rec in part], None, None, via)
                with engine.connect().execution_options(sqlite_immediate=True) as conn, \
                        conn.begin():
                    conn.execute(delete(HELD).where(HELD.c.id.in_([i for i, _ in part])))
                total.stored += result.stored
                total.duplicates += result.duplicates
                total.rejected += result.rejected
    return total
