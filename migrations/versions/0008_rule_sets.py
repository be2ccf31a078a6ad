"""rule_sets: the command's signed, numbered rule sets (kiosk.core.rules);
gate_events.rules_version: the version each decision was made with

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 13:00:00.000000
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
    op.create_table(
        'rule_sets',
        sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('effective_utc', sa.DateTime(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('key_id', sa.String(length=16), nullable=False),
        sa.Column('signature', sa.String(length=100), nullable=False),
        sa.Column('received_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('version', name=op.f('pk_rule_sets')),
    )
    with op.batch_alter_table('gate_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rules_version', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('gate_events', schema=None) as batch_op:
        batch_op.drop_column('rules_version')
    op.drop_table('rule_sets')
