"""kiosk: every time the kiosk takes of itself in naive UTC (kiosk.store.lite.utc_now), as
the events' ``wall_utc``; audit_log.utc_offset_min: the kiosk's UTC offset when the row was
written, as the events keep theirs

The audit log, the export runs, the frozen daily counts, office keys, revocations, rule sets
received and the roster's ``updated_at`` were the kiosk's local time. A kiosk whose zone was
changed (a Pi set up in UTC, then set to Asia/Shanghai) or that crossed a daylight saving
change then had an audit trail whose order and times disagreed with its events.

Rows written before are moved from the local time of the machine that runs this migration
(the kiosk's, which wrote them), one UTC offset per stretch of local hours, in one UPDATE per
column; audit rows keep the offset they were moved by in ``utc_offset_min``, so they are
shown at the same local time as before. This is exact for rows written on this machine in
its present zone, except the hour a daylight saving change repeats (an autumn night's
01:00-02:00 happens twice; such rows are taken as the first, summer-time, hour: they may be
one hour early) and rows written before the zone itself was changed (e.g. while the Pi was
still in UTC: they move by the new zone's offset too). Nothing to do on a kiosk kept in UTC.
Shifts and sign-in locks were UTC already; fever_cases keep the central store's time.

The downgrade puts the audit log back exactly (UTC + its offset) and the other columns by
the zone's offset at each UTC hour.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 20:30:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, column): the columns the kiosk wrote with its local time (datetime.now())
_COLUMNS = (
    ('audit_log', 'at'), ('export_runs', 'finished_at'), ('daily_summaries', 'frozen_at'),
    ('pass_keys', 'added_at'), ('revocations', 'revoked_at'), ('rule_sets', 'received_at'),
    ('residents', 'updated_at'), ('passes', 'updated_at'),
)


def _text(t: datetime) -> str:
    # SQLAlchemy keeps SQLite datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' (compared as text)
    return t.isoformat(' ', 'microseconds')


def _offset_of_local(t: datetime) -> int:
    """Seconds east of UTC of a naive local time, in this machine's zone."""
    offset = t.astimezone().utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _offset_of_utc(t: datetime) -> int:
    offset = t.replace(tzinfo=UTC).astimezone().utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _stretches(first: datetime, last: datetime, from_utc: bool) -> list[list[Any]]:
    """[start, end, offset seconds] hour by hour from ``first`` to ``last``, merged."""
    out: list[list[Any]] = []
    t = first.replace(minute=0, second=0, microsecond=0)
    while t <= last:
        seconds = _offset_of_utc(t) if from_utc else _offset_of_local(t)
        if out and out[-1][2] == seconds and out[-1][1] == t:
            out[-1][1] = t + timedelta(hours=1)
        else:
            out.append([t, t + timedelta(hours=1), seconds])
        t += timedelta(hours=1)
    return out


def _shifted(column: str, modifier: str) -> str:
    """``column`` moved by a strftime modifier, its fraction of a second kept as it was."""
    return f"strftime('%Y-%m-%d %H:%M:%S', {column}, {modifier}) || substr({column}, 20)"


def _move(conn: sa.Connection, table: str, column: str, sign: int,
          offsets: str | None = None) -> None:
    """Local to UTC (sign +1) or back (-1); ``offsets``: the column that keeps each row's
    offset in minutes (filled on the way to UTC)."""
    first, last = conn.execute(sa.text(f'SELECT min({column}), max({column}) FROM {table}')
                               ).one()
    if first is None:
        return
    stretches = [s for s in _stretches(datetime.fromisoformat(first),
                                       datetime.fromisoformat(last), sign < 0) if s[2]]
    if not stretches:
        return
    params: dict[str, Any] = {}
    moved, minutes = [], []
    for i, (start, end, seconds) in enumerate(stretches):
        params[f's{i}'], params[f'e{i}'] = _text(start), _text(end)
        when = f'WHEN {column} >= :s{i} AND {column} < :e{i}'
        moved.append(f"{when} THEN {_shifted(column, repr(f'{-sign * seconds} seconds'))}")
        minutes.append(f'{when} THEN {seconds // 60}')
    sets = f"{column} = CASE {' '.join(moved)} ELSE {column} END"
    if offsets is not None:
        sets += f", {offsets} = CASE {' '.join(minutes)} ELSE {offsets} END"
    conn.execute(sa.text(f'UPDATE {table} SET {sets}'), params)


def upgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('utc_offset_min', sa.Integer(), nullable=False,
                                      server_default='0'))
    conn = op.get_bind()
    for table, column in _COLUMNS:
        _move(conn, table, column, +1, 'utc_offset_min' if table == 'audit_log' else None)


def downgrade() -> None:
    conn = op.get_bind()
    back = _shifted('at', "utc_offset_min || ' minutes'")
    conn.execute(sa.text(f'UPDATE audit_log SET at = {back} WHERE utc_offset_min <> 0'))
    for table, column in _COLUMNS:
        if table != 'audit_log':
            _move(conn, table, column, -1)
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_column('utc_offset_min')
