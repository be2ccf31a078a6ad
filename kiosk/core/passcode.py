"""Signed pass payloads that a gate can check with no network and no database.

The office signs each pass with an Ed25519 key; every kiosk holds only the public keys, so a
photocopied or hand-edited QR is refused offline. The payload is printed as a QR code, so it
uses only the QR *alphanumeric* charset (0-9 A-Z space $%*+-./:), which packs 5.5 bits per
character instead of 8 and keeps the code small enough for cheap cameras:

    KP1.K2604.BY3-1202-01.R.20260401.20260430.<signature, 103 chars of base32>

``KP`` marks our format and ``1`` its version, then key id, pass number, kind letter, first and
last valid day (inclusive), and the signature over everything before the last dot. Parsing is
strict and every field has exactly one spelling, so any changed character is refused.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple

from kiosk.core.model import PassKind

if TYPE_CHECKING:  # cryptography (~6 MB) loads with the first key or signed pass handled
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

FORMAT_TAG = "KP"
FORMAT_VERSION = 1
SEPARATOR = "."

#: The QR alphanumeric-mode charset; every payload we produce stays inside it.
QR_ALPHANUMERIC = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")

#: Signed together with the fields so a signature made for another purpose cannot be replayed.
_SIGNING_CONTEXT = b"checkpoint-kiosk/pass\x00"

#: One letter per kind keeps the QR small; letters are part of the format, never reuse one.
KIND_CODES: Mapping[PassKind, str] = {
    PassKind.RESIDENT: "R",
    PassKind.WORKER: "W",
    PassKind.SUPPLIER: "S",
    PassKind.STAFF: "T",
    PassKind.VISITOR: "V",
}
_KINDS_BY_CODE = {code: kind for kind, code in KIND_CODES.items()}

_KEY_ID = re.compile(r"[0-9A-Z]{1,8}")
_NUMBER = re.compile(r"[0-9A-Z](?:[0-9A-Z-]{0,22}[0-9A-Z])?")
_DATE = re.compile(r"[0-9]{8}")
_SIGNATURE_CHARS = 103  # 64 bytes in unpadded base32
#: Longest well-formed payload; anything longer is refused before any parsing work.
MAX_PAYLOAD_CHARS = len("KP1.KEYID123.") + 24 + len(".R.20260401.20260430.") + _SIGNATURE_CHARS


class CheckReason(StrEnum):
    """Why a payload was accepted or refused; stable codes for logs and UI messages."""

    OK = "ok"
    MALFORMED = "malformed"  # not our format, a field out of range, or a wrong version
    UNKNOWN_KEY = "unknown_key"  # signed by a key this kiosk does not hold (or retired)
    FORGED = "forged"  # signature does not match: altered or made without the key
    REVOKED = "revoked"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class PassFields:
    """What a pass says about itself. ``valid_to`` is inclusive, as in ``model.Pass``."""

    number: str
    kind: PassKind
    valid_from: date
    valid_to: date


@dataclass(frozen=True, slots=True)
class PassCheck:
    """The verdict on one payload; ``fields``/``key_id`` are set whenever the payload parsed,
    even when refused, so the volunteer can see which pass was shown."""

    reason: CheckReason
    fields: PassFields | None = None
    key_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is CheckReason.OK


def _format_date(d: date) -> str:
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"


def _parse_date(text: str) -> date | None:
    if not _DATE.fullmatch(text):
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _body(fields: PassFields, key_id: str) -> str:
    return SEPARATOR.join(
        (
            f"{FORMAT_TAG}{FORMAT_VERSION}",
            key_id,
            fields.number,
            KIND_CODES[fields.kind],
            _format_date(fields.valid_from),
            _format_date(fields.valid_to),
        )
    )


def _signed_bytes(body: str) -> bytes:
    return _SIGNING_CONTEXT + body.encode("ascii")


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=")


def _unb32(text: str) -> bytes | None:
    """Decode unpadded base32, accepting only the one canonical spelling (the spare low
    bits of the last character must be zero, or two payloads would share a signature)."""
    try:
        data = base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        return None
    return data if _b32(data) == text else None


def encode_pass(fields: PassFields, private_key: Ed25519PrivateKey, key_id: str) -> str:
    """Sign ``fields`` and return the QR payload. Raises ValueError for values the format
    cannot carry (lowercase, dots, too long, dates reversed) instead of altering them."""
    if not _KEY_ID.fullmatch(key_id):
        raise ValueError(f"key id must be 1-8 characters of 0-9 A-Z, got {key_id!r}")
    if not _NUMBER.fullmatch(fields.number):
        raise ValueError(
            f"pass number must be 1-24 characters of 0-9 A-Z and inner '-', got {fields.number!r}"
        )
    if fields.valid_from > fields.valid_to:
        raise ValueError(f"valid_from {fields.valid_from} is after valid_to {fields.valid_to}")
    body = _body(fields, key_id)
    signature = private_key.sign(_signed_bytes(body))
    return f"{body}{SEPARATOR}{_b32(signature)}"


class _Parsed(NamedTuple):
    key_id: str
    fields: PassFields
    signature: bytes
    body: str  # the exact signed text


def _parse(payload: str) -> _Parsed | None:
    """Split a payload into its parts, or None if it is not exactly our format."""
    if len(payload) > MAX_PAYLOAD_CHARS or not payload.isascii():
        return None
    parts = payload.split(SEPARATOR)
    if len(parts) != 7 or parts[0] != f"{FORMAT_TAG}{FORMAT_VERSION}":
        return None
    _, key_id, number, kind_code, from_text, to_text, sig_text = parts
    kind = _KINDS_BY_CODE.get(kind_code)
    valid_from, valid_to = _parse_date(from_text), _parse_date(to_text)
    signature = _unb32(sig_text) if len(sig_text) == _SIGNATURE_CHARS else None
    if (
        kind is None
        or valid_from is None
        or valid_to is None
        or valid_from > valid_to
        or signature is None
        or not _KEY_ID.fullmatch(key_id)
        or not _NUMBER.fullmatch(number)
    ):
        return None
    fields = PassFields(number, kind, valid_from, valid_to)
    return _Parsed(key_id, fields, signature, payload[: -len(sig_text) - 1])


def verify_pass(
    payload: str,
    public_keys: Mapping[str, Ed25519PublicKey],
    today: date,
    revoked: Collection[str],
) -> PassCheck:
    """Check a scanned payload. Never raises for any input string.

    ``public_keys`` maps key id to key; keeping the previous key during a rotation lets
    old passes run out their dates. ``revoked`` holds pass numbers. Surrounding whitespace
    is ignored because USB scanners type a trailing Enter; nothing else is forgiven.
    """
    parsed = _parse(payload.strip(" \t\r\n"))
    if parsed is None:
        return PassCheck(CheckReason.MALFORMED)
    key_id, fields, signature, body = parsed
    key = public_keys.get(key_id)
    if key is None:
        return PassCheck(CheckReason.UNKNOWN_KEY, fields, key_id)
    from cryptography.exceptions import InvalidSignature

    try:
        key.verify(signature, _signed_bytes(body))
    except InvalidSignature:
        return PassCheck(CheckReason.FORGED, fields, key_id)
    if fields.number in revoked:
        reason = CheckReason.REVOKED
    elif today < fields.valid_from:
        reason = CheckReason.NOT_YET_VALID
    elif today > fields.valid_to:
        reason = CheckReason.EXPIRED
    else:
        reason = CheckReason.OK
    return PassCheck(reason, fields, key_id)


def is_qr_alphanumeric(text: str) -> bool:
    """True if a QR encoder can keep ``text`` in alphanumeric mode."""
    return all(ch in QR_ALPHANUMERIC for ch in text)


# --- keys -------------------------------------------------------------------------------------


def generate_key_pair() -> tuple[Ed25519PrivateKey, Ed25519PublicKey]:
    """A fresh signing key for the issuing office and the public half for the kiosks."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private_key = Ed25519PrivateKey.generate()
    return private_key, private_key.public_key()


