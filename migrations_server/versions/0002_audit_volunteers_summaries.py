"""central store: audit log (also counts failed sign-ins and enrolments for rate limiting),
kiosks' volunteer names, daily summaries frozen by retention, each device's clock offset

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 07:20:00
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
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('clock_offset_s', sa.Float(), nullable=True))
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('client', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_index(op.f('ix_audit_log_at'), 'audit_log', ['at'], unique=False)
    op.create_index('ix_audit_log_action_client_at', 'audit_log', ['action', 'client', 'at'],
                    unique=False)
    op.create_table('device_volunteers',
    sa.Column('device_id', sa.String(length=36), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('device_id', 'volunteer_id', name=op.f('pk_device_volunteers'))
    )
    op.create_table('daily_summaries',
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('checkpoint', sa.String(length=40), nullable=False),
    sa.Column('counts', sa.Text(), nullable=False),
    sa.Column('frozen_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('local_date', 'checkpoint', name=op.f('pk_daily_summaries'))
    )


def downgrade() -> None:
    op.drop_table('daily_summaries')
    op.drop_table('device_volunteers')
    op.drop_index('ix_audit_log_action_client_at', table_name='audit_log')
    op.drop_index(op.f('ix_audit_log_at'), table_name='audit_log')
    op.drop_table('audit_log')
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_column('clock_offset_s')
