"""What the command does to its central store: enrol devices, publish the roster, revocations,
pass keys and policy, manage dashboard users. A library; ``kiosk serve ...`` is its shell.

Every published change takes a change id from the ``admin`` counter, which is how kiosks
download only what changed since their last sync.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from kiosk.core.passcode import public_key_from_hex
from kiosk.server import audit, auth, devicekeys, roles
from kiosk.server.clock import utc_now
from kiosk.server.ingest import next_change_ids
from kiosk.server.models import (
    DeviceRow,
    DeviceVolunteerRow,
    EnrolmentCodeRow,
    PassKeyEntryRow,
    PolicyEntryRow,
    RevocationEntryRow,
    RosterEntryRow,
    UserRow,
    VolunteerEntryRow,
)
from kiosk.store.importer import RosterRow
from kiosk.store.models import table_of

DEV = table_of(DeviceRow)
CODES = table_of(EnrolmentCodeRow)
ROSTER = table_of(RosterEntryRow)
REV = table_of(RevocationEntryRow)
KEYS = table_of(PassKeyEntryRow)
POLICY = table_of(PolicyEntryRow)
USERS = table_of(UserRow)
VOLUNTEERS = table_of(VolunteerEntryRow)
DEVICE_VOLUNTEERS = table_of(DeviceVolunteerRow)

ADMIN_SCOPE = "admin"
#: what an enrolled device is: a gate, or a compound hub relaying its gates' events
ROLES = ("kiosk", "hub")
#: an enrolment code is good for this long, and once
CODE_LIFETIME = timedelta(hours=24)
#: the kiosk settings the command may set centrally, as ``kiosk config set`` names them
POLICY_KEYS = ("quota.outings", "quota.days", "screening.fever_threshold_c",
               "screening.forehead_offset_c")


class AdminError(Exception):
    pass


@contextmanager
def _audited(engine: Engine, actor: str | None, action: str,
             detail: dict[str, Any]) -> Iterator[Connection]:
    """One write transaction whose audit row commits with it (actor: the command line's
    user unless given)."""
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        yield conn
        audit.record_in(conn, actor or audit.cli_actor(), action, detail)


@dataclass(frozen=True, slots=True)
class Enrolled:
    device_id: str
    secret: str
    checkpoint: str
    compound: str
    role: str = "kiosk"


def make_enrolment_code(engine: Engine, checkpoint: str | None = None,
                        compound: str | None = None, now: datetime | None = None,
                        actor: str | None = None, replaces: str | None = None,
                        role: str = "kiosk") -> str:
    """A one-time code for one kiosk at ``checkpoint``; only its SHA-256 is stored. With
    ``replaces`` (an enrolled device id) the code re-binds that one device id (a reinstalled
    kiosk; its old secret dies) and no other; checkpoint and compound default to the
    device's. Without it, the code enrols only a device id not enrolled yet. ``role``: a
    ``kiosk`` (a gate) or a compound ``hub`` (kiosk.server.hub), which relays the events of
    its compound's gates and records none itself."""
    if role not in ROLES:
        raise AdminError(f"a device's role is one of {', '.join(ROLES)}")
    now = now or utc_now()
    code = auth.new_enrolment_code()
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        if replaces is not None:
            device = conn.execute(select(DEV.c.checkpoint, DEV.c.compound, DEV.c.role)
                                  .where(DEV.c.id == replaces)).first()
            if device is None:
                raise AdminError(f"no enrolled device {replaces!r} to replace")
            role = device.role  # a reinstalled hub stays a hub
            checkpoint = device.checkpoint if checkpoint is None else checkpoint
            compound = device.compound if compound is None else compound
        checkpoint, compound = (checkpoint or "").strip(), (compound or "default").strip()
        if not checkpoint or len(checkpoint) > 40 or not compound or len(compound) > 40:
            raise AdminError("checkpoint and compound are 1 to 40 characters")
        conn.execute(insert(CODES).values(
            code_hash=auth.sha256_hex(auth.normalise_code(code)), checkpoint=checkpoint,
            compound=compound, created_at=now, expires_at=now + CODE_LIFETIME,
            replaces=replaces, role=role))
        audit.record_in(conn, actor or audit.cli_actor(), audit.ENROL_CODE,
                        {"checkpoint": checkpoint, "compound": compound,
                         "replaces": replaces, "role": role}, at=now)
    return code


