"""The office public keys this kiosk trusts, and the revocation list.

Both are small tables that sync (later) keeps up to date; an admin can also set them by hand
(``kiosk passes trust`` / ``kiosk passes revoke``) on a kiosk that has never been online.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from kiosk.core.passcode import public_key_from_hex
from kiosk.store import lite

if TYPE_CHECKING:  # cryptography (~6 MB) loads with the first key (kiosk/core/passcode.py)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from sqlalchemy import Engine

    from kiosk.store.lite import AnyConnection

_IS_REVOKED = "SELECT 1 FROM revocations WHERE pass_number = ?"
_ACTIVE_KEYS = "SELECT key_id, public_key_hex FROM pass_keys WHERE active = 1"


def is_revoked(conn: AnyConnection, number: str) -> bool:
    return lite.one(lite.driver(conn), _IS_REVOKED, (number.strip().upper(),)) is not None


def public_keys(conn: AnyConnection) -> dict[str, Ed25519PublicKey]:
    rows = lite.driver(conn).execute(_ACTIVE_KEYS).fetchall()
    return {key_id: public_key_from_hex(key_hex) for key_id, key_hex in rows}


def trust_key(engine: Engine, key_id: str, public_key_hex: str) -> None:
    """Add (or re-activate) an office key; the hex must be a valid Ed25519 public key."""
    from sqlalchemy import delete, insert

    from kiosk.store.models import PassKeyRow as K

    public_key_from_hex(public_key_hex)  # raises ValueError on garbage
    key_id = key_id.strip().upper()
    with engine.begin() as conn:
        conn.execute(delete(K).where(K.c.key_id == key_id))
        conn.execute(insert(K).values(key_id=key_id, public_key_hex=public_key_hex.lower(),
                                      added_at=datetime.now(), active=True))


def retire_key(engine: Engine, key_id: str) -> bool:
    from kiosk.store.models import PassKeyRow as K

    with engine.begin() as conn:
        return bool(conn.execute(K.update().where(K.c.key_id == key_id.strip().upper())
                                 .values(active=False)).rowcount)


def revoke(engine: Engine, number: str, reason: str = "", source: str = "local") -> None:
    """Put a pass number on the revocation list (and mark the roster's pass revoked)."""
    from sqlalchemy import insert

    from kiosk.store.models import PassRow as P
    from kiosk.store.models import RevocationRow as RV

    number = number.strip().upper()
    with engine.begin() as conn:
        if not is_revoked(conn, number):
            conn.execute(insert(RV).values(pass_number=number, revoked_at=datetime.now(),
                                           reason=reason, source=source))
        conn.execute(P.update().where(P.c.number == number).values(revoked=True))


def revocations(engine: Engine) -> list[tuple[str, datetime, str, str]]:
    from sqlalchemy import select

    from kiosk.store.models import RevocationRow as RV

    with engine.connect() as conn:
        rows = conn.execute(select(RV.c.pass_number, RV.c.revoked_at, RV.c.reason, RV.c.source)
                            .order_by(RV.c.revoked_at))
        return [(r.pass_number, r.revoked_at, r.reason, r.source) for r in rows]
