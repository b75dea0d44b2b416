"""Time series of the pool and the queue for the dashboard: `pool_samples` and
`queue_samples`, sampled once a minute, raw rows kept 4 days and 10-minute rollups (sums
and a count) 30 days.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ID = 64


def upgrade() -> None:
    op.create_table(
        "pool_samples",
        sa.Column("resolution_s", sa.Integer, primary_key=True),
        sa.Column("at_s", sa.BigInteger, primary_key=True),
        sa.Column("region_id", sa.String(ID), primary_key=True),
        sa.Column("resource", sa.String(80), primary_key=True),
        sa.Column("total", sa.Float, nullable=False),
        sa.Column("used", sa.Float, nullable=False),
        sa.Column("samples", sa.Integer, nullable=False),
    )
    op.create_table(
        "queue_samples",
        sa.Column("resolution_s", sa.Integer, primary_key=True),
        sa.Column("at_s", sa.BigInteger, primary_key=True),
        sa.Column("pending", sa.BigInteger, nullable=False),
        sa.Column("running", sa.BigInteger, nullable=False),
        sa.Column("samples", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("queue_samples")
    op.drop_table("pool_samples")
