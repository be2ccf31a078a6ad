"""central store: fever cases (every confirmed fever followed to the end) and their
follow-up steps; an index for the confirmed fevers of the last days

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 11:00:00
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
    op.create_table(
        'fever_cases',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.String(length=36), nullable=False),
        sa.Column('local_date', sa.Date(), nullable=False),
        sa.Column('compound', sa.String(length=40), nullable=False),
        sa.Column('checkpoint', sa.String(length=40), nullable=False),
        sa.Column('pass_number', sa.String(length=40), nullable=True),
        sa.Column('household', sa.String(length=40), nullable=True),
        sa.Column('opened_utc', sa.DateTime(), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('closed_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_fever_cases')),
        sa.UniqueConstraint('event_id', name=op.f('uq_fever_cases_event_id')),
    )
    op.create_index('ix_fever_cases_compound_closed', 'fever_cases', ['compound', 'closed_at'],
                    unique=False)
    op.create_table(
        'fever_case_steps',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('step', sa.String(length=20), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('by', sa.String(length=100), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_fever_case_steps')),
    )
    op.create_index(op.f('ix_fever_case_steps_case_id'), 'fever_case_steps', ['case_id'],
                    unique=False)
    # on PostgreSQL made on the partitioned table: every day's partition gets it
    op.create_index('ix_events_escalated_day', 'events', ['escalated', 'local_date'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_events_escalated_day', table_name='events')
    op.drop_index(op.f('ix_fever_case_steps_case_id'), table_name='fever_case_steps')
    op.drop_table('fever_case_steps')
    op.drop_index('ix_fever_cases_compound_closed', table_name='fever_cases')
    op.drop_table('fever_cases')
