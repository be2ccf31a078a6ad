"""central store: compound hubs (a device role, hub enrolment codes) and, on a hub, the relay
outbox, the district's movements of the compound and the link's state

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 13:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('devices') as batch:
        batch.add_column(sa.Column('role', sa.String(length=8), server_default='kiosk',
                                   nullable=False))
        batch.add_column(sa.Column('via_hub', sa.String(length=36), nullable=True))
    with op.batch_alter_table('enrolment_codes') as batch:
        batch.add_column(sa.Column('role', sa.String(length=8), server_default='kiosk',
                                   nullable=False))
    op.create_table(
        'relay_outbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('device_id', sa.String(length=36), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('event_id', sa.String(length=36), nullable=False),
        sa.Column('record', sa.Text(), nullable=False),
        sa.Column('queued_at', sa.DateTime(), nullable=False),
        sa.Column('quarantined', sa.Boolean(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_relay_outbox')),
        sa.UniqueConstraint('event_id', name=op.f('uq_relay_outbox_event_id')),
    )
    op.create_index('ix_relay_outbox_quarantined_id', 'relay_outbox', ['quarantined', 'id'],
                    unique=False)
    op.create_table(
        'hub_movements',
        sa.Column('event_id', sa.String(length=36), nullable=False),
        sa.Column('device_id', sa.String(length=36), nullable=False),
        sa.Column('checkpoint', sa.String(length=40), nullable=False),
        sa.Column('compound', sa.String(length=40), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('pass_number', sa.String(length=40), nullable=False),
        sa.Column('household', sa.String(length=40), nullable=True),
        sa.Column('direction', sa.String(length=3), nullable=False),
        sa.Column('local_date', sa.Date(), nullable=False),
        sa.Column('wall_utc', sa.DateTime(), nullable=False),
        sa.Column('counts_against_quota', sa.Boolean(), nullable=False),
        sa.Column('change_id', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('event_id', name=op.f('pk_hub_movements')),
    )
    op.create_index('ix_hub_movements_compound_change', 'hub_movements',
                    ['compound', 'change_id'], unique=False)
    op.create_table(
        'hub_state',
        sa.Column('key', sa.String(length=60), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_hub_state')),
    )


def downgrade() -> None:
    op.drop_table('hub_state')
    op.drop_index('ix_hub_movements_compound_change', table_name='hub_movements')
    op.drop_table('hub_movements')
    op.drop_index('ix_relay_outbox_quarantined_id', table_name='relay_outbox')
    op.drop_table('relay_outbox')
    with op.batch_alter_table('enrolment_codes') as batch:
        batch.drop_column('role')
    with op.batch_alter_table('devices') as batch:
        batch.drop_column('via_hub')
        batch.drop_column('role')
