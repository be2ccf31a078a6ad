"""residents.initials and an index on gate_events.corrects_event_id.

residents.initials: the pinyin initials of each name (张三明 -> ZSM), indexed, so the gate
finds a person by name from a touchscreen pad; filled at roster import and, for rows
written before this migration, by the first search (kiosk.store.roster.fill_initials)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 11:05:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('initials', sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f('ix_residents_initials'), ['initials'], unique=False)
    # an undo at the gate is a correction event; the quota and the last direction look
    # for corrections of each movement through this index
    op.create_index('ix_gate_events_corrects', 'gate_events', ['corrects_event_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_gate_events_corrects', table_name='gate_events')
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_residents_initials'))
        batch_op.drop_column('initials')
