"""export and retention: daily counts frozen before personal fields are wiped, and an
index that reads one day's events in file order

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 21:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('daily_summaries',
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('checkpoint', sa.String(length=40), nullable=False),
    sa.Column('counts', sa.Text(), nullable=False),
    sa.Column('frozen_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('local_date', 'checkpoint', name=op.f('pk_daily_summaries'))
    )
    # plain CREATE INDEX, not a batch (a batch could re-create gate_events and lose the
    # append-only triggers of 0001)
    op.create_index('ix_gate_events_day_order', 'gate_events',
                    ['local_date', 'checkpoint', 'device_id', 'seq'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_gate_events_day_order', table_name='gate_events')
    op.drop_table('daily_summaries')
