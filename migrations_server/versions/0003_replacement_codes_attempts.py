"""central store: replacement enrolment codes (only they re-bind an enrolled device id) and
the attempts table that counts sign-in and enrolment guesses before they are checked

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 10:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('enrolment_codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('replaces', sa.String(length=36), nullable=True))
    op.create_table('attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('user', sa.String(length=100), nullable=False),
    sa.Column('client', sa.String(length=64), nullable=False),
    sa.Column('failed', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attempts'))
    )
    op.create_index('ix_attempts_kind_at', 'attempts', ['kind', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_attempts_kind_at', table_name='attempts')
    op.drop_table('attempts')
    with op.batch_alter_table('enrolment_codes', schema=None) as batch_op:
        batch_op.drop_column('replaces')
