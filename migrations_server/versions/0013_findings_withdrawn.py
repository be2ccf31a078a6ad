"""central store: a finding can be withdrawn (``findings.withdrawn_at``, ``withdrawn_why``):
a quota conflict whose outing was undone at the gate no longer stands, and stays on record

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 16:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('findings') as batch:
        batch.add_column(sa.Column('withdrawn_at', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('withdrawn_why', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('findings') as batch:
        batch.drop_column('withdrawn_why')
        batch.drop_column('withdrawn_at')
