"""central store: a fever case's step can come from a gate event (the gate's acknowledgement,
who was called and when): the event's id, unique, so a re-sent event adds no second step

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 13:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('fever_case_steps', sa.Column('event_id', sa.String(length=36), nullable=True))
    op.create_index('ux_fever_case_steps_event_id', 'fever_case_steps', ['event_id'],
                    unique=True)


def downgrade() -> None:
    op.drop_index('ux_fever_case_steps_event_id', table_name='fever_case_steps')
    with op.batch_alter_table('fever_case_steps') as batch:
        batch.drop_column('event_id')
