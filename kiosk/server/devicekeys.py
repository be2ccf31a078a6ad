"""Each device's Ed25519 public keys, and the check that its events carry its signature.

A device's key comes with its enrolment (``POST /api/v1/enrol`` with ``public_key``), or, for
a kiosk enrolled before keys existed, once over its own authenticated connection
(``POST /api/v1/device/key``: trust on first use, written to the audit log). A key is never
replaced silently: registering another key for a device that has one is refused (409); only
a replacement enrolment (``kiosk serve enrol --replace``, the command's explicit act) adds a
new key, from the sequence number the reinstalled kiosk signs from. Keys are only ever
added, so every stored event stays verifiable against the key it was signed with.

Whoever delivers an event (the kiosk itself or a compound hub relaying it), the event is
checked against the key of *its* device for *its* sequence number: a relay holds no key of
the kiosk's and cannot make a signature that verifies.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, insert, select

from kiosk.core import signing
from kiosk.server import audit
from kiosk.server.clock import utc_now
from kiosk.server.models import DeviceKeyRow
from kiosk.store.models import table_of

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

KEYS = table_of(DeviceKeyRow)

#: audit actions
DEVICE_KEY = "device_key"
#: how a key came (DeviceKeyRow.how)
ENROLMENT, FIRST_USE, REPLACEMENT = "enrolment", "first use", "replacement"
#: the finding kind of an event refused for its signature
BAD_SIGNATURE = "bad_signature"


class KeyConflict(Exception):
    """The device already has another key: a key is never replaced but by re-enrolment."""


@lru_cache(maxsize=4096)
def _public_key(public_hex: str) -> Ed25519PublicKey:
    """A parsed key, kept: loaded once per process, not once per batch."""
    return signing.public_key(public_hex)


@dataclass(frozen=True, slots=True)
class DeviceKeys:
    """A device's keys, by the first sequence number each one signs."""

    from_seqs: tuple[int, ...] = ()
    hexes: tuple[str, ...] = ()

    def key_for(self, seq: int) -> str | None:
        """The key (hex) that must have signed event ``seq``; None: from before keys."""
        i = bisect.bisect_right(self.from_seqs, seq) - 1
        return self.hexes[i] if i >= 0 else None

    def problem(self, seq: int, event_hash: str, signature: str | None) -> str | None:
        """Why event ``seq`` is not its device's (None: it is, or it is from before keys)."""
        key = self.key_for(seq)
        if key is None:
            return None
        if not signature:
            return ("forged: no signature, and the device signs its events from seq "
                    f"{self.from_seqs[self.hexes.index(key)]} on")
        if not signing.signature_ok(_public_key(key), event_hash, signature):
            return "forged: the signature is not the device's"
        return None


def load_keys(conn: Connection, device_id: str) -> DeviceKeys:
    rows = conn.execute(select(KEYS.c.from_seq, KEYS.c.public_key_hex)
                        .where(KEYS.c.device_id == device_id)
                        .order_by(KEYS.c.from_seq)).all()
    return DeviceKeys(tuple(r.from_seq for r in rows), tuple(r.public_key_hex for r in rows))


def valid_public_hex(public_hex: str) -> str:
    """``public_hex`` if it is an Ed25519 public key, else ValueError."""
    _public_key(public_hex.lower())
    return public_hex.lower()


def add_key(conn: Connection, device_id: str, public_hex: str, from_seq: int, how: str,
            client: str = "", now: datetime | None = None) -> None:
    """Record a key in the caller's transaction (with its audit row). The same key again is
    a no-op; a replacement's new key takes over from ``from_seq``."""
    now = now or utc_now()
    keys = load_keys(conn, device_id)
    if public_hex in keys.hexes:
        return
    if from_seq in keys.from_seqs:  # a replacement from the same seq: the new key rules
        conn.execute(KEYS.delete().where(KEYS.c.device_id == device_id,
                                         KEYS.c.from_seq == from_seq))
    conn.execute(insert(KEYS).values(device_id=device_id, from_seq=from_seq,
                                     public_key_hex=public_hex, registered_at=now, how=how))
    audit.record_in(conn, device_id, DEVICE_KEY,
                    {"public_key": public_hex, "from_seq": from_seq, "how": how,
                     "previous": list(keys.hexes)}, client, now)


@dataclass(frozen=True, slots=True)
class Registered:
    public_key: str
    from_seq: int
    #: True when this request registered it; False when the device already had this key
    new: bool


def register_first_use(engine: Engine, device_id: str, public_hex: str, from_seq: int,
                       client: str = "") -> Registered:
    """A kiosk enrolled before keys registers its key over its own connection: accepted
    once (trust on first use, audited), the same key again is acknowledged, another key
    is refused (KeyConflict)."""
    public_hex = valid_public_hex(public_hex)
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        keys = load_keys(conn, device_id)
        if public_hex in keys.hexes:
            i = keys.hexes.index(public_hex)
            return Registered(public_hex, keys.from_seqs[i], False)
        if keys.hexes:
            raise KeyConflict("this device already has another key; a key is only replaced "
                              "by re-enrolling (kiosk serve enrol --replace DEVICE_ID)")
        add_key(conn, device_id, public_hex, from_seq, FIRST_USE, client)
    return Registered(public_hex, from_seq, True)
