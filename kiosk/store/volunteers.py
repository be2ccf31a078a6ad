"""Volunteers, their PINs and their shifts. PINs are stored only as argon2id hashes
(argon2-cffi), costly enough that a stolen kiosk's database does not give away a 7-digit PIN
within a day of one CPU core (the arithmetic is in docs/SECURITY.md), and
``sign_in`` locks a name for a while after a few wrong PINs so they cannot be guessed at the
gate either. Shift times are naive UTC, like ``gate_events.wall_utc``, so a handover can count
the shift's events directly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from kiosk.core.model import Role
from kiosk.store import lite
from kiosk.store.lite import read_datetime, reading, sql_datetime, utc_now, writing

if TYPE_CHECKING:
    from kiosk.store.lite import AnyConnection, Source

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


def weak_pins(db: Source) -> list[str]:
    """Active volunteers whose PIN was set under older rules (possibly 4 or 5 digits, a
    cheaper hash): it still works, but should be changed."""
    with reading(db) as con:
        rows = con.execute("SELECT name, pin_hash FROM volunteers WHERE active = 1 "
                           "ORDER BY name").fetchall()
    return [name for name, pin_hash in rows if pin_hash and _needs_rehash(pin_hash)]


def _needs_rehash(pin_hash: str) -> bool:
    try:
        return PIN_HASHER.check_needs_rehash(pin_hash)
    except (InvalidHashError, ValueError):
        return True


_ACTIVE = ("SELECT id, name, role, pin_hash, failed_attempts, locked_until FROM volunteers "
           "WHERE name = ? AND active = 1")


def add_volunteer(db: Source, name: str, pin: str, role: Role = Role.VOLUNTEER) -> int:
    """Add a volunteer, or reset the PIN and role of one with the same name."""
    check_new_pin(pin)
    name = name.strip()
    if not name:
        raise VolunteerError("a volunteer needs a name")
    digest = hash_pin(pin)
    with writing(db) as con:
        found = lite.one(con, "SELECT id FROM volunteers WHERE name = ?", (name,))
        if found is not None:
            con.execute("UPDATE volunteers SET pin_hash = ?, role = ?, active = 1 WHERE id = ?",
                        (digest, role.value, found))
            return int(found)
        cur = con.execute("INSERT INTO volunteers (name, role, pin_hash, active, "
                          "failed_attempts) VALUES (?, ?, ?, 1, 0)", (name, role.value, digest))
        return int(cur.lastrowid or 0)


def verify_pin(db: Source, name: str, pin: str) -> VolunteerInfo | None:
    with reading(db) as con:
        row = con.execute(_ACTIVE, (name.strip(),)).fetchone()
    if row is None:
        return None
    try:
        PIN_HASHER.verify(row[3], pin)
    except (VerificationError, InvalidHashError):
        return None
    return VolunteerInfo(id=row[0], name=row[1], role=Role(row[2]))


def find_volunteer(db: Source, name: str) -> VolunteerInfo | None:
    with reading(db) as con:
        row = con.execute("SELECT id, name, role FROM volunteers WHERE name = ?",
                          (name.strip(),)).fetchone()
    return VolunteerInfo(id=row[0], name=row[1], role=Role(row[2])) if row else None


def actor_name(conn: AnyConnection, volunteer_id: int | None) -> str:
    """Who to name in the audit log for something done on the gate screen."""
    if volunteer_id is None:
        return "gate screen"
    name = lite.one(lite.driver(conn), "SELECT name FROM volunteers WHERE id = ?",
                    (volunteer_id,))
    return str(name) if name is not None else f"volunteer #{volunteer_id}"


def list_volunteers(db: Source) -> list[VolunteerInfo]:
    with reading(db) as con:
        rows = con.execute("SELECT id, name, role FROM volunteers ORDER BY name").fetchall()
    return [VolunteerInfo(id=i, name=n, role=Role(r)) for i, n, r in rows]


@dataclass(frozen=True, slots=True)
class SignIn:
    """The answer to one PIN attempt: ``volunteer`` on success; otherwise how many tries are
    left, or until when (naive UTC) the name is locked."""

    volunteer: VolunteerInfo | None
    attempts_left: int = 0
    locked_until: datetime | None = None


_SET_ATTEMPTS = "UPDATE volunteers SET failed_attempts = ?, locked_until = ? WHERE id = ?"


def sign_in(db: Source, name: str, pin: str, now: datetime | None = None) -> SignIn:
    """Check a PIN with lockout: ``MAX_FAILED_ATTEMPTS`` wrong PINs in a row lock the name for
    ``LOCKOUT_S`` seconds; while locked even the right PIN is refused (it is not checked, so
    a guesser learns nothing). A success resets the count."""
    now = now or utc_now()
    with reading(db) as con:
        row = con.execute(_ACTIVE, (name.strip(),)).fetchone()
    if row is None:
        return SignIn(None, attempts_left=MAX_FAILED_ATTEMPTS)
    vid, vname, role, pin_hash, failed_attempts, locked_text = row
    locked_until = read_datetime(locked_text)
    if locked_until is not None and locked_until > now:
        return SignIn(None, locked_until=locked_until)
    failed = 0 if locked_until is not None else int(failed_attempts or 0)
    try:
        PIN_HASHER.verify(pin_hash, pin)
    except (VerificationError, InvalidHashError):
        failed += 1
        locked = now + timedelta(seconds=LOCKOUT_S) if failed >= MAX_FAILED_ATTEMPTS else None
        with writing(db) as con:
            con.execute(_SET_ATTEMPTS, (0 if locked else failed,
                                        None if locked is None else sql_datetime(locked), vid))
        return SignIn(None, attempts_left=max(0, MAX_FAILED_ATTEMPTS - failed),
                      locked_until=locked)
    if failed_attempts or locked_until is not None:
        with writing(db) as con:
            con.execute(_SET_ATTEMPTS, (0, None, vid))
    return SignIn(VolunteerInfo(id=vid, name=vname, role=Role(role)))


def start_shift(db: Source, volunteer_id: int, checkpoint: str,
                now: datetime | None = None) -> int:
    """Open a shift at sign-in; returns its id."""
    with writing(db) as con:
        cur = con.execute("INSERT INTO shifts (volunteer_id, checkpoint, started_at) "
                          "VALUES (?, ?, ?)",
                          (volunteer_id, checkpoint, sql_datetime(now or utc_now())))
        return int(cur.lastrowid or 0)


def end_shift(db: Source, shift_id: int, now: datetime | None = None) -> datetime:
    """Close a shift at sign-out (idempotent: a second call keeps the first end time)."""
    end = now or utc_now()
    with writing(db) as con:
        con.execute("UPDATE shifts SET ended_at = ? WHERE id = ? AND ended_at IS NULL",
                    (sql_datetime(end), shift_id))
        ended = read_datetime(lite.one(con, "SELECT ended_at FROM shifts WHERE id = ?",
                                       (shift_id,)))
    assert ended is not None
    return ended


def shift_started_at(db: Source, shift_id: int) -> datetime | None:
    with reading(db) as con:
        return read_datetime(lite.one(con, "SELECT started_at FROM shifts WHERE id = ?",
                                      (shift_id,)))
