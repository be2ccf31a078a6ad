"""Volunteers, their PINs and their shifts. PINs are stored only as argon2id hashes
(argon2-cffi), costly enough that a stolen kiosk's database does not give away a 7-digit PIN
within a day of one CPU core (the arithmetic is in docs/SECURITY.md), and
``sign_in`` locks a name for a while after a few wrong PINs so they cannot be guessed at the
gate either. Shift times are naive UTC, like ``gate_events.wall_utc``, so a handover can count
the shift's events directly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import CursorResult, Engine, insert, select, update

from kiosk.core.model import Role
from kiosk.store.models import ShiftRow, VolunteerRow

V = VolunteerRow
S = ShiftRow
#: wrong PINs in a row before a name is locked, and for how long (seconds)
MAX_FAILED_ATTEMPTS = 5
LOCKOUT_S = 300
#: a new PIN has at least this many digits; older, shorter PINs work until they are changed
#: (``weak_pins`` names them)
MIN_NEW_PIN_DIGITS = 7
MAX_PIN_DIGITS = 8
#: argon2id, 4 passes over 128 MiB, 4 lanes: at least ~0.1 s of one fast core per guess (a
#: Pi's four cores share the lanes at sign-in). The parameters travel in each hash, so
#: older hashes still verify.
PIN_HASHER = PasswordHasher(time_cost=4, memory_cost=128 * 1024, parallelism=4)


class VolunteerError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class VolunteerInfo:
    id: int
    name: str
    role: Role


def _new_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def check_pin_format(pin: str) -> None:
    """What may be typed at sign-in (older 4- and 5-digit PINs included)."""
    if not (pin.isdigit() and 4 <= len(pin) <= MAX_PIN_DIGITS):
        raise VolunteerError(f"a PIN is 4 to {MAX_PIN_DIGITS} digits")


def pin_is_guessable(pin: str) -> bool:
    """One digit repeated, a run up or down (1234567, 8765432), or a repeating block
    (1212121, 1231231): what a guesser tries first, whatever the hash costs."""
    steps = {(int(b) - int(a)) % 10 for a, b in zip(pin, pin[1:], strict=False)}
    repeated = any(pin == (pin[:n] * len(pin))[:len(pin)] for n in range(1, len(pin) // 2 + 1))
    return repeated or steps in ({1}, {9})


def check_new_pin(pin: str) -> None:
    """A PIN being set: 7 to 8 digits, not a pattern a guesser tries first."""
    if not (pin.isdigit() and MIN_NEW_PIN_DIGITS <= len(pin) <= MAX_PIN_DIGITS):
        raise VolunteerError(f"a new PIN is {MIN_NEW_PIN_DIGITS} to {MAX_PIN_DIGITS} digits")
    if pin_is_guessable(pin):
        raise VolunteerError("this PIN is too easy to guess (repeated or consecutive digits)")


def hash_pin(pin: str) -> str:
    """The stored form of a new PIN (checked first)."""
    check_new_pin(pin)
    return PIN_HASHER.hash(pin)


def weak_pins(engine: Engine) -> list[str]:
    """Active volunteers whose PIN was set under older rules (possibly 4 or 5 digits, a
    cheaper hash): it still works, but should be changed."""
    with engine.connect() as conn:
        rows = conn.execute(select(V.c.name, V.c.pin_hash).where(V.c.active.is_(True))
                            .order_by(V.c.name)).all()
    return [r.name for r in rows if r.pin_hash and _needs_rehash(r.pin_hash)]


def _needs_rehash(pin_hash: str) -> bool:
    try:
        return PIN_HASHER.check_needs_rehash(pin_hash)
    except (InvalidHashError, ValueError):
        return True


def add_volunteer(engine: Engine, name: str, pin: str, role: Role = Role.VOLUNTEER) -> int:
    """Add a volunteer, or reset the PIN and role of one with the same name."""
    check_new_pin(pin)
    name = name.strip()
    if not name:
        raise VolunteerError("a volunteer needs a name")
    digest = hash_pin(pin)
    with engine.begin() as conn:
        row = conn.execute(select(V.c.id).where(V.c.name == name)).first()
        if row is not None:
            conn.execute(update(V).where(V.c.id == row.id).values(
                pin_hash=digest, role=role.value, active=True))
            return int(row.id)
        return _new_id(conn.execute(insert(V).values(
            name=name, role=role.value, pin_hash=digest, active=True)))


def verify_pin(engine: Engine, name: str, pin: str) -> VolunteerInfo | None:
    with engine.connect() as conn:
        row = conn.execute(select(V).where(V.c.name == name.strip(), V.c.active.is_(True))).first()
    if row is None:
        return None
    try:
        PIN_HASHER.verify(row.pin_hash, pin)
    except (VerificationError, InvalidHashError):
        return None
    return VolunteerInfo(id=row.id, name=row.name, role=Role(row.role))


def find_volunteer(engine: Engine, name: str) -> VolunteerInfo | None:
    with engine.connect() as conn:
        row = conn.execute(select(V.c.id, V.c.name, V.c.role).where(V.c.name == name.strip())
                           ).first()
    return VolunteerInfo(id=row.id, name=row.name, role=Role(row.role)) if row else None


def actor_name(engine: Engine, volunteer_id: int | None) -> str:
    """Who to name in the audit log for something done on the gate screen."""
    if volunteer_id is None:
        return "gate screen"
    with engine.connect() as conn:
        name = conn.execute(select(V.c.name).where(V.c.id == volunteer_id)).scalar()
    return str(name) if name is not None else f"volunteer #{volunteer_id}"


def list_volunteers(engine: Engine) -> list[VolunteerInfo]:
    with engine.connect() as conn:
        rows = conn.execute(select(V.c.id, V.c.name, V.c.role).order_by(V.c.name)).all()
    return [VolunteerInfo(id=r.id, name=r.name, role=Role(r.role)) for r in rows]


@dataclass(frozen=True, slots=True)
class SignIn:
    """The answer to one PIN attempt: ``volunteer`` on success; otherwise how many tries are
    left, or until when (naive UTC) the name is locked."""

    volunteer: VolunteerInfo | None
    attempts_left: int = 0
    locked_until: datetime | None = None


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def sign_in(engine: Engine, name: str, pin: str, now: datetime | None = None) -> SignIn:
    """Check a PIN with lockout: ``MAX_FAILED_ATTEMPTS`` wrong PINs in a row lock the name for
    ``LOCKOUT_S`` seconds; while locked even the right PIN is refused (it is not checked, so
    a guesser learns nothing). A success resets the count."""
    now = now or utc_now()
    with engine.connect() as conn:
        row = conn.execute(select(V).where(V.c.name == name.strip(), V.c.active.is_(True))).first()
    if row is None:
        return SignIn(None, attempts_left=MAX_FAILED_ATTEMPTS)
    if row.locked_until is not None and row.locked_until > now:
        return SignIn(None, locked_until=row.locked_until)
    failed = 0 if row.locked_until is not None else int(row.failed_attempts or 0)
    try:
        PIN_HASHER.verify(row.pin_hash, pin)
    except (VerificationError, InvalidHashError):
        failed += 1
        locked = now + timedelta(seconds=LOCKOUT_S) if failed >= MAX_FAILED_ATTEMPTS else None
        with engine.begin() as conn:
            conn.execute(update(V).where(V.c.id == row.id).values(
                failed_attempts=0 if locked else failed, locked_until=locked))
        return SignIn(None, attempts_left=max(0, MAX_FAILED_ATTEMPTS - failed),
                      locked_until=locked)
    if row.failed_attempts or row.locked_until is not None:
        with engine.begin() as conn:
            conn.execute(update(V).where(V.c.id == row.id).values(
                failed_attempts=0, locked_until=None))
    return SignIn(VolunteerInfo(id=row.id, name=row.name, role=Role(row.role)))


def start_shift(engine: Engine, volunteer_id: int, checkpoint: str,
                now: datetime | None = None) -> int:
    """Open a shift at sign-in; returns its id."""
    with engine.begin() as conn:
        return _new_id(conn.execute(insert(S).values(
            volunteer_id=volunteer_id, checkpoint=checkpoint, started_at=now or utc_now())))


def end_shift(engine: Engine, shift_id: int, now: datetime | None = None) -> datetime:
    """Close a shift at sign-out (idempotent: a second call keeps the first end time)."""
    end = now or utc_now()
    with engine.begin() as conn:
        conn.execute(update(S).where(S.c.id == shift_id, S.c.ended_at.is_(None))
                     .values(ended_at=end))
        ended: datetime = conn.execute(select(S.c.ended_at).where(S.c.id == shift_id)).scalar_one()
        return ended


def shift_started_at(engine: Engine, shift_id: int) -> datetime | None:
    with engine.connect() as conn:
        started: datetime | None = conn.execute(
            select(S.c.started_at).where(S.c.id == shift_id)).scalar()
        return started
