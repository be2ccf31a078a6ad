"""central store: counts kept by ingest for the dashboard (gate_days, gate_hours), each
pass's last movement (who is out), and the events undone by a correction, filled from the
events already stored; the data age and rule set each kiosk reports; the command's signed rule sets

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 13:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'gate_days',
        sa.Column('local_date', sa.Date(), nullable=False),
        sa.Column('compound', sa.String(length=40), nullable=False),
        sa.Column('checkpoint', sa.String(length=40), nullable=False),
        sa.Column('reason', sa.String(length=20), nullable=False),
        sa.Column('moves_in', sa.Integer(), nullable=False),
        sa.Column('moves_out', sa.Integer(), nullable=False),
        sa.Column('denials', sa.Integer(), nullable=False),
        sa.Column('fevers', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('local_date', 'compound', 'checkpoint', 'reason',
                                name=op.f('pk_gate_days')),
    )
    op.create_table(
        'gate_hours',
        sa.Column('local_date', sa.Date(), nullable=False),
        sa.Column('compound', sa.String(length=40), nullable=False),
        sa.Column('checkpoint', sa.String(length=40), nullable=False),
        sa.Column('hour', sa.Integer(), nullable=False),
        sa.Column('moves_in', sa.Integer(), nullable=False),
        sa.Column('moves_out', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('local_date', 'compound', 'checkpoint', 'hour',
                                name=op.f('pk_gate_hours')),
    )
    op.create_table(
        'last_movements',
        sa.Column('compound', sa.String(length=40), nullable=False),
        sa.Column('pass_number', sa.String(length=40), nullable=False),
        sa.Column('household', sa.String(length=40), nullable=True),
        sa.Column('checkpoint', sa.String(length=40), nullable=False),
        sa.Column('direction', sa.String(length=3), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('change_id', sa.BigInteger(), nullable=False),
        sa.Column('local_date', sa.Date(), nullable=False),
        sa.Column('event_id', sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint('compound', 'pass_number', name=op.f('pk_last_movements')),
    )
    op.create_index('ix_last_movements_direction_at', 'last_movements',
                    ['direction', 'at'], unique=False)
    op.create_index('ix_last_movements_compound_direction_at', 'last_movements',
                    ['compound', 'direction', 'at'], unique=False)
    op.create_table(
        'out_counts',
        sa.Column('compound', sa.String(length=40), nullable=False),
        sa.Column('local_date', sa.Date(), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('compound', 'local_date', name=op.f('pk_out_counts')),
    )
    op.create_table(
        'undone_events',
        sa.Column('event_id', sa.String(length=36), nullable=False),
        sa.Column('local_date', sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint('event_id', name=op.f('pk_undone_events')),
    )
    # what each kiosk reports with its requests: data age (X-Kiosk-Data-Age), rule set
    with op.batch_alter_table('devices') as batch:
        batch.add_column(sa.Column('data_as_of', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('data_reported', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column('rules_version', sa.Integer(), nullable=True))
    # versioned rule sets the command publishes, signed
    op.create_table(
        'rule_sets',
        sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('effective_utc', sa.DateTime(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('key_id', sa.String(length=16), nullable=False),
        sa.Column('signature', sa.String(length=100), nullable=False),
        sa.Column('published_at', sa.DateTime(), nullable=False),
        sa.Column('published_by', sa.String(length=100), nullable=False),
        sa.Column('change_id', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('version', name=op.f('pk_rule_sets')),
    )
    op.create_index(op.f('ix_rule_sets_change_id'), 'rule_sets', ['change_id'], unique=False)
    # the events stored so far, counted as ingest counts from now on (the one definition)
    from kiosk.server import tallies
    tallies.rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_index(op.f('ix_rule_sets_change_id'), table_name='rule_sets')
    op.drop_table('rule_sets')
    with op.batch_alter_table('devices') as batch:
        batch.drop_column('rules_version')
        batch.drop_column('data_reported')
        batch.drop_column('data_as_of')
    op.drop_table('undone_events')
    op.drop_table('out_counts')
    op.drop_index('ix_last_movements_compound_direction_at', table_name='last_movements')
    op.drop_index('ix_last_movements_direction_at', table_name='last_movements')
    op.drop_table('last_movements')
    op.drop_table('gate_hours')
    op.drop_table('gate_days')
