"""How many failed sign-ins or enrolments may be tried before the caller has to wait.

Every attempt is written to the ``attempts`` table as failed *before* its password or code
is checked, in the same serialised transaction that counts the earlier ones (SQLite's write
lock; a transaction-level advisory lock on PostgreSQL). So 60 guesses sent at once are
counted one after the other: no more than the limit of them are ever checked. An attempt
that succeeds is marked so and stops counting. The table is shared by every API worker and
survives restarts.

The scheme (docs/SYNC.md, "Guessing is slowed down") limits guessing without handing anyone
a way to lock a real user out:

* per (user, address): a guesser at one address is stopped for that user;
* per address: one address cannot spray many users either;
* per user, from any address: a guesser spread over many addresses is stopped too, but only
  at addresses from which that user has not signed in successfully in the last
  ``FAMILIAR_DAYS``; at their usual addresses the real user is never refused because of
  failures made elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, text, update

from kiosk.server import audit
from kiosk.server.clock import utc_now
from kiosk.server.models import AttemptRow
from kiosk.store.models import table_of

ATT = table_of(AttemptRow)
SIGN_IN, ENROL = "sign_in", "enrol"
#: any 64-bit number, the same in every worker: one attempt counted at a time (PostgreSQL)
_ATTEMPT_LOCK = 0x6B696F736B5F7261


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``failures`` failed attempts in any ``window``."""

    failures: int
    window: timedelta

    def since(self, now: datetime) -> datetime:
        return now - self.window

    def wait(self, recent: Sequence[datetime], now: datetime) -> timedelta | None:
        """None when another attempt may be tried; else how long until the oldest failure
        that counts leaves the window. ``recent``: failure times, oldest first."""
        inside = [t for t in recent if t > now - self.window]
        if len(inside) < self.failures:
            return None
        oldest_that_counts = inside[len(inside) - self.failures]
        return max(oldest_that_counts + self.window - now, timedelta(seconds=1))


def minutes_to_wait(wait: timedelta) -> int:
    """What the refusal tells a person: whole minutes, at least one."""
    return max(1, round(wait.total_seconds() / 60))


def retry_after(wait: timedelta) -> dict[str, str]:
    """The ``Retry-After`` header of the 429 answer (seconds, rounded up)."""
    return {"Retry-After": str(int(wait.total_seconds()) + 1)}


#: dashboard sign-in: one user from one address
LOGIN_PER_USER_CLIENT = Limit(5, timedelta(minutes=15))
#: dashboard sign-in: one address, whichever users it tries
LOGIN_PER_CLIENT = Limit(20, timedelta(minutes=15))
#: dashboard sign-in: one user from everywhere, applied at unfamiliar addresses only
LOGIN_PER_USER = Limit(20, timedelta(minutes=15))
#: an address from which the user signed in within this many days is familiar
FAMILIAR_DAYS = 30
#: kiosk enrolment: codes are 50 bits and used once, so this only stops log and CPU floods
ENROL_PER_CLIENT = Limit(10, timedelta(minutes=15))
#: failed attempts older than this count for nothing and are deleted
_KEEP = max(LOGIN_PER_USER_CLIENT.window, LOGIN_PER_CLIENT.window, LOGIN_PER_USER.window,
            ENROL_PER_CLIENT.window)


def _failed_at(conn: Connection, kind: str, since: datetime, *where: Any) -> list[datetime]:
    return list(conn.execute(
        select(ATT.c.at).where(ATT.c.kind == kind, ATT.c.failed.is_(True), ATT.c.at > since,
                               *where).order_by(ATT.c.at)).scalars())


def _familiar(conn: Connection, user: str, client: str, now: datetime) -> bool:
    return bool(audit.failures(conn, audit.SIGN_IN, now - timedelta(days=FAMILIAR_DAYS),
                               client=client, actor=user))


def _sign_in_wait(conn: Connection, user: str, client: str, now: datetime
                  ) -> timedelta | None:
    pair = LOGIN_PER_USER_CLIENT
    wait = pair.wait(_failed_at(conn, SIGN_IN, pair.since(now), ATT.c.user == user,
                                ATT.c.client == client), now)
    wait = wait or LOGIN_PER_CLIENT.wait(_failed_at(
        conn, SIGN_IN, LOGIN_PER_CLIENT.since(now), ATT.c.client == client), now)
    if wait is None and not _familiar(conn, user, client, now):
        wait = LOGIN_PER_USER.wait(_failed_at(
            conn, SIGN_IN, LOGIN_PER_USER.since(now), ATT.c.user == user), now)
    return wait


def _enrol_wait(conn: Connection, client: str, now: datetime) -> timedelta | None:
    return ENROL_PER_CLIENT.wait(_failed_at(
        conn, ENROL, ENROL_PER_CLIENT.since(now), ATT.c.client == client), now)


def admit(engine: Engine, kind: str, client: str, user: str = "",
          now: datetime | None = None) -> int | timedelta:
    """Count, then record, one attempt of ``kind`` (SIGN_IN or ENROL): its id (pass it to
    ``succeeded`` when the password or code is right), or how long to wait when a limit is
    reached (nothing is recorded then, and nothing may be checked)."""
    now = now or utc_now()
    user, client = user[:100], client[:64]
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ATTEMPT_LOCK})
        wait = (_sign_in_wait(conn, user, client, now) if kind == SIGN_IN
                else _enrol_wait(conn, client, now))
        if wait is not None:
            return wait
        conn.execute(delete(ATT).where(ATT.c.kind == kind, ATT.c.at < now - _KEEP))
        return int(conn.execute(insert(ATT).values(
            kind=kind, at=now, user=user, client=client, failed=True)
            .returning(ATT.c.id)).scalar_one())


def succeeded(engine: Engine, attempt: int) -> None:
    """The attempt's password or code was right: it no longer counts against anyone."""
    with engine.begin() as conn:
        conn.execute(update(ATT).where(ATT.c.id == attempt).values(failed=False))
