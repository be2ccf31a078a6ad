"""central store: devices and enrolment codes, gate events (partitioned by day on
PostgreSQL, a plain table on SQLite), findings, change counters, what the command publishes
(roster, revocations, pass keys, policy) and dashboard users

Revision ID: 0001
Revises: 
Create Date: 2026-11-29 05:15:25.709601
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('counters',
    sa.Column('scope', sa.String(length=60), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('scope', name=op.f('pk_counters'))
    )
    op.create_table('devices',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('checkpoint', sa.String(length=40), nullable=False),
    sa.Column('compound', sa.String(length=40), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('enrolled_at', sa.DateTime(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('last_contact', sa.DateTime(), nullable=True),
    sa.Column('pending', sa.Integer(), nullable=False),
    sa.Column('quarantined', sa.Integer(), nullable=False),
    sa.Column('last_seq', sa.BigInteger(), nullable=False),
    sa.Column('gaps', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_devices')),
    sa.UniqueConstraint('secret_hash', name=op.f('uq_devices_secret_hash'))
    )
    op.create_table('enrolment_codes',
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('checkpoint', sa.String(length=40), nullable=False),
    sa.Column('compound', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.Column('device_id', sa.String(length=36), nullable=True),
    sa.PrimaryKeyConstraint('code_hash', name=op.f('pk_enrolment_codes'))
    )
    op.create_table('events',
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('device_id', sa.String(length=36), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('wall_utc', sa.DateTime(), nullable=False),
    sa.Column('checkpoint', sa.String(length=40), nullable=False),
    sa.Column('compound', sa.String(length=40), nullable=False),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('pass_number', sa.String(length=40), nullable=True),
    sa.Column('household', sa.String(length=40), nullable=True),
    sa.Column('outcome', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('counts_against_quota', sa.Boolean(), nullable=False),
    sa.Column('escalated', sa.Boolean(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('record', sa.Text(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('change_id', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('local_date', 'id', name=op.f('pk_events')),
    # one partition a day, made on demand by kiosk.server.db.Partitions; ignored by SQLite
    postgresql_partition_by='RANGE (local_date)',
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_compound_change', ['compound', 'change_id'], unique=False)
        batch_op.create_index('ix_events_device_seq', ['device_id', 'seq'], unique=False)
        batch_op.create_index('ix_events_household_day', ['household', 'local_date'], unique=False)

    op.create_table('findings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('device_id', sa.String(length=36), nullable=False),
    sa.Column('checkpoint', sa.String(length=40), nullable=False),
    sa.Column('compound', sa.String(length=40), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=True),
    sa.Column('event_id', sa.String(length=36), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_findings'))
    )
    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_findings_at'), ['at'], unique=False)

    op.create_table('pass_keys',
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('public_key_hex', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('change_id', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('key_id', name=op.f('pk_pass_keys'))
    )
    with op.batch_alter_table('pass_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pass_keys_change_id'), ['change_id'], unique=False)

    op.create_table('policy',
    sa.Column('key', sa.String(length=60), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.Column('change_id', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_policy'))
    )
    with op.batch_alter_table('policy', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_policy_change_id'), ['change_id'], unique=False)

    op.create_table('revocations',
    sa.Column('pass_number', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=False),
    sa.Column('change_id', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('pass_number', name=op.f('pk_revocations'))
    )
    with op.batch_alter_table('revocations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_revocations_change_id'), ['change_id'], unique=False)

    op.create_table('roster',
    sa.Column('pass_number', sa.String(length=40), nullable=False),
    sa.Column('compound', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('building', sa.String(length=20), nullable=False),
    sa.Column('unit', sa.String(length=20), nullable=False),
    sa.Column('room', sa.String(length=20), nullable=False),
    sa.Column('household', sa.String(length=40), nullable=False),
    sa.Column('phone', sa.String(length=30), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=False),
    sa.Column('change_id', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('pass_number', name=op.f('pk_roster'))
    )
    with op.batch_alter_table('roster', schema=None) as batch_op:
        batch_op.create_index('ix_roster_compound_change', ['compound', 'change_id'], unique=False)

    op.create_table('sessions',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user', sa.String(length=100), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_sessions'))
    )
    op.create_table('users',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_users'))
    )


    op.create_table('volunteers',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('compound', sa.String(length=40), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('pin_hash', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('change_id', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', 'compound', name=op.f('pk_volunteers'))
    )
    op.create_index('ix_volunteers_compound_change', 'volunteers', ['compound', 'change_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_volunteers_compound_change', table_name='volunteers')
    op.drop_table('volunteers')
    op.drop_table('users')
    op.drop_table('sessions')
    with op.batch_alter_table('roster', schema=None) as batch_op:
        batch_op.drop_index('ix_roster_compound_change')

    op.drop_table('roster')
    with op.batch_alter_table('revocations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_revocations_change_id'))

    op.drop_table('revocations')
    with op.batch_alter_table('policy', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_policy_change_id'))

    op.drop_table('policy')
    with op.batch_alter_table('pass_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pass_keys_change_id'))

    op.drop_table('pass_keys')
    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_findings_at'))

    op.drop_table('findings')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_household_day')
        batch_op.drop_index('ix_events_device_seq')
        batch_op.drop_index('ix_events_compound_change')

    op.drop_table('events')
    op.drop_table('enrolment_codes')
    op.drop_table('devices')
    op.drop_table('counters')
