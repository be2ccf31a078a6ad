"""gate_events.ix_gate_events_corrects only over the events that correct another

Almost every event corrects none. With the NULLs in the index, ANALYZE's statistics (and
so ``PRAGMA optimize``) say one value of corrects_event_id matches every row, and SQLite
then answers "was this movement undone?" by scanning the whole table: for each event of
the nightly export's day, a scan of every event kept. Indexing only the corrections keeps
the statistics true (a handful of rows, one per value) and the look-up a search.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 19:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index('ix_gate_events_corrects', table_name='gate_events')
    op.create_index('ix_gate_events_corrects', 'gate_events', ['corrects_event_id'],
                    unique=False, sqlite_where=sa.text('corrects_event_id IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_gate_events_corrects', table_name='gate_events')
    op.create_index('ix_gate_events_corrects', 'gate_events', ['corrects_event_id'],
                    unique=False)
