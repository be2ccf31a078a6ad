"""central store: events keep the movement a correction undoes (``corrects_event_id``,
indexed), so counts, quotas and "who is out" skip a movement undone at the gate

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 13:00:00
"""
from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('events', sa.Column('corrects_event_id', sa.String(length=36),
                                      nullable=True))
    # on PostgreSQL made on the partitioned table: every day's partition gets it
    op.create_index('ix_events_corrects', 'events', ['corrects_event_id'], unique=False)
    # corrections stored before: the id is in the kiosk's record (few rows: undos only)
    conn = op.get_bind()
    events = sa.table('events', sa.column('local_date', sa.Date()),
                      sa.column('id', sa.String()), sa.column('outcome', sa.String()),
                      sa.column('record', sa.Text()),
                      sa.column('corrects_event_id', sa.String()))
    rows = conn.execute(sa.select(events.c.local_date, events.c.id, events.c.record)
                        .where(events.c.outcome == 'undo')).all()
    for day, event_id, record in rows:
        corrects = json.loads(record).get('corrects_event_id')
        if corrects:
            conn.execute(events.update().where(events.c.local_date == day,
                                               events.c.id == event_id)
                         .values(corrects_event_id=corrects))


def downgrade() -> None:
    op.drop_index('ix_events_corrects', table_name='events')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('corrects_event_id')