def enrol_device(engine: Engine, code: str, device_id: str,
                 now: datetime | None = None, client: str = "",
                 public_key: str | None = None, key_from_seq: int = 1) -> Enrolled:
    """Spend an enrolment code: the device gets its secret (returned once, stored hashed)
    and the code's checkpoint and compound (the server's, whatever the kiosk calls itself).
    A device id already enrolled is re-bound (a reinstalled kiosk: its old secret dies) only
    by a replacement code made for exactly that id; any other code is refused and not
    spent, so nobody can take over a device id seen in /changes or an export.

    ``public_key`` (hex) is the kiosk's Ed25519 key: its events from ``key_from_seq`` on
    must carry its signature (kiosk.server.devicekeys); with a replacement code it is the
    reinstalled kiosk's new key, from the seq it signs from."""
    now = now or utc_now()
    if public_key is not None:
        try:
            public_key = devicekeys.valid_public_hex(public_key)
        except ValueError as exc:
            raise AdminError(f"not an Ed25519 public key: {exc}") from None
    code_hash = auth.sha256_hex(auth.normalise_code(code))
    secret = auth.new_device_secret()
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        row = conn.execute(select(CODES).where(CODES.c.code_hash == code_hash)
                           .with_for_update()).first()
        if row is None or row.used_at is not None or row.expires_at < now:
            raise AdminError("unknown, used or expired enrolment code")
        known = conn.execute(select(DEV.c.id).where(DEV.c.id == device_id)
                             .with_for_update()).first()
        if row.replaces is not None and row.replaces != device_id:
            raise AdminError("this code replaces another device")
        if known is not None and row.replaces != device_id:
            raise AdminError("this device id is already enrolled: a reinstalled kiosk needs "
                             "a replacement code (kiosk serve enrol --replace DEVICE_ID)")
        conn.execute(update(CODES).where(CODES.c.code_hash == code_hash)
                     .values(used_at=now, device_id=device_id))
        values = dict(checkpoint=row.checkpoint, compound=row.compound,
                      secret_hash=auth.sha256_hex(secret), active=True, role=row.role)
        if known is None:
            conn.execute(insert(DEV).values(id=device_id, enrolled_at=now, pending=0,
                                            quarantined=0, last_seq=0, gaps="[]", **values))
        else:
            conn.execute(update(DEV).where(DEV.c.id == device_id).values(**values))
        audit.record_in(conn, device_id, audit.ENROL,
                        {"checkpoint": row.checkpoint, "compound": row.compound,
                         "again": known is not None}, client, now)
        if public_key is not None:
            devicekeys.add_key(conn, device_id, public_key, key_from_seq,
                               devicekeys.ENROLMENT if known is None
                               else devicekeys.REPLACEMENT, client, now)
    return Enrolled(device_id, secret, row.checkpoint, row.compound, row.role)


def publish_roster(engine: Engine, rows: Iterable[RosterRow], compound: str = "default",
                   actor: str | None = None) -> int:
    """Insert or update passes on the compound's roster; returns how many changed."""
    rows = list(rows)
    with _audited(engine, actor, audit.PUBLISH,
                  {"what": "roster", "compound": compound, "rows": len(rows)}) as conn:
        known = {r.pass_number: tuple(r)[1:] for r in conn.execute(
            select(ROSTER.c.pass_number, ROSTER.c.compound, ROSTER.c.name, ROSTER.c.building,
                   ROSTER.c.unit, ROSTER.c.room, ROSTER.c.household, ROSTER.c.phone,
                   ROSTER.c.kind, ROSTER.c.valid_from, ROSTER.c.valid_to))}
        changed = []
        for r in rows:
            values = (compound, r.name, r.building, r.unit, r.room, r.household, r.phone,
                      r.pass_kind.value, r.valid_from, r.valid_to)
            if known.get(r.pass_number) != values:
                changed.append((r.pass_number, values))
        if not changed:
            return 0
        first = next_change_ids(conn, ADMIN_SCOPE, len(changed))
        conn.execute(delete(ROSTER).where(ROSTER.c.pass_number.in_([n for n, _ in changed])))
        names = [c.name for c in ROSTER.columns if c.name not in ("pass_number", "change_id")]
        conn.execute(insert(ROSTER), [
            dict(zip(names, values, strict=True), pass_number=number, change_id=first + k)
            for k, (number, values) in enumerate(changed)])
    return len(changed)


def publish_revocation(engine: Engine, number: str, reason: str = "",
                       actor: str | None = None) -> None:
    number = number.strip().upper()
    with _audited(engine, actor, audit.PUBLISH,
                  {"what": "revocation", "pass": number, "reason": reason}) as conn:
        change = next_change_ids(conn, ADMIN_SCOPE, 1)
        conn.execute(delete(REV).where(REV.c.pass_number == number))
        conn.execute(insert(REV).values(pass_number=number, reason=reason,
                                        revoked_at=utc_now(), change_id=change))


