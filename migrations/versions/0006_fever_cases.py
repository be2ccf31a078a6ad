"""fever_cases: what the district command did about this gate's confirmed fevers (the
``cases`` of /changes: state and when it changed, by the fever's event id), so the team
leader sees at the gate that a case was taken over

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 13:10:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'fever_cases',
        sa.Column('event_id', sa.String(length=36), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('event_id', name=op.f('pk_fever_cases')),
    )


def downgrade() -> None:
    op.drop_table('fever_cases')