def public_key_to_hex(key: Ed25519PublicKey) -> str:
    """64 hex digits: short enough for a settings file or to read out over the phone."""
    from cryptography.hazmat.primitives import serialization

    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw.hex()


def public_key_from_hex(text: str) -> Ed25519PublicKey:
    """Inverse of :func:`public_key_to_hex`; raises ValueError on anything but 32 bytes."""
    raw = bytes.fromhex(text.strip())
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, got {len(raw)}")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    return Ed25519PublicKey.from_public_bytes(raw)


def public_key_to_pem(key: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_key_from_pem(data: bytes) -> Ed25519PublicKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"expected an Ed25519 public key, got {type(key).__name__}")
    return key


def private_key_to_pem(key: Ed25519PrivateKey, password: bytes | None = None) -> bytes:
    """PKCS#8 PEM, encrypted when a password is given (the office copy should be)."""
    from cryptography.hazmat.primitives import serialization

    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def private_key_from_pem(data: bytes, password: bytes | None = None) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = serialization.load_pem_private_key(data, password=password)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"expected an Ed25519 private key, got {type(key).__name__}")
    return key


#: verification results that mean the paper is not genuine (as opposed to out of date)
SIGNATURE_FAILURES = frozenset({CheckReason.MALFORMED, CheckReason.UNKNOWN_KEY,
                                CheckReason.FORGED})


def looks_signed(text: str) -> bool:
    """Whether scanned text claims to be one of our signed payloads (then it must verify):
    ``KP`` and a version number, then a dot. Pass numbers never contain a dot."""
    return re.match(rf"{FORMAT_TAG}[0-9]+\{SEPARATOR}", text.strip().upper()) is not None
