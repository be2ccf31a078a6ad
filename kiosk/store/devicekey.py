"""The kiosk's own Ed25519 key, which signs every event it records (kiosk.core.signing).

Kept in ``<data dir>/device.key`` (PKCS#8 PEM, mode 0600), beside ``sync.key`` and for the
same reasons: not in the database, which is backed up and copied around, nor in
``settings.toml``, which ``config show`` prints. It is made once (at enrolment, or at the
first sync of a kiosk enrolled before keys existed) and never replaced: creating it links a
finished file into place, so two processes making it at once end up with one key, and an
existing key is never overwritten. Only its public half leaves the kiosk.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.core import signing

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

KEY_FILE = "device.key"


class DeviceKey:
    """The private key and its public half (hex, as the central store registers it)."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self.private = private
        self.public_hex = signing.public_hex(private)

    def sign(self, event_hash: str) -> str:
        return signing.sign_hash(self.private, event_hash)


def key_path(data_dir: Path) -> Path:
    return data_dir / KEY_FILE


def load_key(path: Path) -> DeviceKey | None:
    """The key in ``path``; None when there is none yet (cryptography, ~6 MB, is loaded
    only once there is a key: a kiosk that is not enrolled never loads it)."""
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        return None
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 key")
    return DeviceKey(key)


def ensure_key(data_dir: Path) -> DeviceKey:
    """This kiosk's key, made now if it has none (mode 0600, fsynced, never replaced)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    path = key_path(data_dir)
    found = load_key(path)
    if found is not None:
        return found
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process made the key meanwhile: theirs wins
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    dir_fd = os.open(data_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    made = load_key(path)
    assert made is not None
    return made
