"""central store: a role and a compound for each dashboard user (who sees what); users made
before this keep seeing the whole district

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 10:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
# 0003 may come from another branch: when both are merged, this revises '0003'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role', sa.String(length=16), nullable=False,
                                      server_default='district'))
        batch_op.add_column(sa.Column('compound', sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('compound')
        batch_op.drop_column('role')
