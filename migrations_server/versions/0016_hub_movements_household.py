"""central store: an index on ``hub_movements`` by household and day, for a hub's quota check,
which now counts the compound's movements the district passed down beside its own events
(kiosk.server.conflicts.spent_exits): without it every batch with an exit scanned them all,
and a hub keeps them for as long as it runs

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 18:30:00
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_hub_movements_household', 'hub_movements',
                    ['compound', 'household', 'local_date'])


def downgrade() -> None:
    op.drop_index('ix_hub_movements_household', table_name='hub_movements')
