"""Engines and failover: clusters' outages (heartbeat deadlines missed), for reliability.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cluster_outages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("cluster_id", sa.String(length=64), nullable=False),
        sa.Column("began_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_cluster_outages_cluster_id_clusters")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cluster_outages")),
    )
    op.create_index(
        op.f("ix_cluster_outages_cluster_id_began_at"),
        "cluster_outages",
        ["cluster_id", "began_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_cluster_outages_cluster_id_began_at"), table_name="cluster_outages")
    op.drop_table("cluster_outages")
