"""Staff sign-in: argon2id passwords, sessions as random tokens whose SHA-256 is stored,
failed attempts counted from the audit log (kiosk.server.ratelimit), every attempt audited."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import Engine, delete, insert, select

from kiosk.server import audit, ratelimit
from kiosk.server.auth import sha256_hex, verify_password
from kiosk.server.clock import utc_now
from kiosk.server.models import SessionRow, UserRow
from kiosk.server.roles import Role, Staff
from kiosk.store.models import table_of

SESSIONS = table_of(SessionRow)
USERS = table_of(UserRow)
COOKIE = "kiosk_session"
SESSION_HOURS = 12


def session_staff(engine: Engine, token: str | None) -> Staff | None:
    """The signed-in user with their role and compound; None when the cookie is absent,
    unknown or expired, or the user was removed."""
    if not token:
        return None
    with engine.connect() as conn:
        row = conn.execute(
            select(USERS.c.name, USERS.c.role, USERS.c.compound, SESSIONS.c.expires_at)
            .join(USERS, USERS.c.name == SESSIONS.c.user)
            .where(SESSIONS.c.token_hash == sha256_hex(token))).first()
    if row is None or row.expires_at <= utc_now():
        return None
    try:
        role = Role(row.role)
    except ValueError:  # a role this version does not know sees nothing
        return None
    return Staff(row.name, role, row.compound)


def sign_in(engine: Engine, user: str, password: str, client: str
            ) -> tuple[str | None, timedelta | None]:
    """(session token, None) when the password is right; (None, None) when it is wrong;
    (None, wait) when a limit is reached (kiosk.server.ratelimit: the attempt is counted
    before the password is checked, and then it is not checked at all). An unknown user
    costs the same argon2 check as a known one. Every attempt is audited."""
    now = utc_now()
    attempt = ratelimit.admit(engine, ratelimit.SIGN_IN, client, user, now)
    if not isinstance(attempt, int):
        return None, attempt
    with engine.connect() as conn:
        stored = conn.execute(select(USERS.c.password_hash)
                              .where(USERS.c.name == user)).scalar_one_or_none()
    if not verify_password(stored, password):
        audit.record(engine, user, audit.SIGN_IN_FAILED,
                     {"known_user": stored is not None}, client)
        return None, None
    ratelimit.succeeded(engine, attempt)
    token = secrets.token_urlsafe(32)
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        conn.execute(delete(SESSIONS).where(SESSIONS.c.expires_at < now))
        conn.execute(insert(SESSIONS).values(
            token_hash=sha256_hex(token), user=user,
            expires_at=now + timedelta(hours=SESSION_HOURS)))
        audit.record_in(conn, user, audit.SIGN_IN, "", client, now)
    return token, None


def sign_out(engine: Engine, token: str, client: str) -> None:
    staff = session_staff(engine, token)
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        conn.execute(delete(SESSIONS).where(SESSIONS.c.token_hash == sha256_hex(token)))
        if staff is not None:
            audit.record_in(conn, staff.name, audit.SIGN_OUT, "", client)
