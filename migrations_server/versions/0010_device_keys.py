"""central store: device_keys, each device's Ed25519 public key and the sequence number
from which its events must be signed by it (docs/SYNC.md, "Signed events")

Devices enrolled before have no row: their events stay verifiable by the hash chain alone
until the kiosk registers its key (trust on first use, audited). No stored event changes.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 13:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'device_keys',
        sa.Column('device_id', sa.String(length=36), nullable=False),
        sa.Column('from_seq', sa.BigInteger(), nullable=False),
        sa.Column('public_key_hex', sa.String(length=64), nullable=False),
        sa.Column('registered_at', sa.DateTime(), nullable=False),
        sa.Column('how', sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint('device_id', 'from_seq', name=op.f('pk_device_keys')),
    )


def downgrade() -> None:
    op.drop_table('device_keys')
