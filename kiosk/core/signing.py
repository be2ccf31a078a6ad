"""Gate events signed by the kiosk that recorded them (Ed25519), so a relay cannot forge them.

The hash chain proves that nobody changed a kiosk's events *after* they were chained, but
anyone holding the events can compute such a chain: a compound hub relaying a kiosk's events
could alter one and re-hash the rest. So each kiosk holds an Ed25519 key of its own (made at
enrolment, never leaving its data directory) and signs every event's ``hash`` as it records
it. The hash already binds everything that matters (the device id, the sequence number, the
previous event's hash, the content, the personal fields' digest and the readings), so the
signature over it binds the event and, through ``prev_hash``, every event before it.

The district verifies each event against the public key the device registered, whoever
delivered it (docs/SYNC.md, "Signed events"). Signing the same context-tagged bytes the
passes do (kiosk.core.passcode) would let one kind of signature pass for the other; the
context tag keeps them apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # cryptography loads with the first key used, not with the core
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

#: signed before the hash, so an event signature is never valid as any other signature
SIGNING_CONTEXT: Final = b"checkpoint-kiosk/event\x00"
#: an Ed25519 public key in hex (32 bytes)
PUBLIC_KEY_HEX_LENGTH: Final = 64


def signed_bytes(event_hash: str) -> bytes:
    """What the kiosk signs: the context tag and the event's SHA-256 (32 bytes)."""
    return SIGNING_CONTEXT + bytes.fromhex(event_hash)


def sign_hash(key: Ed25519PrivateKey, event_hash: str) -> str:
    """The signature of one event (by its hash), in hex: 128 characters."""
    return key.sign(signed_bytes(event_hash)).hex()


def public_key(public_hex: str) -> Ed25519PublicKey:
    """A registered device key from its hex form; ValueError if it is not one."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if len(public_hex) != PUBLIC_KEY_HEX_LENGTH:
        raise ValueError("an Ed25519 public key is 64 hex characters")
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex))


def public_hex(key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def signature_ok(key: Ed25519PublicKey, event_hash: str, signature: str | None) -> bool:
    """Whether ``signature`` (hex) is ``key``'s signature of the event with ``event_hash``."""
    from cryptography.exceptions import InvalidSignature

    if not signature:
        return False
    try:
        key.verify(bytes.fromhex(signature), signed_bytes(event_hash))
    except (InvalidSignature, ValueError):
        return False
    return True
