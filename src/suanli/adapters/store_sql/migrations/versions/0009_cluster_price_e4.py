"""Cluster prices as exact decimals: `clusters.gpu_hour_price` (a float) becomes
`gpu_hour_price_e4`, an integer of 0.0001 CNY, the step every rate is kept in (offers'
reserves, posted prices). Old prices are rounded to the nearest step.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clusters") as batch:
        batch.add_column(sa.Column("gpu_hour_price_e4", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE clusters SET gpu_hour_price_e4 = CAST(ROUND(gpu_hour_price * 10000) AS BIGINT) "
        "WHERE gpu_hour_price IS NOT NULL"
    )
    with op.batch_alter_table("clusters") as batch:
        batch.drop_column("gpu_hour_price")


def downgrade() -> None:
    with op.batch_alter_table("clusters") as batch:
        batch.add_column(sa.Column("gpu_hour_price", sa.Float(), nullable=True))
    op.execute(
        "UPDATE clusters SET gpu_hour_price = gpu_hour_price_e4 / 10000.0 "
        "WHERE gpu_hour_price_e4 IS NOT NULL"
    )
    with op.batch_alter_table("clusters") as batch:
        batch.drop_column("gpu_hour_price_e4")
