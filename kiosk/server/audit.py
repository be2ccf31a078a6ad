"""The central store's audit trail: who signed in (or failed to), looked at the dashboard,
exported, published, enrolled a kiosk or purged, when, from where, and what.

The same functions as the kiosk's trail (kiosk.store.audit) on the server's own table, which
also keeps the client's address: failed sign-ins and enrolments are counted from it to slow
down guessing (kiosk.server.ratelimit). Rows are only ever added; ``detail`` names what was
touched without copying personal data into the log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select
from starlette.requests import Request

from kiosk.server.clock import utc_now
from kiosk.server.models import ServerAuditRow
from kiosk.store import audit as kiosk_audit
from kiosk.store.audit import AuditEntry, cli_actor
from kiosk.store.models import table_of

AUD = table_of(ServerAuditRow)

SIGN_IN, SIGN_IN_FAILED, SIGN_OUT = "sign_in", "sign_in_failed", "sign_out"
VIEW = "view_dashboard"
ENROL_CODE, ENROL, ENROL_FAILED = "enrol_code", "enrol", "enrol_failed"
EXPORT, EXPORT_UNMASKED = kiosk_audit.EXPORT, kiosk_audit.EXPORT_UNMASKED
PUBLISH, ADD_USER, PURGE, VERIFY = "publish", "add_user", "purge", "verify"

__all__ = ["AuditEntry", "cli_actor", "client_of", "entries", "failures", "record", "record_in"]


def client_of(request: Request) -> str:
    """The caller's address: the connection's, or X-Forwarded-For's when the connection
    comes from a proxy named with ``kiosk serve --trusted-proxy`` (uvicorn; docs/SYNC.md)."""
    return request.client.host if request.client else ""


def record_in(conn: Connection, actor: str, action: str, detail: str | dict[str, Any] = "",
              client: str = "", at: datetime | None = None) -> None:
    """Add a row inside the caller's transaction (the act and its record commit together);
    ``at`` is naive UTC, now by default (kiosk.server.clock)."""
    kiosk_audit.record_in(conn, actor, action, detail, at or utc_now(), table=AUD,
                          client=client[:64])


def record(engine: Engine, actor: str, action: str, detail: str | dict[str, Any] = "",
           client: str = "", at: datetime | None = None) -> None:
    kiosk_audit.record(engine, actor, action, detail, at or utc_now(), table=AUD,
                       client=client[:64])


def entries(engine: Engine, *, action: str | None = None, since: datetime | None = None,
            limit: int = 100) -> list[AuditEntry]:
    """Newest first; ``at`` (and ``since``) in naive UTC."""
    return kiosk_audit.entries(engine, action=action, since=since, limit=limit, table=AUD)


def failures(conn: Connection, action: str, since: datetime, *, client: str | None = None,
             actor: str | None = None) -> list[datetime]:
    """When ``action`` was logged since ``since`` from ``client`` and/or by ``actor``, oldest
    first (what the rate limit counts)."""
    stmt = select(AUD.c.at).where(AUD.c.action == action, AUD.c.at >= since)
    if client is not None:
        stmt = stmt.where(AUD.c.client == client[:64])
    if actor is not None:
        stmt = stmt.where(AUD.c.actor == actor[:100])
    return list(conn.execute(stmt.order_by(AUD.c.at)).scalars())