def publish_pass_key(engine: Engine, key_id: str, public_key_hex: str,
                     active: bool = True, actor: str | None = None) -> None:
    public_key_from_hex(public_key_hex)  # ValueError on garbage
    key_id = key_id.strip().upper()
    with _audited(engine, actor, audit.PUBLISH,
                  {"what": "pass_key", "key_id": key_id, "active": active}) as conn:
        change = next_change_ids(conn, ADMIN_SCOPE, 1)
        conn.execute(delete(KEYS).where(KEYS.c.key_id == key_id))
        conn.execute(insert(KEYS).values(key_id=key_id, public_key_hex=public_key_hex.lower(),
                                         active=active, change_id=change))


def publish_policy(engine: Engine, key: str, value: str, actor: str | None = None) -> None:
    if key not in POLICY_KEYS:
        raise AdminError(f"policy keys are {', '.join(POLICY_KEYS)}")
    # the kiosk's own parsing and limits (kiosk.settings), so a rule every kiosk would refuse
    # (quota.days 2.5, a fever threshold of 45) is refused here, not at hundreds of gates
    from kiosk.settings import Settings, SettingsError, set_value

    try:
        set_value(Settings(), key, value)
    except SettingsError as exc:
        raise AdminError(str(exc)) from None
    with _audited(engine, actor, audit.PUBLISH,
                  {"what": "policy", "key": key, "value": value}) as conn:
        change = next_change_ids(conn, ADMIN_SCOPE, 1)
        conn.execute(delete(POLICY).where(POLICY.c.key == key))
        conn.execute(insert(POLICY).values(key=key, value=value, change_id=change))


def publish_volunteer(engine: Engine, name: str, pin: str, role: str = "volunteer",
                      compound: str = "default", active: bool = True,
                      actor: str | None = None) -> None:
    """Register (or change, or with ``active=False`` withdraw) a volunteer at every kiosk of
    the compound. The PIN is checked like a new one at the kiosk and only its argon2id hash
    (the kiosk's PIN parameters) is kept and sent."""
    from kiosk.core.model import Role
    from kiosk.store.volunteers import VolunteerError, hash_pin

    name = name.strip()
    try:
        pin_hash = hash_pin(pin)
        role = Role(role).value
    except (VolunteerError, ValueError) as exc:
        raise AdminError(str(exc)) from None
    if not name:
        raise AdminError("a volunteer needs a name")
    with _audited(engine, actor, audit.PUBLISH,
                  {"what": "volunteer", "name": name, "compound": compound, "role": role,
                   "active": active}) as conn:
        change = next_change_ids(conn, ADMIN_SCOPE, 1)
        conn.execute(delete(VOLUNTEERS).where(VOLUNTEERS.c.name == name,
                                              VOLUNTEERS.c.compound == compound))
        conn.execute(insert(VOLUNTEERS).values(
            name=name, compound=compound, role=role, pin_hash=pin_hash,
            active=active, change_id=change))


def add_user(engine: Engine, name: str, password: str, actor: str | None = None, *,
             role: str | None = None, compound: str | None = None) -> None:
    """Add a dashboard user or reset their password (at least 8 characters). ``role`` and
    ``compound``: kiosk.server.roles (a new user: district); a reset without a role keeps
    the user's role and compound."""
    name = name.strip()
    if not name or len(password) < 8:
        raise AdminError("a user needs a name and a password of at least 8 characters")
    if role is not None and (problem := roles.role_problem(role, compound)):
        raise AdminError(problem)
    with _audited(engine, actor, audit.ADD_USER, {"user": name, "role": role or "",
                                                  "compound": compound or ""}) as conn:
        old = conn.execute(select(USERS.c.role, USERS.c.compound)
                           .where(USERS.c.name == name)).first()
        if role is None:
            role, compound = (old.role, old.compound) if old else (roles.Role.DISTRICT, None)
        conn.execute(delete(USERS).where(USERS.c.name == name))
        conn.execute(insert(USERS).values(name=name, password_hash=auth.hash_password(password),
                                          created_at=utc_now(), role=role,
                                          compound=compound or None))


def remember_volunteers(engine: Engine, device_id: str, names: dict[int, str]) -> None:
    """Which name a kiosk's volunteer id stands for (sent with the events that carry it)."""
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        conn.execute(delete(DEVICE_VOLUNTEERS).where(
            DEVICE_VOLUNTEERS.c.device_id == device_id,
            DEVICE_VOLUNTEERS.c.volunteer_id.in_(list(names))))
        conn.execute(insert(DEVICE_VOLUNTEERS), [
            {"device_id": device_id, "volunteer_id": vid, "name": name}
            for vid, name in names.items()])


def device_gaps(engine: Engine) -> dict[str, list[list[int]]]:
    """Missing sequence ranges per device (only devices that have some)."""
    with engine.connect() as conn:
        rows = conn.execute(select(DEV.c.id, DEV.c.gaps)).all()
    return {r.id: json.loads(r.gaps) for r in rows if r.gaps != "[]"}
