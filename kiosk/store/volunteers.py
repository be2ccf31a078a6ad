"""Volunteers and their PINs. PINs are stored only as argon2id hashes (argon2-cffi): a stolen
kiosk's database does not give away the 4-6 digit PINs cheaply."""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, insert, select, update

from kiosk.core.model import Role
from kiosk.store.models import VolunteerRow

V = VolunteerRow.__table__
_hasher = PasswordHasher()


class VolunteerError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class VolunteerInfo:
    id: int
    name: str
    role: Role


def check_pin_format(pin: str) -> None:
    if not (pin.isdigit() and 4 <= len(pin) <= 8):
        raise VolunteerError("a PIN is 4 to 8 digits")


def add_volunteer(engine: Engine, name: str, pin: str, role: Role = Role.VOLUNTEER) -> int:
    """Add a volunteer, or reset the PIN and role of one with the same name."""
    check_pin_format(pin)
    name = name.strip()
    if not name:
        raise VolunteerError("a volunteer needs a name")
    digest = _hasher.hash(pin)
    with engine.begin() as conn:
        row = conn.execute(select(V.c.id).where(V.c.name == name)).first()
        if row is not None:
            conn.execute(update(V).where(V.c.id == row.id).values(
                pin_hash=digest, role=role.value, active=True))
            return int(row.id)
        return int(conn.execute(insert(V).values(
            name=name, role=role.value, pin_hash=digest, active=True)).inserted_primary_key[0])


def verify_pin(engine: Engine, name: str, pin: str) -> VolunteerInfo | None:
    with engine.connect() as conn:
        row = conn.execute(select(V).where(V.c.name == name.strip(), V.c.active.is_(True))).first()
    if row is None:
        return None
    try:
        _hasher.verify(row.pin_hash, pin)
    except (VerificationError, InvalidHashError):
        return None
    return VolunteerInfo(id=row.id, name=row.name, role=Role(row.role))


def find_volunteer(engine: Engine, name: str) -> VolunteerInfo | None:
    with engine.connect() as conn:
        row = conn.execute(select(V.c.id, V.c.name, V.c.role).where(V.c.name == name.strip())
                           ).first()
    return VolunteerInfo(id=row.id, name=row.name, role=Role(row.role)) if row else None


def list_volunteers(engine: Engine) -> list[VolunteerInfo]:
    with engine.connect() as conn:
        rows = conn.execute(select(V.c.id, V.c.name, V.c.role).order_by(V.c.name)).all()
    return [VolunteerInfo(id=r.id, name=r.name, role=Role(r.role)) for r in rows]
