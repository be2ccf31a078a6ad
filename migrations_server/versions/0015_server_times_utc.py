"""central store: every time it takes of itself in naive UTC (kiosk.server.clock), as the
events' and the gates' times (0007, 0014): the audit log, sign-in attempts, sessions, users,
enrolment codes, devices' enrolment, device keys, revocations, rule sets published here,
fever cases and their steps, and on a hub the relay's acknowledgements, held events and
its link's times (``hub_state``). They were the server's local time, so a server whose
zone is not UTC mixed two clocks (a case closed "before" the fever that opened it,
sessions expiring hours off).

Rows written before are moved from the local time of the machine that runs this migration
(the server's, which wrote them), one UTC offset per stretch of local hours, in one UPDATE
per column: nothing to do on a server kept in UTC. Rule sets a hub took from the district
(``published_by`` 'district') were already UTC and stay. (0014's way; the code is repeated
here so each migration stands alone.)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 18:00:00
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, column, extra condition): the columns the store wrote with datetime.now()
_COLUMNS = (
    ('audit_log', 'at', ''), ('attempts', 'at', ''), ('sessions', 'expires_at', ''),
    ('users', 'created_at', ''), ('enrolment_codes', 'created_at', ''),
    ('enrolment_codes', 'expires_at', ''), ('enrolment_codes', 'used_at', ''),
    ('devices', 'enrolled_at', ''), ('device_keys', 'registered_at', ''),
    ('revocations', 'revoked_at', ''),
    ('rule_sets', 'published_at', "published_by <> 'district'"),
    ('fever_cases', 'updated_at', ''), ('fever_cases', 'closed_at', ''),
    ('fever_case_steps', 'at', ''), ('relay_outbox', 'acked_at', ''),
    ('held_events', 'received_at', ''),
)
#: the hub's link times, ISO text in ``hub_state``
_HUB_STATE = ('uplink.last_success', 'uplink.last_attempt', 'uplink.last_error_at',
              'uplink.clock_at')


def _as_datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _offset(t: datetime) -> int:
    offset = t.astimezone().utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _stretches(first: datetime, last: datetime) -> list[list[Any]]:
    """[start, end, offset seconds] of naive local time, hour by hour, merged."""
    out: list[list[Any]] = []
    t = first.replace(minute=0, second=0, microsecond=0)
    while t <= last:
        seconds = _offset(t)
        if out and out[-1][2] == seconds and out[-1][1] == t:
            out[-1][1] = t + timedelta(hours=1)
        else:
            out.append([t, t + timedelta(hours=1), seconds])
        t += timedelta(hours=1)
    return out


def _shift(conn: sa.Connection, column: str, seconds: int) -> str:
    if conn.dialect.name == 'postgresql':
        return f"{column} - interval '{seconds} seconds'"
    # SQLAlchemy keeps SQLite datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff'
    return f"strftime('%Y-%m-%d %H:%M:%f', {column}, '{-seconds} seconds') || '000'"


def _move(sign: int) -> None:
    conn = op.get_bind()
    for table, column, only in _COLUMNS:
        where = f' WHERE {only}' if only else ''
        first, last = conn.execute(sa.text(
            f'SELECT min({column}), max({column}) FROM {table}{where}')).one()
        if first is None:
            continue
        stretches = [s for s in _stretches(_as_datetime(first), _as_datetime(last)) if s[2]]
        if not stretches:
            continue
        params: dict[str, Any] = {}
        cases = []
        for i, (start, end, seconds) in enumerate(stretches):
            params[f's{i}'], params[f'e{i}'] = start, end
            cases.append(f'WHEN {column} >= :s{i} AND {column} < :e{i} '
                         f'THEN {_shift(conn, column, sign * seconds)}')
        conn.execute(sa.text(
            f"UPDATE {table} SET {column} = CASE {' '.join(cases)} ELSE {column} END{where}"
        ).bindparams(*(sa.bindparam(k, type_=sa.DateTime()) for k in params)), params)
    for key, value in conn.execute(sa.text(
            'SELECT key, value FROM hub_state WHERE key IN '
            '(:a, :b, :c, :d)'), dict(zip('abcd', _HUB_STATE, strict=True))).all():
        try:
            t = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            continue
        if t.tzinfo is not None:
            continue
        moved = t - sign * timedelta(seconds=_offset(t))
        conn.execute(sa.text('UPDATE hub_state SET value = :v WHERE key = :k'),
                     {'v': moved.isoformat(timespec='seconds'), 'k': key})


def upgrade() -> None:
    _move(+1)


def downgrade() -> None:
    # back to local time (the stretches are looked up on the UTC values: exact for a zone
    # without daylight saving time, within an hour around its changes otherwise)
    _move(-1)
