"""gate_events.signature: the kiosk's Ed25519 signature of each event's hash.

NULL on the events recorded before (they stay verifiable by the hash chain); every event
recorded once the kiosk has its key (<data dir>/device.key) carries one. Not part of the
hashed bytes, so no stored hash changes. A plain ADD COLUMN (and DROP COLUMN back): the
table is not rebuilt, so its append-only triggers stay; one more trigger keeps a signature,
once written, from being changed.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 13:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('gate_events', sa.Column('signature', sa.String(length=128), nullable=True))
    op.execute(
        "CREATE TRIGGER gate_events_signature_no_update BEFORE UPDATE OF signature ON "
        "gate_events WHEN NEW.signature IS NOT OLD.signature "
        "BEGIN SELECT RAISE(ABORT, 'gate_events are append-only'); END"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS gate_events_signature_no_update")
    op.drop_column('gate_events', 'signature')
