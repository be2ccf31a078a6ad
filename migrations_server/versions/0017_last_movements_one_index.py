"""central store: one index on last_movements besides its key, on the passes that are out

Every movement ingest counts rewrites its pass's row of last_movements, and the row's new
version goes into every index of the table: the key and two on (direction, at) and
(compound, direction, at), which overlap. The dashboard reads the table only for "who is
out" (direction out, ordered by when; a compound or gate filters the same walk), so one
partial index on (at, pass_number) of the rows whose direction is out replaces both: a
movement in writes the key alone, a movement out the key and this index.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 18:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OUT = sa.text("direction = 'out'")


def upgrade() -> None:
    op.drop_index('ix_last_movements_compound_direction_at', table_name='last_movements')
    op.drop_index('ix_last_movements_direction_at', table_name='last_movements')
    op.create_index('ix_last_movements_out_at', 'last_movements', ['at', 'pass_number'],
                    unique=False, postgresql_where=_OUT, sqlite_where=_OUT)


def downgrade() -> None:
    op.drop_index('ix_last_movements_out_at', table_name='last_movements')
    op.create_index('ix_last_movements_direction_at', 'last_movements', ['direction', 'at'],
                    unique=False)
    op.create_index('ix_last_movements_compound_direction_at', 'last_movements',
                    ['compound', 'direction', 'at'], unique=False)
