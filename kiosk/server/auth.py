"""Secrets of the central store: enrolment codes, device secrets, staff passwords, sessions.

Device secrets are 32 random bytes and stored as their SHA-256, not argon2: argon2 exists to
make guessing a low-entropy password slow, but nobody can guess 256 random bits, and every
upload is authenticated, so ~50 ms of argon2 per request would cap ingest and hand an attacker
a cheap way to burn the server's CPU. The SHA-256 is also the lookup key (unique index), so a
request needs one indexed read. Enrolment codes are short enough to type (50 bits), so they
live 24 hours and work once. Staff passwords are chosen by people: argon2id.
"""

from __future__ import annotations

import hashlib
import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

#: Crockford-style alphabet without 0/O/1/I/L: readable over a phone line
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10
_passwords = PasswordHasher()


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def new_device_secret() -> str:
    """256 random bits, URL-safe text (what the kiosk keeps in its ``sync.key`` file)."""
    return secrets.token_urlsafe(32)


def new_enrolment_code() -> str:
    """Ten characters, printed as two groups of five (``ABCDE-FGHJK``)."""
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def normalise_code(code: str) -> str:
    """What a volunteer typed, compared without dashes, spaces or case."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def hash_password(password: str) -> str:
    return _passwords.hash(password)


@cache
def _dummy_hash() -> str:
    return _passwords.hash(secrets.token_urlsafe(16))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches. For an unknown user (``None``) a dummy hash is checked
    all the same, so the answer takes as long as for a known user: the time of a failed
    sign-in does not tell which user names exist."""
    try:
        return _passwords.verify(stored_hash or _dummy_hash(), password) and \
            stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False
