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

    from kiosk.store.lite import AnyConnection, Source

_IS_REVOKED = "SELECT 1 FROM revocations WHERE pass_number = ?"
_ACTIVE_KEYS = "SELECT key_id, public_key_hex FROM pass_keys WHERE active = 1"


def is_revoked(conn: AnyConnection, number: str) -> bool:
    return lite.one(lite.driver(conn), _IS_REVOKED, (number.strip().upper(),)) is not None


def public_keys(conn: AnyConnection) -> dict[str, Ed25519PublicKey]:
    rows = lite.driver(conn).execute(_ACTIVE_KEYS).fetchall()
    return {key_id: public_key_from_hex(key_hex) for key_id, key_hex in rows}


def trust_key(db: Source, key_id: str, public_key_hex: str) -> None:
    """Add (or re-activate) an office key; the hex must be a valid Ed25519 public key."""
    public_key_from_hex(public_key_hex)  # raises ValueError on garbage
    with lite.writing(db) as con:
        con.execute("INSERT OR REPLACE INTO pass_keys (key_id, public_key_hex, added_at, active) "
                    "VALUES (?, ?, ?, 1)", (key_id.strip().upper(), public_key_hex.lower(),
                                            lite.sql_datetime(lite.utc_now())))


def retire_key(db: Source, key_id: str) -> bool:
    with lite.writing(db) as con:
        return con.execute("UPDATE pass_keys SET active = 0 WHERE key_id = ?",
                           (key_id.strip().upper(),)).rowcount > 0


def revoke(db: Source, number: str, reason: str = "", source: str = "local") -> None:
    """Put a pass number on the revocation list (and mark the roster's pass revoked)."""
    number = number.strip().upper()
    with lite.writing(db) as con:
        con.execute("INSERT OR IGNORE INTO revocations (pass_number, revoked_at, reason, source) "
                    "VALUES (?, ?, ?, ?)", (number, lite.sql_datetime(lite.utc_now()), reason,
                                            source))
        con.execute("UPDATE passes SET revoked = 1 WHERE number = ?", (number,))


def revocations(db: Source) -> list[tuple[str, datetime, str, str]]:
    """(number, when (naive UTC), reason, source), oldest first."""
    with lite.reading(db) as con:
        rows = con.execute("SELECT pass_number, revoked_at, reason, source FROM revocations "
                           "ORDER BY revoked_at").fetchall()
    return [(n, datetime.fromisoformat(at), reason, source) for n, at, reason, source in rows]
