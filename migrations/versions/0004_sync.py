"""sync: allowed movements downloaded from the other gates of the compound (quota and
direction count them); the outbox, sync state (meta) and quarantine already exist

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-29 05:30:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('remote_movements',
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('device_id', sa.String(length=36), nullable=False),
    sa.Column('checkpoint', sa.String(length=40), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('pass_number', sa.String(length=40), nullable=False),
    sa.Column('household', sa.String(length=40), nullable=True),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('wall_utc', sa.DateTime(), nullable=False),
    sa.Column('counts_against_quota', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_remote_movements'))
    )
    op.create_index('ix_remote_movements_household_day', 'remote_movements',
                    ['household', 'local_date'], unique=False)
    op.create_index('ix_remote_movements_pass_wall', 'remote_movements',
                    ['pass_number', 'wall_utc'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_remote_movements_pass_wall', table_name='remote_movements')
    op.drop_index('ix_remote_movements_household_day', table_name='remote_movements')
    op.drop_table('remote_movements')
