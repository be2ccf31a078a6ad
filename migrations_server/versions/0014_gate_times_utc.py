"""central store: the times it keeps of the gates in naive UTC, as the events' times
(``devices.last_contact`` and ``data_as_of``, ``findings.at``): they were the server's local
time, and the dashboard showed them as such beside UTC times shown in the command's zone

Rows written before are moved from the local time of the machine that runs this migration
(the server's, which wrote them), one UTC offset per stretch of local hours, in one UPDATE
per column: nothing to do on a server kept in UTC. (0007's way, for ``received_at``; the
code is repeated here so each migration stands alone.)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 16:30:00
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (('devices', 'last_contact'), ('devices', 'data_as_of'), ('findings', 'at'))


def _as_datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _stretches(first: datetime, last: datetime) -> list[list[Any]]:
    """[start, end, offset seconds] of naive local time, hour by hour, merged."""
    out: list[list[Any]] = []
    t = first.replace(minute=0, second=0, microsecond=0)
    while t <= last:
        offset = t.astimezone().utcoffset()
        seconds = int(offset.total_seconds()) if offset is not None else 0
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
    for table, column in _COLUMNS:
        first, last = conn.execute(sa.text(
            f'SELECT min({column}), max({column}) FROM {table}')).one()
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
            f"UPDATE {table} SET {column} = CASE {' '.join(cases)} ELSE {column} END"
        ).bindparams(*(sa.bindparam(k, type_=sa.DateTime()) for k in params)), params)


def upgrade() -> None:
    _move(+1)


def downgrade() -> None:
    # back to local time (the stretches are looked up on the UTC values: exact for a zone
    # without daylight saving time, within an hour around its changes otherwise)
    _move(-1)
