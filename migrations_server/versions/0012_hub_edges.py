"""central store: on a hub, the district's undos passed down to its gates (hub_undone) and
when the district acknowledged each relayed event (relay_outbox.acked_at: kept a short
while, then trimmed); at the district, the events a hub relays for a gate whose key it does
not know yet (held_events)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 16:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('relay_outbox') as batch:
        batch.add_column(sa.Column('acked_at', sa.DateTime(), nullable=True))
    op.create_table(
        'hub_undone',
        sa.Column('event_id', sa.String(length=36), nullable=False),
        sa.Column('compound', sa.String(length=40), nullable=False),
        sa.Column('change_id', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('event_id', name=op.f('pk_hub_undone')),
    )
    op.create_index('ix_hub_undone_compound_change', 'hub_undone',
                    ['compound', 'change_id'], unique=False)
    op.create_table(
        'held_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('device_id', sa.String(length=36), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('record', sa.Text(), nullable=False),
        sa.Column('via', sa.String(length=36), nullable=False),
        sa.Column('received_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_held_events')),
    )
    op.create_index('ix_held_events_device_seq', 'held_events', ['device_id', 'seq'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_held_events_device_seq', table_name='held_events')
    op.drop_table('held_events')
    op.drop_index('ix_hub_undone_compound_change', table_name='hub_undone')
    op.drop_table('hub_undone')
    with op.batch_alter_table('relay_outbox') as batch:
        batch.drop_column('acked_at')
